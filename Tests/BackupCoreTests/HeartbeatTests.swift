import BackupCore
import Foundation
import Testing

/// Heartbeat pings (issue 15, part 3): real backups through `BackupRunner`, pinging a real HTTP server on
/// loopback that records every request line. Backoff waits are recorded, not slept; the one wait on the
/// wall clock is a configured 1 s timeout (the shortest Foundation honours) against a server that never answers.
@Suite("Heartbeat pings")
struct HeartbeatTests {
    /// A store with a database and a data directory whose settings point the heartbeats at `server`.
    struct Setup {
        let dir = TemporaryDirectory("heartbeat")
        let database: URL
        let server: PingTestServer
        let sleeps = SleepRecorder()
        let results = Mutexed<[HeartbeatPinger.Result]>([])
        var context: BackupContext

        init(statuses: [Int] = [], hang: Bool = false, timeout: TimeInterval = 5, attempts: Int = 3, posDatabase: Bool = true) throws {
            database = dir.path("pos.db")
            if posDatabase { try makeStoreDatabase(database, rows: 500) }
            server = try PingTestServer(statuses: statuses, hang: hang)
            context = try makeContext(dir, posDatabase: database)
            var settings = BackupSettings()
            settings.heartbeat = .init(databaseURL: "http://127.0.0.1:\(server.port)/ping/db-check",
                                       filesURL: "http://127.0.0.1:\(server.port)/ping/files-check/")
            try SettingsStore(catalog: context.catalog).save(settings)
            var options = HeartbeatPinger.Options()
            options.timeout = timeout
            options.retry = .init(attempts: attempts, firstDelay: 1, maxDelay: 4)
            let (sleeps, results) = (sleeps, results)
            options.sleep = { sleeps.record($0) }
            options.report = { result in results.withLock { $0.append(result) } }
            context.heartbeat = HeartbeatPinger(catalog: context.catalog, options: options)
        }

        func run(_ kind: BackupKind) async -> BackupOutcome {
            let outcome = BackupRunner(context: context).run(kind, trigger: .scheduled, alertOnFailure: false)
            await context.heartbeat.waitUntilSent()
            return outcome
        }

        var reported: [HeartbeatPinger.Result] { results.withLock { $0 } }
    }

    @Test("A successful database backup pings URL/start when it starts and URL when it has succeeded")
    func success() async throws {
        let setup = try Setup()
        let outcome = await setup.run(.dbFull)
        guard case .succeeded = outcome else { Issue.record("the backup failed: \(outcome)"); return }
        #expect(setup.server.requests == ["GET /ping/db-check/start", "GET /ping/db-check"])
        #expect(setup.reported.map(\.signal) == [.start, .success] && setup.reported.allSatisfy { $0.failure == nil })
        #expect(setup.reported.allSatisfy { $0.host == "127.0.0.1" && $0.kind == .dbFull })
    }

    @Test("A failed backup pings URL/start, then URL/fail; a file backup uses the files URL")
    func failure() async throws {
        let setup = try Setup()
        // The file backup fails at once: this store has no uploads folder.
        let outcome = await setup.run(.files)
        guard case .failed = outcome else { Issue.record("expected a failure: \(outcome)"); return }
        #expect(setup.server.requests == ["GET /ping/files-check/start", "GET /ping/files-check/fail"])
        // And a database backup whose POS database is missing pings the database URL.
        try FileManager.default.removeItem(at: setup.database)
        guard case .failed = await setup.run(.dbIncremental) else { Issue.record("expected a failure"); return }
        #expect(setup.server.requests.suffix(2) == ["GET /ping/db-check/start", "GET /ping/db-check/fail"])
    }

    @Test("A ping that gets a 500 is retried with backoff, and the success waits behind it: the order is kept")
    func retriedInOrder() async throws {
        let setup = try Setup(statuses: [500, 503, 200])
        guard case .succeeded = await setup.run(.dbFull) else { Issue.record("the backup failed"); return }
        #expect(setup.server.requests == ["GET /ping/db-check/start", "GET /ping/db-check/start", "GET /ping/db-check/start",
                                          "GET /ping/db-check"])
        #expect(setup.sleeps.delays == [1, 2])
        #expect(setup.reported.map(\.failure) == [nil, nil])
    }

    @Test("A 4xx is not retried; the backup succeeds anyway")
    func clientError() async throws {
        let setup = try Setup(statuses: [404, 404])
        guard case .succeeded = await setup.run(.dbFull) else { Issue.record("the backup failed"); return }
        #expect(setup.server.requests.count == 2 && setup.sleeps.delays.isEmpty)
        #expect(setup.reported.allSatisfy { $0.failure == "the heartbeat endpoint answered HTTP 404" })
    }

    @Test("With the monitoring server down the backup succeeds; each ping is tried a few times, then dropped and reported")
    func serverDown() async throws {
        let setup = try Setup()
        setup.server.stop()
        guard case .succeeded = await setup.run(.dbFull) else { Issue.record("the backup failed"); return }
        #expect(setup.reported.map(\.signal) == [.start, .success])
        #expect(setup.reported.allSatisfy { $0.failure == "connection refused" })
        #expect(setup.sleeps.delays == [1, 2, 1, 2], "3 attempts per ping")
        let job = try #require(try setup.context.catalog.jobs(kind: .dbFull, limit: 1).first)
        #expect(job.status == .succeeded)
    }

    /// Bounded by the time limit: 2 pings x 2 attempts x 1 s when alone; more when the whole suite keeps
    /// both cores busy, so the limit, not a measured duration, is what guards against a hang.
    @Test("A server that never answers does not delay the backup: the pings time out in the background",
          .timeLimit(.minutes(3)))
    func timeout() async throws {
        let setup = try Setup(hang: true, timeout: 1, attempts: 2)
        let outcome = BackupRunner(context: setup.context).run(.dbFull, trigger: .scheduled, alertOnFailure: false)
        guard case .succeeded = outcome else { Issue.record("the backup failed: \(outcome)"); return }
        // The success ping was queued as the run returned; with a 1 s timeout it cannot be over yet.
        #expect(!setup.reported.contains { $0.signal == .success }, "the run waited for its ping")
        await setup.context.heartbeat.waitUntilSent()
        #expect(setup.reported.map(\.signal) == [.start, .success])
        #expect(setup.reported.allSatisfy { $0.failure == "no answer within the timeout" }, "\(setup.reported)")
        #expect(setup.server.requests.count == 4, "2 attempts per ping")
    }

    @Test("Without heartbeat URLs nothing is sent")
    func noURL() async throws {
        var setup = try Setup()
        try SettingsStore(catalog: setup.context.catalog).save(BackupSettings())
        setup.context.heartbeat = HeartbeatPinger(catalog: setup.context.catalog)
        guard case .succeeded = await setup.run(.dbFull) else { Issue.record("the backup failed"); return }
        #expect(setup.server.requests.isEmpty)
    }

    @Test("Ping URLs follow the convention: one slash before start and fail, the query kept; the full archive is a database ping")
    func urls() {
        let settings = BackupSettings.HeartbeatSettings(databaseURL: "https://hc-ping.com/abc/", filesURL: "https://hc.example.test/ping/k?rid=1")
        #expect(HeartbeatPinger.baseURL(for: .full, in: settings) == settings.databaseURL)
        #expect(HeartbeatPinger.baseURL(for: .dbIncremental, in: settings) == settings.databaseURL)
        #expect(HeartbeatPinger.baseURL(for: .files, in: settings) == settings.filesURL)
        #expect(HeartbeatPinger.baseURL(for: .files, in: .init()) == nil)
        #expect(HeartbeatPinger.url("https://hc-ping.com/abc/", .start)?.absoluteString == "https://hc-ping.com/abc/start")
        #expect(HeartbeatPinger.url("https://hc-ping.com/abc/", .success)?.absoluteString == "https://hc-ping.com/abc/")
        #expect(HeartbeatPinger.url("https://hc.example.test/ping/k?rid=1", .fail)?.absoluteString == "https://hc.example.test/ping/k/fail?rid=1")
        #expect(HeartbeatPinger.url("ftp://hc.example.test/k", .start) == nil)
    }
}

/// A minimal HTTP/1.1 server on 127.0.0.1 that records each request line ("GET /path") and answers with
/// the next status of its script (200 when it runs out), or, with `hang`, reads the request and never
/// answers. A connection per thread, so a hanging one does not hold up the next.
final class PingTestServer: @unchecked Sendable {
    let port: UInt16
    private let listener: Int32
    private let hang: Bool
    private let state: Mutexed<(statuses: [Int], lines: [String], open: [Int32], stopped: Bool)>

    init(statuses: [Int], hang: Bool = false) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw BackupError(.io, "test server: bind failed") }
        listener = fd
        port = UInt16(bigEndian: address.sin_port)
        self.hang = hang
        state = Mutexed((statuses, [], [], false))
        Thread { [self] in serve() }.start()
    }

    var requests: [String] { state.withLock { $0.lines } }

    /// Closes the listening socket (connections are refused from now on) and any connection left hanging.
    func stop() {
        let open = state.withLock { s -> [Int32] in
            s.stopped = true
            defer { s.open = [] }
            return s.open
        }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        for fd in open { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }
    }

    deinit { if !state.withLock({ $0.stopped }) { stop() } }

    private func serve() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 { return }
            Thread { [self] in handle(client) }.start()
        }
    }

    private func handle(_ client: Int32) {
        var received = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while received.range(of: Data("\r\n\r\n".utf8)) == nil {
            let n = read(client, &buffer, buffer.count)
            if n <= 0 { close(client); return }
            received.append(contentsOf: buffer[0..<n])
        }
        let head = String(decoding: received, as: UTF8.self)
        let line = head.split(separator: "\r\n").first.map { $0.split(separator: " ").prefix(2).joined(separator: " ") } ?? ""
        let status = state.withLock { s -> Int? in
            s.lines.append(line)
            if hang {
                s.open.append(client)
                return nil
            }
            return s.statuses.isEmpty ? 200 : s.statuses.removeFirst()
        }
        guard let status else { return }  // never answered; closed by stop()
        let response = "HTTP/1.1 \(status) X\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK"
        _ = response.withCString { write(client, $0, strlen($0)) }
        close(client)
    }
}
