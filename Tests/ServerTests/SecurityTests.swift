import BackupCore
import Foundation
import Hummingbird
import HTTPTypes
import Logging
import NIOEmbedded
@testable import Server
import Testing
#if canImport(Glibc)
import Glibc
#endif

// Issue 12, the server's findings: connection limits (3), demo mode (4), uploads (7), Host checks
// (8), audit gaps (9), weak secrets (11), base64url, nosniff and the unit (12).

/// One raw keep-alive connection, for what the one-request `HTTP` client cannot show: a connection
/// that stays open and idle, several requests on one connection, a reset instead of a close.
final class RawConnection: @unchecked Sendable {
    let fd: Int32
    let port: Int

    init(port: Int) throws {
        self.port = port
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: \(errno)") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        // No close here: every stored property is set, so a throw now runs deinit, which closes `fd`. Closing
        // it twice closed whatever the server had just accepted under the same number (NIO: EBADF, a crash).
        guard connected == 0 else { throw TestFailure("connect: errno \(errno)") }
    }

    deinit { close(fd) }

    func send(_ text: String) throws {
        let data = Array(text.utf8)
        var offset = 0
        while offset < data.count {
            let n = data.withUnsafeBytes { Glibc.send(fd, $0.baseAddress! + offset, data.count - offset, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw TestFailure("send: errno \(errno)") }
            offset += n
        }
    }

    func get(_ path: String, host: String? = nil) throws {
        try send("GET \(path) HTTP/1.1\r\nHost: \(host ?? "127.0.0.1:\(port)")\r\n\r\n")
    }

    private var buffered: [UInt8] = []

    /// Runs a blocking call on a dispatch queue: the cooperative pool (two threads here) runs the server.
    private func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
        }
    }

    func read(until marker: String, timeout: TimeInterval = 20) async throws -> String {
        try await offPool { try self.blockingRead(until: marker, timeout: timeout) }
    }

    func readResponse(timeout: TimeInterval = 20) async throws -> HTTP.Response {
        try await offPool { try self.blockingReadResponse(timeout: timeout) }
    }

    func closedByServer(within timeout: TimeInterval) async throws -> Bool {
        try await offPool { try self.blockingClosedByServer(within: timeout) }
    }

    /// Reads until `marker` has arrived; everything read so far (kept for `readResponse`).
    private func blockingRead(until marker: String, timeout: TimeInterval) throws -> String {
        let deadline = Date().addingTimeInterval(timeout)
        while !String(decoding: buffered, as: UTF8.self).contains(marker) {
            guard Date() < deadline, let bytes = try receive(timeout: max(0.01, deadline.timeIntervalSinceNow)) else {
                throw TestFailure("\(marker) did not arrive within \(timeout) s")
            }
            guard !bytes.isEmpty else { throw TestFailure("closed before \(marker)") }
            buffered += bytes
        }
        return String(decoding: buffered, as: UTF8.self)
    }

    /// Waits up to `timeout` for bytes; nil when none came.
    private func receive(timeout: TimeInterval) throws -> [UInt8]? {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        let ready = poll(&poller, 1, Int32(timeout * 1000))
        guard ready > 0 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        let n = recv(fd, &buffer, buffer.count, 0)
        if n < 0 { return errno == ECONNRESET ? [] : nil }
        return Array(buffer[0..<n])
    }

    /// One response on this connection (it stays open).
    private func blockingReadResponse(timeout: TimeInterval) throws -> HTTP.Response {
        var parser = ResponseParser(onBody: nil)
        if !buffered.isEmpty { try parser.feed(buffered[...]); buffered = [] }
        let deadline = Date().addingTimeInterval(timeout)
        while !parser.complete {
            guard Date() < deadline, let bytes = try receive(timeout: max(0.01, deadline.timeIntervalSinceNow)) else {
                throw TestFailure("no complete response within \(timeout) s")
            }
            if bytes.isEmpty { break }
            try parser.feed(bytes[...])
        }
        guard let response = parser.response else { throw TestFailure("connection closed before a response") }
        return response
    }

    /// True when the server closes the connection within `timeout` (bounded: the idle timeout under test is short).
    private func blockingClosedByServer(within timeout: TimeInterval) throws -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            guard let bytes = try receive(timeout: max(0.01, deadline.timeIntervalSinceNow)) else { continue }
            if bytes.isEmpty { return true }
        }
        return false
    }

    /// True when a response (or a close) has arrived and not been read.
    var hasBytesWaiting: Bool {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        return !buffered.isEmpty || poll(&poller, 1, 0) > 0
    }

    /// Closes with a reset (SO_LINGER 0): the client is gone before the server can answer.
    func reset() {
        var option = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &option, socklen_t(MemoryLayout<linger>.size))
        shutdown(fd, Int32(SHUT_RDWR))
    }
}

/// How many connections wait, not yet accepted, in the listen queue of `port` (Linux: the
/// `rx_queue` of a LISTEN socket in /proc/net/tcp is its accept backlog).
func acceptQueueLength(port: Int) throws -> Int {
    let table = try String(contentsOfFile: "/proc/net/tcp", encoding: .utf8)
    let local = String(format: ":%04X", port)
    for line in table.split(separator: "\n").dropFirst() {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count > 4, fields[1].hasSuffix(local), fields[3] == "0A" else { continue }
        return Int(fields[4].split(separator: ":")[1], radix: 16) ?? 0
    }
    throw TestFailure("no listening socket on port \(port)")
}

/// Runs the server as `serve` does (not through HummingbirdTesting, whose live mode rebuilds the
/// application configuration and drops the connection cap).
func runDirectly<T: Sendable>(_ server: CapsServer, _ body: @Sendable (Int) async throws -> T) async throws -> T {
    let (ports, continuation) = AsyncStream<Int>.makeStream()
    let application = server.makeApplication { port in continuation.yield(port) }
    return try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await application.runService(gracefulShutdownSignals: []) }
        var iterator = ports.makeAsyncIterator()
        guard let port = await iterator.next() else { throw TestFailure("the server did not start") }
        do {
            let value = try await body(port)
            group.cancelAll()
            return value
        } catch {
            group.cancelAll()
            throw error
        }
    }
}

/// Runs `caps-backup serve` expecting it to refuse to start: its exit status and stderr.
func serveRefusal(_ arguments: [String], environment extra: [String: String] = [:]) async throws -> (status: Int32, stderr: String) {
    // Waited for on a dispatch queue: the cooperative pool (two threads) runs the other tests' servers.
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try blockingServeRefusal(arguments, environment: extra) }) }
    }
}

private func blockingServeRefusal(_ arguments: [String], environment extra: [String: String]) throws -> (status: Int32, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: ChildServer.binary)
    process.arguments = ["serve", "--no-scheduler"] + arguments
    var environment = ProcessInfo.processInfo.environment
    environment["CAPS_JWT_SECRET"] = nil
    environment.merge(extra) { $1 }
    process.environment = environment
    let err = Pipe()
    process.standardError = err
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let finished = DispatchSemaphore(value: 0)
    process.terminationHandler = { _ in finished.signal() }
    if finished.wait(timeout: .now() + 60) == .timedOut {
        process.terminate()
        throw TestFailure("caps-backup serve \(arguments) started instead of refusing")
    }
    let text = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    return (process.terminationStatus, text)
}

/// The repository's root (for the shipped unit and example config).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A store whose catalog and audit log run on a clock the test moves.
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var value = Date(timeIntervalSince1970: 1_800_000_000)
    var now: Date { lock.withLock { value } }
    func advance(_ seconds: TimeInterval) { lock.withLock { value += seconds } }
}

@Suite("Security: connections (issue 12, finding 3)", .serialized)
struct ConnectionLimitTests {
    @Test func anIdleConnectionIsClosedAfterTheTimeout() async throws {
        let store = try TestStore { $0.idleTimeout = .milliseconds(300) }
        try await store.run { http in
            // Never sends a byte.
            let silent = try RawConnection(port: http.port)
            #expect(try await silent.closedByServer(within: 15), "an idle connection stayed open")
            // Idle after a request on a keep-alive connection.
            let keepAlive = try RawConnection(port: http.port)
            try keepAlive.get("/healthz")
            #expect(try await keepAlive.readResponse().status == 200)
            #expect(try await keepAlive.closedByServer(within: 15), "an idle keep-alive connection stayed open")
        }
    }

    @Test func aProgressStreamIsNotCutByTheIdleTimeout() async throws {
        let store = try TestStore(rows: 5000) { $0.idleTimeout = .milliseconds(300) }
        try await store.run { http in
            store.gate.close()
            async let started = http.post("/api/v1/backups", token: Tokens.admin, json: #"{"kind":"db-full"}"#)
            try await eventually { store.gate.waiting }
            let id = try #require(try store.catalog.runningJobs().first?.id)
            let stream = try RawConnection(port: http.port)
            try stream.send("GET /api/v1/backups/\(id)/progress HTTP/1.1\r\nHost: 127.0.0.1:\(http.port)\r\nAuthorization: Bearer \(Tokens.admin)\r\n\r\n")
            #expect(try await stream.read(until: "\r\n\r\n").hasPrefix("HTTP/1.1 200"))
            // The idle timeout passes (an idle connection opened after the stream is closed by it) ...
            let idle = try RawConnection(port: http.port)
            #expect(try await idle.closedByServer(within: 15))
            // ... and the stream, quiet meanwhile, goes on to its end.
            store.gate.open()
            #expect(try await started.status == 202)
            let response = try await stream.readResponse(timeout: 60)
            #expect(response.status == 200)
            #expect(response.text.contains("event: end"), "\(response.text.suffix(300))")
        }
    }

    @Test func connectionsBeyondTheCapWaitUntilOneCloses() async throws {
        let store = try TestStore { $0.maxConnections = 3 }
        #expect(store.server.maxConnections == 3)
        try await runDirectly(store.server) { port in
            var open: [RawConnection] = []
            for _ in 0..<3 {
                let connection = try RawConnection(port: port)
                try connection.get("/healthz")
                #expect(try await connection.readResponse().status == 200, "a connection under the cap works")
                open.append(connection)
            }
            // The fourth is not accepted: it waits in the listen queue, holding no descriptor of the server's.
            let fourth = try RawConnection(port: port)
            try fourth.get("/healthz")
            try await eventually(timeout: 10) { try acceptQueueLength(port: port) == 1 }
            // Still waiting after the server has answered a request on each open connection.
            for connection in open {
                try connection.get("/healthz")
                #expect(try await connection.readResponse().status == 200)
            }
            #expect(try acceptQueueLength(port: port) == 1, "the fourth connection was accepted beyond the cap")
            #expect(!fourth.hasBytesWaiting)
            // One closes: the fourth is taken and answered.
            open.removeFirst()
            #expect(try await fourth.readResponse().status == 200)
            #expect(try acceptQueueLength(port: port) == 0)
        }
    }

    @Test func theDefaultCapLeavesDescriptorsForJobs() {
        #expect(ServerConfiguration.defaultMaxConnections(openFilesLimit: 1024) == 384)
        #expect(ServerConfiguration.defaultMaxConnections(openFilesLimit: 4096) == 1024)
        #expect(ServerConfiguration.defaultMaxConnections(openFilesLimit: 100) == 16)
        #expect(ServerConfiguration.defaultMaxConnections(openFilesLimit: nil) == 1024)
    }

    /// The shipped unit: an open-files limit that leaves room for jobs beside the connection cap,
    /// and an uploads folder a file restore can write to (finding 12).
    @Test func theUnitRaisesTheOpenFilesLimitAndLetsFileRestoresWrite() throws {
        let unit = try String(contentsOf: repositoryRoot.appendingPathComponent("deploy/caps-backup.service"), encoding: .utf8)
        func values(_ key: String) -> [String] {
            unit.split(separator: "\n").filter { $0.hasPrefix("\(key)=") }
                .flatMap { $0.dropFirst(key.count + 1).split(separator: " ").map(String.init) }
        }
        let limit = try #require(values("LimitNOFILE").first.flatMap { UInt64($0) }, "LimitNOFILE is not set")
        let cap = ServerConfiguration.defaultMaxConnections(openFilesLimit: limit)
        #expect(limit >= UInt64(cap) + 1024, "LimitNOFILE=\(limit) leaves too little beside \(cap) connections")
        let uploads = "/srv/pos/uploads"
        func covers(_ path: String) -> Bool { uploads == path || uploads.hasPrefix(path.hasSuffix("/") ? path : path + "/") }
        #expect(values("ReadWritePaths").contains(where: covers), "the uploads folder is not writable")
        #expect(!values("ReadOnlyPaths").contains(where: covers), "the uploads folder is read-only: file restores fail")
        #expect(!values("InaccessiblePaths").contains(where: covers))
    }
}

@Suite("Security: demo mode (issue 12, finding 4)", .serialized)
struct DemoModeTests {
    @Test func demoTokensAreNeverSignedWithTheConfiguredSecret() async throws {
        let store = try TestStore { $0.demo = true; $0.jwtSecret = testSecret }
        try await store.run { http in
            let admin = try await http.post("/login", json: #"{"user":"admin"}"#).json()
            let token = try #require(admin["token"] as? String)
            #expect(try await http.get("/api/v1/overview", token: token).status == 200)
            // The POS's secret does not verify it, and the POS's tokens are not taken by the demo.
            #expect(throws: JWTVerifier.Failure.self) { try JWTVerifier(hs256Secret: testSecret).verify(token) }
            #expect(try await http.get("/api/v1/overview", token: Tokens.admin).status == 401)
        }
        #expect(store.server.configuration.jwtSecret != testSecret)
        // Each start has a secret of its own.
        let again = try CapsServer(configuration: store.server.configuration, context: store.context)
        #expect(again.configuration.jwtSecret != store.server.configuration.jwtSecret)
    }

    @Test func demoModeListensOnLoopbackUnlessAllowed() throws {
        for host in ["0.0.0.0", "192.168.1.20", "::"] {
            let error = #expect(throws: BackupError.self, "\(host)") {
                _ = try TestStore { $0.demo = true; $0.host = host }
            }
            #expect(error?.message.contains("--demo-allow-remote") == true)
        }
        for host in ["127.0.0.1", "127.0.0.2", "::1", "localhost"] {
            #expect(throws: Never.self, "\(host)") { _ = try TestStore { $0.demo = true; $0.host = host } }
        }
        #expect(throws: Never.self) { _ = try TestStore { $0.demo = true; $0.host = "0.0.0.0"; $0.demoAllowRemote = true } }
    }

    @Test func serveDemoSaysSoAndRefusesARemoteListenAddress() async throws {
        let dir = TemporaryDirectory()
        let refused = try await serveRefusal(["--demo", "--listen", "0.0.0.0:0", "--data-dir", dir.path("data").path],
                                       environment: ["CAPS_JWT_SECRET": testSecret])
        #expect(refused.status != 0)
        #expect(refused.stderr.contains("--demo-allow-remote"), "\(refused.stderr)")
        #expect(refused.stderr.contains("ignoring the configured JWT secret"), "\(refused.stderr)")
    }

    @Test func everyDemoTokenMintedIsAudited() async throws {
        let store = try TestStore { $0.demo = true }
        try await store.run { http in
            _ = try await http.post("/login", json: #"{"user":"admin"}"#)
            _ = try await http.post("/login", json: #"{"user":"cashier"}"#)
            #expect(try await http.post("/login", json: #"{"user":"root"}"#).status == 401)
        }
        let rows = try store.auditRows().filter { $0.action == "demo.login" }.reversed()
        #expect(rows.map(\.outcome) == ["succeeded", "succeeded", "rejected"])
        #expect(rows.map(\.userId) == ["admin", "cashier", nil])
        #expect(rows.allSatisfy { $0.client == "127.0.0.1" })
        #expect(rows.first?.stationId == "demo-station")
    }
}

@Suite("Security: uploads (issue 12, finding 7)", .serialized)
struct UploadLimitTests {
    /// A disk of `size` bytes holding nothing but the archives in the data directory's received folder.
    static func smallDisk(_ size: Int64) -> FreeSpace {
        FreeSpace { url in
            let folder = url.lastPathComponent == "received" ? url : url.deletingLastPathComponent().appendingPathComponent("received")
            let used = (try? FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: [.fileSizeKey]))?
                .reduce(Int64(0)) { $0 + Int64((try? $1.resourceValues(forKeys: [.fileSizeKey]).fileSize) ?? 0) } ?? 0
            return UInt64(max(0, size - used))
        }
    }

    func uploadFolder(_ store: TestStore) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: ArchiveReceiver.directory(store.context).path)) ?? []
    }

    @Test func aChunkedUploadStopsWhenTheDiskFillsUp() async throws {
        // 64 MiB kept free + 3 MiB: a chunked 8 MiB upload must stop after about 3 MiB.
        let store = try TestStore(disk: Self.smallDisk(ArchiveReceiver.reserve + (3 << 20))) { $0.maxUploadBytes = 1 << 30 }
        try await store.run { http in
            let response = try await http.request("POST", "/api/v1/restores/upload?confirm=true", token: Tokens.admin,
                                                  body: .chunked(Data(repeating: 0x42, count: 8 << 20), chunkSize: 64 << 10, contentType: "application/zip"))
            #expect(response.status == 507, "\(response.status) \(response.text)")
            #expect(response.errorCode == "insufficient_space")
            #expect(response.errorMessage?.contains("stopped after") == true, "\(response.errorMessage ?? "")")
        }
        #expect(uploadFolder(store).isEmpty)
        #expect(try store.catalog.restoreJobs().isEmpty)
    }

    @Test func withoutACapAnUploadMayTakeHalfTheFreeDisk() async throws {
        let store = try TestStore(disk: Self.smallDisk(ArchiveReceiver.reserve + 2000))
        #expect(store.server.configuration.maxUploadBytes == nil)
        try await store.run { http in
            let response = try await http.request("POST", "/api/v1/restores/upload?confirm=true", token: Tokens.admin,
                                                  body: .data(Data(repeating: 7, count: 1500), contentType: "application/zip"))
            #expect(response.status == 413, "\(response.status) \(response.text)")
            #expect(response.errorMessage?.contains("half the free disk space") == true, "\(response.errorMessage ?? "")")
            let chunked = try await http.request("POST", "/api/v1/restores/upload?confirm=true", token: Tokens.admin,
                                                 body: .chunked(Data(repeating: 7, count: 1500), chunkSize: 100, contentType: "application/zip"))
            #expect(chunked.status == 413, "\(chunked.status) \(chunked.text)")
        }
        #expect(ArchiveReceiver.defaultCap(free: ArchiveReceiver.reserve + 2000) == 1000)
        #expect(uploadFolder(store).isEmpty)
    }

    @Test func oneUploadAtATime() async throws {
        let store = try TestStore()
        try await store.run { http in
            // The first upload sends half its body and waits.
            let first = try RawConnection(port: http.port)
            try first.send("POST /api/v1/restores/upload?confirm=true HTTP/1.1\r\nHost: 127.0.0.1:\(http.port)\r\n"
                           + "Authorization: Bearer \(Tokens.admin)\r\nContent-Type: application/zip\r\nTransfer-Encoding: chunked\r\n\r\n"
                           + "5\r\nhello\r\n")
            try await eventually { store.server.services.receiveSlot.current }
            let second = try await http.request("POST", "/api/v1/restores/upload?confirm=true", token: Tokens.admin,
                                                body: .data(Data(repeating: 1, count: 100), contentType: "application/zip"))
            #expect(second.status == 409, "\(second.status) \(second.text)")
            #expect(second.errorCode == "upload_in_progress")
            #expect(second.errorMessage?.contains("one upload at a time") == true)
            // The first one ends (a damaged archive: refused), and the slot is free again.
            try first.send("0\r\n\r\n")
            #expect(try await first.readResponse().status == 422)
            #expect(!store.server.services.receiveSlot.current)
        }
        #expect(uploadFolder(store).isEmpty)
    }

    @Test func uploadsLeftByACrashAreRemovedAtStartUp() throws {
        let store = try TestStore()
        let folder = ArchiveReceiver.directory(store.context)
        let leftover = folder.appendingPathComponent("received-20261126T230000Z-deadbeef.zip")
        let other = folder.appendingPathComponent("notes.txt")
        try Data("partial".utf8).write(to: leftover)
        try Data("kept".utf8).write(to: other)
        // What an earlier version left in its `uploads/` folder goes too, and so does the folder once empty.
        let legacy = store.context.dataDirectory.root.appendingPathComponent("uploads")
        try POSIXFile.makePrivateDirectory(legacy)
        try Data("partial".utf8).write(to: legacy.appendingPathComponent("upload-20261126T230000Z-cafebabe.zip"))
        _ = try CapsServer(configuration: store.server.configuration, context: store.context)
        #expect(!FileManager.default.fileExists(atPath: leftover.path))
        #expect(FileManager.default.fileExists(atPath: other.path))
        #expect(!FileManager.default.fileExists(atPath: legacy.path))
    }
}

@Suite("Security: Host header (issue 12, finding 8)", .serialized)
struct HostHeaderTests {
    @Test func requestsNamingAnotherHostAreRefusedBeforeAuthentication() async throws {
        let store = try TestStore { $0.publicHosts = ["backup.store.lan", "Backup2.Store.LAN:8443"] }
        try await store.run { http in
            let port = http.port
            for host in ["evil.example:\(port)", "evil.example", "127.0.0.1:\(port + 1)", "localhost", "backup2.store.lan:443",
                         "127.0.0.1.evil.example:\(port)", "[::2]:\(port)", "x@127.0.0.1:\(port)"] {
                for token in [Tokens.admin, nil] {
                    let response = try await http.get("/api/v1/overview", token: token, headers: ["Host": host])
                    #expect(response.status == 421, "\(host): \(response.status)")
                    #expect(response.errorCode == "wrong_host", "\(host)")
                }
            }
            #expect(try await http.get("/healthz", headers: ["Host": "evil.example:\(port)"]).status == 421)
            #expect(try await http.get("/nowhere", headers: ["Host": "evil.example:\(port)"]).status == 421)
            for host in ["127.0.0.1:\(port)", "localhost:\(port)", "LOCALHOST.:\(port)", "[::1]:\(port)", "backup.store.lan",
                         "backup.store.lan:443", "BACKUP.store.lan.", "backup2.store.lan:8443"] {
                let response = try await http.get("/api/v1/overview", token: Tokens.admin, headers: ["Host": host])
                #expect(response.status == 200, "\(host): \(response.status)")
            }
            // Two Host headers: which one would a proxy have checked?
            let twice = try RawConnection(port: port)
            try twice.send("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nHost: evil.example\r\n\r\n")
            #expect(try await twice.readResponse().status == 400)
        }
    }

    @Test func theDemoLoginChecksTheHostToo() async throws {
        let store = try TestStore { $0.demo = true }
        try await store.run { http in
            let response = try await http.request("POST", "/login", headers: ["Host": "rebound.example:\(http.port)"],
                                                  body: .data(Data(#"{"user":"admin"}"#.utf8), contentType: "application/json"))
            #expect(response.status == 421)
            #expect((try? response.json())?["token"] == nil)
            #expect(try await http.get("/login", headers: ["Host": "rebound.example:\(http.port)"]).status == 421)
        }
        #expect(try store.auditRows().filter { $0.action == "demo.login" }.isEmpty)
    }

    @Test func hostNamesAreParsedStrictly() {
        #expect(AllowedHosts.split("a.b:80").map { "\($0.name) \($0.port ?? 0)" } == "a.b 80")
        #expect(AllowedHosts.split("[::1]:8080").map { "\($0.name) \($0.port ?? 0)" } == "[::1] 8080")
        #expect(AllowedHosts.split("[::1]").map { "\($0.name) \($0.port ?? 0)" } == "[::1] 0")
        for bad in ["", ":80", "a:", "a:0", "a:99999", "a:8o", "[::1", "[::1]x", "a b", "u@h", "h/p"] {
            #expect(AllowedHosts.split(bad) == nil, "\(bad)")
        }
        #expect(throws: BackupError.self) { _ = try TestStore { $0.publicHosts = ["bad name:x"] } }
    }
}

@Suite("Security: audit gaps (issue 12, finding 9)", .serialized)
struct AuditGapTests {
    func storeOnClock(_ clock: TestClock, _ configure: (inout ServerConfiguration) -> Void = { _ in }) throws -> (TestStore, CapsServer) {
        let store = try TestStore()
        var context = store.context
        context.now = { clock.now }
        var configuration = store.server.configuration
        configure(&configuration)
        return (store, try CapsServer(configuration: configuration, context: context))
    }

    func run<T: Sendable>(_ server: CapsServer, _ body: @Sendable (HTTP) async throws -> T) async throws -> T {
        try await server.makeApplication().test(.live) { client in try await body(HTTP(port: client.port!)) }
    }

    @Test func refusalsAreAuditedAtMostOncePerMinutePerAddressAndKind() async throws {
        let clock = TestClock()
        let (store, server) = try storeOnClock(clock)
        try await run(server) { (http: HTTP) async throws in
            for _ in 0..<3 { #expect(try await http.get("/api/v1/overview").status == 401) }
            #expect(try await http.get("/api/v1/overview", token: "not.a.token").status == 401)
            for _ in 0..<2 { #expect(try await http.request("DELETE", "/api/v1/backups/1?confirm=true", token: Tokens.cashier).status == 403) }
        }
        var rows = try store.auditRows()
        #expect(rows.count == 2, "\(rows.map(\.action))")
        let unauthorized = try #require(rows.first { $0.action == "auth.unauthorized" })
        #expect(unauthorized.outcome == "rejected" && unauthorized.client == "127.0.0.1" && unauthorized.userId == nil)
        #expect(unauthorized.target == "GET /api/v1/overview")
        let forbidden = try #require(rows.first { $0.action == "auth.forbidden" })
        #expect(forbidden.userId == "cashier" && forbidden.stationId == "till-2" && forbidden.target == "DELETE /api/v1/backups/1")

        // A minute later: one more row, which counts the three left out.
        clock.advance(61)
        try await run(server) { http in _ = try await http.get("/api/v1/overview") }
        rows = try store.auditRows()
        #expect(rows.count == 3)
        #expect(rows.first?.action == "auth.unauthorized")
        #expect(rows.first?.detail?.contains("3 more refusals of this kind from this address since") == true, "\(rows.first?.detail ?? "")")
    }

    @Test func forwardedForIsBelievedOnlyFromATrustedProxy() async throws {
        let clock = TestClock()
        let (store, trusting) = try storeOnClock(clock) { $0.trustedProxies = ["127.0.0.1"] }
        let alice = Tokens.make("alice", permissions: [Permission.manageSettings])
        try await run(trusting) { http in
            _ = try await http.post("/api/v1/alerts/999/acknowledge", token: alice)
            _ = try await http.request("POST", "/api/v1/alerts/999/acknowledge", token: alice, headers: ["X-Forwarded-For": "203.0.113.7"])
            _ = try await http.request("POST", "/api/v1/alerts/999/acknowledge", token: alice,
                                       headers: ["X-Forwarded-For": "198.51.100.1, 203.0.113.8, 127.0.0.1"])
        }
        #expect(try store.auditRows().prefix(3).map(\.client) == ["203.0.113.8", "203.0.113.7", "127.0.0.1"])
        // Without a trusted proxy the header is ignored.
        let plain = try TestStore()
        try await plain.run { http in
            _ = try await http.request("POST", "/api/v1/alerts/999/acknowledge", token: alice, headers: ["X-Forwarded-For": "203.0.113.7"])
        }
        #expect(try plain.auditRows().first?.client == "127.0.0.1")

        let proxies: Set<IPAddress> = [IPAddress("127.0.0.1")!, IPAddress("::1")!]
        #expect(RequestGuardMiddleware.client(peer: "::ffff:127.0.0.1", forwarded: ["10.0.0.5"], trusted: proxies) == "10.0.0.5")
        #expect(RequestGuardMiddleware.client(peer: "10.0.0.9", forwarded: ["10.0.0.5"], trusted: proxies) == "10.0.0.9")
        #expect(RequestGuardMiddleware.client(peer: "127.0.0.1", forwarded: ["garbage"], trusted: proxies) == "127.0.0.1")
        #expect(RequestGuardMiddleware.client(peer: "127.0.0.1", forwarded: ["10.0.0.5, ::1"], trusted: proxies) == "10.0.0.5")
        #expect(RequestGuardMiddleware.client(peer: "127.0.0.1", forwarded: [], trusted: proxies) == "127.0.0.1")
        #expect(throws: BackupError.self) { _ = try TestStore { $0.trustedProxies = ["proxy.lan"] } }
    }

    @Test func aSettingsChangeRecordsTheWebhookHostButNotItsToken() async throws {
        let store = try TestStore()
        var settings = BackupSettings()
        settings.alerts.webhookURL = "https://hooks.example.com:8443/services/T0K3N-SECRET?key=abc"
        let body = try JSON.encoder.encode(settings)
        try await store.run { http in
            let response = try await http.request("PUT", "/api/v1/settings", token: Tokens.admin, body: .data(body, contentType: "application/json"))
            #expect(response.status == 200, "\(response.text)")
        }
        let row = try #require(try store.auditRows().first { $0.action == "settings.update" })
        #expect(row.detail?.contains("hooks.example.com:8443") == true, "\(row.detail ?? "")")
        #expect(row.detail?.contains("T0K3N") == false && row.detail?.contains("abc") == false)
    }

    /// The route's response, let go without its body ever being written (what the server does when
    /// the response head cannot be sent): the download still leaves its row.
    @Test func aDownloadWhoseResponseNeverStartedLeavesARow() async throws {
        let store = try TestStore()
        let job = try store.backup()
        let channel = EmbeddedChannel()
        var context = APIRequestContext(source: ApplicationRequestContextSource(channel: channel, logger: Logger(label: "test")))
        context.identity = Identity(userId: "admin", stationId: "office-pc", permissions: [Permission.manageSettings], expiresAt: .distantFuture)
        let request = Request(head: HTTPRequest(method: .get, scheme: "http", authority: "127.0.0.1", path: "/api/v1/backups/\(job.id!)/download"),
                              body: RequestBody(buffer: ByteBuffer()))
        do {
            let response = try BackupRoutes.download(job, try OpenArchive(URL(fileURLWithPath: job.path!)), request: request, context: context,
                                                     note: Auditor.Note(), services: store.server.services)
            #expect(response.status == .ok)
        }
        try await eventually(timeout: 10) { try store.auditRows().contains { $0.action == "backup.download" } }
        let rows = try store.auditRows().filter { $0.action == "backup.download" }
        #expect(rows.count == 1)
        #expect(rows.first?.outcome == "failed" && rows.first?.userId == "admin")
        #expect(rows.first?.detail?.contains("not sent") == true, "\(rows.first?.detail ?? "")")
    }

    /// Over the wire: a client that resets the connection right after asking leaves exactly one row
    /// (whether the server had started sending or not).
    @Test func aDownloadCutShortByTheClientLeavesOneRow() async throws {
        let store = try TestStore()
        let job = try store.backup()
        try await store.run { http in
            let connection = try RawConnection(port: http.port)
            try connection.send("GET /api/v1/backups/\(job.id!)/download HTTP/1.1\r\nHost: 127.0.0.1:\(http.port)\r\nAuthorization: Bearer \(Tokens.admin)\r\n\r\n")
            connection.reset()
            try await eventually(timeout: 10) { try store.auditRows().contains { $0.action == "backup.download" } }
        }
        #expect(try store.auditRows().filter { $0.action == "backup.download" }.count == 1)
    }

    @Test func aDownloadAuditIsWrittenOnceWhicheverWayItEnds() async throws {
        let written = Locked<[String]>([])
        @Sendable func finishTwice() async {
            let audit = DownloadAudit(notSent: "not sent") { outcome, _ in written.withLock { $0.append(outcome) } }
            await audit.finish(outcome: "succeeded", detail: "")
            await audit.finish(outcome: "failed", detail: "")
        }
        await finishTwice()
        // Let go without a finish: the row is written anyway.
        _ = DownloadAudit(notSent: "not sent") { outcome, _ in written.withLock { $0.append(outcome) } }
        try await eventually(timeout: 10) { written.current.count == 2 }
        #expect(written.current == ["succeeded", "failed"])
    }
}

@Suite("Security: secrets, tokens, headers (issue 12, findings 11 and 12)", .serialized)
struct SecretAndTokenTests {
    @Test func weakSecretsAreRefused() throws {
        for weak in ["s3cret", String(repeating: "a", count: 31), ServerConfiguration.placeholderSecret, "Replace with the POS's secret "] {
            let error = #expect(throws: BackupError.self, "\(weak)") { _ = try TestStore { $0.jwtSecret = weak } }
            #expect(error?.code == .configuration)
        }
        #expect(throws: Never.self) { _ = try TestStore { $0.jwtSecret = String(repeating: "k", count: 32) } }
        // Demo mode ignores the configured secret, so a short one does not matter there.
        #expect(throws: Never.self) { _ = try TestStore { $0.demo = true; $0.jwtSecret = "short" } }
    }

    @Test func serveRefusesToStartWithAWeakSecret() async throws {
        let dir = TemporaryDirectory()
        let short = try await serveRefusal(["--listen", "127.0.0.1:0", "--data-dir", dir.path("data").path], environment: ["CAPS_JWT_SECRET": "short"])
        #expect(short.status != 0)
        #expect(short.stderr.contains("at least 32"), "\(short.stderr)")
        let example = try String(contentsOf: repositoryRoot.appendingPathComponent("deploy/caps-backup.toml.example"), encoding: .utf8)
            .replacingOccurrences(of: "/var/lib/caps-backup", with: dir.path("data").path)
        try Data(example.utf8).write(to: dir.path("caps.toml"))
        let placeholder = try await serveRefusal(["--config", dir.path("caps.toml").path, "--listen", "127.0.0.1:0"])
        #expect(placeholder.status != 0)
        #expect(placeholder.stderr.contains("placeholder"), "\(placeholder.stderr)")
    }

    @Test func nonCanonicalBase64URLIsRefused() throws {
        let verifier = JWTVerifier(hs256Secret: testSecret)
        let token = Tokens.make("admin", permissions: [Permission.manageSettings])
        #expect(try verifier.verify(token).userId == "admin")
        // A 32-byte signature is 43 characters: the last one carries 4 bits and 2 unused ones.
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        let last = token.last!
        let twin = String(token.dropLast()) + String(alphabet[alphabet.firstIndex(of: last)! ^ 1])
        #expect(Base64URL.decode(twin.split(separator: ".")[2]) == nil)
        #expect(throws: JWTVerifier.Failure.self) { try verifier.verify(twin) }
        #expect(Base64URL.decode("AA") == [0])
        for spelling in ["AB", "AP", "AAB", "-_9"] { #expect(Base64URL.decode(Substring(spelling)) == nil, "\(spelling)") }
    }

    @Test func everyResponseSaysNoSniff() async throws {
        let store = try TestStore { $0.demo = true }
        let job = try store.backup()
        try await store.run { http in
            let admin = try #require(try await http.post("/login", json: #"{"user":"admin"}"#).json()["token"] as? String)
            let responses: [(String, HTTP.Response)] = [
                ("healthz", try await http.get("/healthz")),
                ("metrics", try await http.get("/metrics")),
                ("login page", try await http.get("/login")),
                ("openapi", try await http.get("/api/v1/openapi.json")),
                ("overview", try await http.get("/api/v1/overview", token: admin)),
                ("401", try await http.get("/api/v1/overview")),
                ("404", try await http.get("/nothing-here")),
                ("405", try await http.request("DELETE", "/api/v1/overview", token: admin)),
                ("421", try await http.get("/healthz", headers: ["Host": "evil.example"])),
                ("download", try await http.get("/api/v1/backups/\(job.id!)/download", token: admin)),
                ("progress", try await http.get("/api/v1/backups/\(job.id!)/progress", token: admin)),
            ]
            for (name, response) in responses {
                #expect(response.header("X-Content-Type-Options") == "nosniff", "\(name): \(response.status)")
            }
        }
    }
}
