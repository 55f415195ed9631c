import BackupCore
import Foundation

/// A fresh folder under /tmp for one test, removed at deinit.
final class TemporaryDirectory {
    let url: URL
    init(_ name: String = #function) {
        let safe = name.filter { $0.isLetter || $0.isNumber }
        url = FileManager.default.temporaryDirectory.appendingPathComponent("caps-\(safe)-\(UUID().uuidString.prefix(8))")
        try! FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    func path(_ name: String) -> URL { url.appendingPathComponent(name) }
}

/// A small POS-like database in WAL mode, with a marker row tests can read back.
func makeStoreDatabase(_ url: URL, rows: Int = 2000, marker: String = "original") throws {
    let db = try SQLiteConnection(path: url.path, mode: .create)
    try db.execute("""
        PRAGMA journal_mode=WAL;
        CREATE TABLE customer(id INTEGER PRIMARY KEY, name TEXT NOT NULL);
        CREATE TABLE invoice(id INTEGER PRIMARY KEY, customer_id INTEGER REFERENCES customer(id), total REAL, note TEXT);
        CREATE TABLE log_without_pk(at TEXT, message TEXT);
        CREATE TABLE marker(value TEXT);
        INSERT INTO marker VALUES (\(sqlQuote(marker)));
        INSERT INTO customer(name) VALUES ('Ada'), ('Grace');
        WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < \(rows))
        INSERT INTO invoice(customer_id, total, note) SELECT 1 + x % 2, x * 1.25, hex(randomblob(40)) FROM c;
        INSERT INTO log_without_pk SELECT datetime('now'), 'row ' || id FROM invoice;
        """)
}

func sqlQuote(_ s: String) -> String { "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }

func marker(_ url: URL) throws -> String? {
    try SQLiteConnection(path: url.path, mode: .readOnly).scalar("SELECT value FROM marker")
}

func setMarker(_ url: URL, _ value: String) throws {
    try SQLiteConnection(path: url.path, mode: .readWrite).execute("UPDATE marker SET value = \(sqlQuote(value))")
}

/// A context on a fresh data directory, with the free-space probe open to tests.
func makeContext(_ dir: TemporaryDirectory, posDatabase: URL?, configFiles: [URL] = [],
                 availableBytes: (@Sendable (URL) throws -> UInt64)? = nil) throws -> BackupContext {
    let data = DataDirectory(dir.path("data"))
    try data.prepare()
    var context = BackupContext(dataDirectory: data, catalog: try Catalog(url: data.catalog), posDatabase: posDatabase,
                                configFiles: configFiles)
    if let availableBytes { context.availableBytes = availableBytes }
    return context
}

/// Runs a program and returns its exit status and output (stdout + stderr).
@discardableResult
func run(_ executable: String, _ arguments: [String], input: Data? = nil) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

func sha256(_ url: URL) throws -> String { try Checksums.sha256(of: url) }

func fileList(_ url: URL) -> [String] {
    (FileManager.default.enumerator(atPath: url.path)?.allObjects as? [String] ?? []).sorted()
}
