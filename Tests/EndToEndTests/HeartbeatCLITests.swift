import BackupCore
import Foundation
import Testing

/// `caps-backup backup` pings the heartbeat URL (issue 15, part 3), and the pings reach the monitoring
/// server before the process exits: they are sent in the background, so the command waits for them.
@Suite("Heartbeat pings from the command line", .serialized)
struct HeartbeatCLITests {
    @Test("A backup from the CLI pings URL/start and URL before it exits; a failed one URL/fail; a refused one nothing")
    func pingsBeforeExit() throws {
        let store = try DemoFixture(sizeMB: 2)
        let server = try RequestLineServer()
        var settings = BackupSettings()
        settings.heartbeat = .init(databaseURL: "http://127.0.0.1:\(server.port)/hc/db", filesURL: "http://127.0.0.1:\(server.port)/hc/files")
        try DataDirectory(store.dataDir).prepare()
        try SettingsStore(catalog: try store.catalog()).save(settings)

        let backup = try CLI.run(["backup", "--kind", "db-incremental", "--json"] + store.storeArguments)
        #expect(backup.status == 0, "\(backup.stderr)")
        #expect(server.lines == ["GET /hc/db/start", "GET /hc/db"])

        let missing = store.root.appendingPathComponent("no-such.db").path
        let failed = try CLI.run(["backup", "--kind", "db-full", "--pos-db", missing, "--data-dir", store.dataDir.path])
        #expect(failed.status == 1)
        #expect(server.lines.suffix(2) == ["GET /hc/db/start", "GET /hc/db/fail"])

        // Refused because another job holds the lock: no job ran, nothing is pinged.
        let before = server.lines.count
        let lock = try #require(try JobLock.tryAcquire(DataDirectory(store.dataDir)))
        let busy = try CLI.run(["backup", "--kind", "db-incremental"] + store.storeArguments)
        withExtendedLifetime(lock) {}
        #expect(busy.status != 0)
        #expect(server.lines.count == before, "\(server.lines)")
    }
}

/// An HTTP server on 127.0.0.1 that answers 200 to everything and records each request line.
final class RequestLineServer: @unchecked Sendable {
    let port: UInt16
    private let listener: Int32
    private let lock = NSLock()
    private var recorded: [String] = []

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw BackupError(.io, "test server: bind failed") }
        listener = fd
        port = UInt16(bigEndian: address.sin_port)
        Thread { [self] in
            while true {
                let client = accept(listener, nil, nil)
                if client < 0 { return }
                var received = Data()
                var buffer = [UInt8](repeating: 0, count: 4096)
                while received.range(of: Data("\r\n\r\n".utf8)) == nil {
                    let n = read(client, &buffer, buffer.count)
                    if n <= 0 { break }
                    received.append(contentsOf: buffer[0..<n])
                }
                let line = String(decoding: received, as: UTF8.self).split(separator: "\r\n").first
                    .map { $0.split(separator: " ").prefix(2).joined(separator: " ") } ?? ""
                lock.withLock { recorded.append(line) }
                _ = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nOK".withCString { write(client, $0, strlen($0)) }
                close(client)
            }
        }.start()
    }

    var lines: [String] { lock.withLock { recorded } }

    deinit {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }
}
