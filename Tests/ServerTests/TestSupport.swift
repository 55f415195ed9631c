import BackupCore
import Crypto
import Foundation
import Hummingbird
import HummingbirdTesting
@testable import Server
#if canImport(Glibc)
import Glibc
#endif

/// A fresh folder under /tmp for one test, removed at deinit.
final class TemporaryDirectory: @unchecked Sendable {
    let url: URL
    init(_ name: String = #function) {
        let safe = name.filter { $0.isLetter || $0.isNumber }
        url = FileManager.default.temporaryDirectory.appendingPathComponent("caps-server-\(safe)-\(UUID().uuidString.prefix(8))")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    func path(_ name: String) -> URL { url.appendingPathComponent(name) }
}

/// The secret the test server and the test tokens share.
let testSecret = "test-secret-0123456789-0123456789-abcdef"

enum Tokens {
    static let signer = JWTSigner(hs256Secret: testSecret)
    static func make(_ user: String, station: String? = "till-1", permissions: [String], expiresIn: TimeInterval = 3600) -> String {
        signer.sign(userId: user, stationId: station, permissions: permissions, expiresAt: Date().addingTimeInterval(expiresIn))
    }
    static let admin = make("admin", station: "office-pc", permissions: [Permission.manageSettings, "VIEW_REPORTS"])
    static let cashier = make("cashier", station: "till-2", permissions: ["SELL"])
}

/// A store (a small POS database in WAL mode with a marker row and a config file), a data
/// directory, and a server over them, started on a free loopback port by `run`.
final class TestStore: @unchecked Sendable {
    let dir: TemporaryDirectory
    let database: URL
    let context: BackupContext
    let server: CapsServer
    /// Blocks the free-space probe while closed: holds a backup "running" (at its free-space check,
    /// with its record written) for as long as a test needs.
    let gate = Gate()

    /// The product images folder, configured only when the store was made with `productFiles`.
    let uploads: URL

    /// - Parameter productFiles: when not nil, an uploads folder with this many product files (see
    ///   `writeProductFiles`) is made and configured, so file and full backups can run.
    /// - Parameter disk: the free-space probe (default: the real disk's), behind the gate.
    /// - Parameter empty: no POS database at all (a fresh install: the server starts in setup mode).
    /// - Parameter clock: the clock of the context and the server (default: the real one).
    init(rows: Int = 2000, productFiles: Int? = nil, name: String = #function, disk: FreeSpace = FreeSpace(), empty: Bool = false,
         clock: MovingClock? = nil, configure: (inout ServerConfiguration) -> Void = { _ in }) throws {
        let now: @Sendable () -> Date
        if let clock { now = clock.now } else { now = { Date() } }
        dir = TemporaryDirectory(name)
        database = dir.path("pos.db")
        if !empty { try makeStoreDatabase(database, rows: rows) }
        let config = dir.path("pos.toml")
        try Data("[printer]\nname = \"front\"\n".utf8).write(to: config)
        uploads = dir.path("uploads")
        if let productFiles { try writeProductFiles(productFiles, into: uploads) }
        let data = DataDirectory(dir.path("data"))
        try data.prepare()
        var context = BackupContext(dataDirectory: data, catalog: try Catalog(url: data.catalog), posDatabase: database,
                                    uploads: productFiles == nil ? nil : uploads, configFiles: [config])
        context.now = now
        let gate = self.gate
        context.availableBytes = { url in
            gate.pass()
            return try disk.available(url)
        }
        self.context = context
        var configuration = ServerConfiguration()
        configuration.jwtSecret = testSecret
        configuration.port = 0
        configuration.now = now
        configure(&configuration)
        server = try CapsServer(configuration: configuration, context: context)
    }

    var catalog: Catalog { context.catalog }

    /// Runs `body` against the server listening on loopback (HummingbirdTesting's live mode).
    func run<T: Sendable>(_ body: @Sendable (HTTP) async throws -> T) async throws -> T {
        try await server.makeApplication().test(.live) { client in
            try await body(HTTP(port: client.port!))
        }
    }

    /// A backup made directly (not through the API), as the CLI or scheduler would.
    func backup() throws -> BackupRecord {
        try DatabaseBackupJob(context: context).run(trigger: .manual)
    }

    /// A `files` or `full` backup made directly, as the CLI or scheduler would (needs `productFiles`).
    func fileBackup(_ kind: BackupKind) throws -> BackupRecord {
        try FileBackupJob(context: context, kind: kind).run(trigger: .manual)
    }

    /// Every regular file under the uploads folder by relative path, with the SHA-256 of its bytes.
    func productFiles() throws -> [String: String] { try fileDigests(uploads) }

    func marker() throws -> String? {
        try SQLiteConnection(path: database.path, mode: .readOnly).scalar("SELECT value FROM marker")
    }

    func setMarker(_ value: String) throws {
        try SQLiteConnection(path: database.path, mode: .readWrite).execute("UPDATE marker SET value = '\(value)'")
    }

    func auditRows() throws -> [AuditEntry] { try catalog.auditLog(limit: 10_000) }
}

/// A clock the test moves that starts at the real time, so tokens made with the real time stay valid.
final class MovingClock: @unchecked Sendable {
    private let offset = Locked<TimeInterval>(0)
    func advance(_ seconds: TimeInterval) { offset.withLock { $0 += seconds } }
    var now: @Sendable () -> Date { { [offset] in Date().addingTimeInterval(offset.current) } }
}

/// A free-space probe for `TestStore`: the real disk's, or a small one a test makes up.
struct FreeSpace: Sendable {
    var available: @Sendable (URL) throws -> UInt64 = { try POSIXFile.availableBytes(at: $0) }
}

/// A latch for the job thread: closed, `pass()` waits until `open()`.
final class Gate: @unchecked Sendable {
    private let condition = NSCondition()
    private var isOpen = true
    private(set) var waiting = false

    func close() { condition.lock(); isOpen = false; condition.unlock() }
    func open() { condition.lock(); isOpen = true; condition.broadcast(); condition.unlock() }
    func pass() {
        condition.lock()
        waiting = true
        while !isOpen { condition.wait() }
        waiting = false
        condition.unlock()
    }
}

/// A small POS-like database in WAL mode, with a marker row tests can read back.
func makeStoreDatabase(_ url: URL, rows: Int, marker: String = "original") throws {
    let db = try SQLiteConnection(path: url.path, mode: .create)
    try db.execute("""
        PRAGMA journal_mode=WAL;
        CREATE TABLE customer(id INTEGER PRIMARY KEY, name TEXT NOT NULL);
        CREATE TABLE invoice(id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customer(id), total REAL, note TEXT);
        CREATE TABLE marker(value TEXT);
        INSERT INTO marker VALUES ('\(marker)');
        INSERT INTO customer(name) VALUES ('Ada'), ('Grace');
        WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < \(rows))
        INSERT INTO invoice(customer_id, total, note) SELECT 1 + x % 2, x * 1.25, hex(randomblob(40)) FROM c;
        """)
}

/// A small product images folder: `count` files of different sizes and contents in folders of
/// different depths, an empty file and a name with a space and an accent.
func writeProductFiles(_ count: Int, into root: URL) throws {
    func write(_ relative: String, _ data: Data) throws {
        let url = root.appendingPathComponent(relative)
        try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try data.write(to: url)
    }
    try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
    for i in 0..<count {
        let bytes = (0..<(i * 997 % 20_000 + 1)).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ i &* 7) }
        try write("products/\(i % 4)/\(i % 3 == 0 ? "large/" : "")sku-\(i).jpg", Data(bytes))
    }
    try write("products/empty.jpg", Data())
    try write("products/Café crème/photo 1.png", Data(repeating: 0xC5, count: 1500))
}

/// Every regular file under `root` by relative path, with the SHA-256 of its bytes.
func fileDigests(_ root: URL) throws -> [String: String] {
    var digests: [String: String] = [:]
    guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey]) else { return [:] }
    let prefix = root.resolvingSymlinksInPath().path + "/"
    for case let url as URL in walker where try url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile == true {
        let path = url.resolvingSymlinksInPath().path
        digests[path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : path] = sha256Hex(try Data(contentsOf: url))
    }
    return digests
}

/// Waits for a condition that another thread makes true, without sleeping for fixed periods of wall-clock time
/// beyond short polls; fails after `timeout`.
/// Polls `condition` until it holds. The limit is generous on purpose: in a full run on two cores, the
/// synchronous tests can hold both of Swift's cooperative threads for a minute (a backup's integrity check
/// waits on them), and a condition that holds in 5 s alone was once not met within 30 s.
func eventually(timeout: TimeInterval = 120, _ condition: @Sendable () async throws -> Bool) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while try await !condition() {
        guard Date() < deadline else { throw TestFailure("condition not met within \(timeout) s") }
        try await Task.sleep(for: .milliseconds(20))
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

func sha256Hex(_ data: Data) -> String { SHA256.hash(data: data).hex }

/// The JSON of a response body as nested dictionaries, for checks that need no decoding types.
func json(_ data: Data) throws -> [String: Any] {
    guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { throw TestFailure("not a JSON object: \(String(decoding: data, as: UTF8.self))") }
    return object
}
