import CSQLiteShims
import Foundation

/// `PRAGMA integrity_check` of a database file on every core, proving what the whole-file check proves.
///
/// SQLite checks one table with its indexes at a time when asked (`PRAGMA integrity_check(T)`, a "partial"
/// check), so the tables are shared out among connections, the costliest first. A partial check leaves out
/// one part: that every page of the file is in exactly one b-tree or on the freelist. One whole-file
/// `PRAGMA quick_check` does that part (with every b-tree's structure, but without the index-against-table
/// comparison that is most of the whole check's cost, and which the partial checks do).
///
/// Each connection gets a page cache of its own: the check looks every index entry up in its table, at
/// random, and with SQLite's default 2 MiB cache most lookups are a read(2). 16 MiB each cut the check of
/// the largest demo table by a fifth; the caches are the check's whole memory, and the memory the backup's
/// earlier phases freed is handed back to the system first, so that the two do not add up (RSS <= 100 MiB).
struct ParallelIntegrityCheck {
    let path: String
    /// A file from an archive: opened in SQLite's defensive mode, its schema not trusted.
    var untrusted = true
    var workers = max(1, min(4, ProcessInfo.processInfo.activeProcessorCount))
    var cacheKiBPerConnection = 16 * 1024

    /// One unit of work for a connection.
    enum Part: Hashable {
        /// `PRAGMA integrity_check(table)`: one table and its indexes.
        case table(String)
        /// `PRAGMA quick_check`: every b-tree's structure, and the page accounting of the whole file.
        case pages

        var sql: String {
            switch self {
            case .table(let name): "PRAGMA integrity_check(\"\(name.replacingOccurrences(of: "\"", with: "\"\""))\")"
            case .pages: "PRAGMA quick_check(20)"
            }
        }
    }

    /// nil when the database is sound, else SQLite's first problems.
    func problems(progress: ProgressHandler? = nil) throws -> [String]? {
        let (parts, size) = try { () throws -> ([Part], UInt64) in
            let planner = try connection()
            let size = UInt64(max(0, try planner.integer("PRAGMA page_count"))) * UInt64(max(0, try planner.integer("PRAGMA page_size")))
            return (try plan(planner), size)
        }()
        // The accounting pass reads the file once and the table checks read it once more.
        let reporter = progress.map { SharedCheckProgress(total: 2 * size, progress: $0) }
        reporter?.start()
        defer { reporter?.finish() }
        caps_release_free_memory()

        let shared = CheckQueue(parts)
        // Threads of their own, at a lower priority: the check takes every core for a minute on a large
        // store, and a POS commit that needs a core must get it at once.
        let done = DispatchGroup()
        for _ in 0..<min(workers, parts.count) {
            done.enter()
            Thread {
                defer { done.leave() }
                _ = caps_lower_thread_priority(10)
                self.work(shared, reporter)
            }.start()
        }
        done.wait()
        return try shared.outcome()
    }

    /// One worker: its own connection and cache, parts taken from the queue until none is left.
    private func work(_ shared: CheckQueue, _ reporter: SharedCheckProgress?) {
        do {
            let connection = try self.connection()
            try connection.execute("PRAGMA cache_size=-\(cacheKiBPerConnection)")
            let ticket = reporter?.attach(connection)
            defer { ticket.map { reporter?.detach($0, connection) } }
            while let part = shared.next() {
                let lines = try connection.rows(part.sql).compactMap { $0.first ?? nil }
                if lines != ["ok"] { shared.found(lines) }
            }
        } catch {
            shared.failed(error)
        }
    }

    /// The tables, costliest first, then the page accounting. A table's cost is its rows (the largest
    /// rowid, found in a few page reads) times one more than its indexes: the check reads each row once
    /// and looks it up in every index. Tables without a rowid, or whose rowid cannot be read, go first.
    func plan(_ connection: SQLiteConnection) throws -> [Part] {
        // SQLite's own tables (sqlite_sequence, sqlite_stat1) have no indexes: the accounting pass covers them.
        // Not `LIKE 'sqlite_%'`, whose `_` matches any character and would leave out a table named sqlitebox.
        let tables = try connection.rows("SELECT name FROM sqlite_schema WHERE type = 'table' AND substr(name, 1, 7) <> 'sqlite_' AND sql NOT LIKE 'CREATE VIRTUAL%'")
            .compactMap { $0.first ?? nil }
        var indexes: [String: Int] = [:]
        for row in try connection.rows("SELECT tbl_name, count(*) FROM sqlite_schema WHERE type = 'index' GROUP BY tbl_name") {
            if let table = row.first ?? nil { indexes[table] = Int(row.last.flatMap { $0 } ?? "0") ?? 0 }
        }
        let costed = tables.map { table -> (String, Int) in
            let quoted = "\"\(table.replacingOccurrences(of: "\"", with: "\"\""))\""
            // An error (no rowid, or a damaged tree) is unknown, hence first; NULL is an empty table.
            let rows: Int
            do { rows = try connection.scalar("SELECT max(rowid) FROM \(quoted)").flatMap { Int($0) } ?? 0 } catch { return (table, Int.max) }
            let (cost, overflow) = rows.multipliedReportingOverflow(by: 1 + (indexes[table] ?? 0))
            return (table, overflow ? Int.max : cost)  // a huge rowid (FTS5 uses them) must not wrap to a small cost
        }
        return costed.sorted { ($0.1, $1.0) > ($1.1, $0.0) }.map { .table($0.0) } + [.pages]
    }

    private func connection() throws -> SQLiteConnection {
        try SQLiteConnection(path: path, mode: .readOnly, untrusted: untrusted)
    }
}

/// The parts still to check, and what the checks found, shared by the workers.
private final class CheckQueue: @unchecked Sendable {
    private let lock = NSLock()
    private var parts: [ParallelIntegrityCheck.Part]
    private var taken = 0
    private var problems: [String] = []
    private var error: (any Error)?

    init(_ parts: [ParallelIntegrityCheck.Part]) { self.parts = parts }

    /// The next part, or nil when all are taken or a problem was found (one is enough to refuse the file).
    func next() -> ParallelIntegrityCheck.Part? {
        lock.withLock {
            guard problems.isEmpty, error == nil, taken < parts.count else { return nil }
            defer { taken += 1 }
            return parts[taken]
        }
    }

    func found(_ lines: [String]) { lock.withLock { problems += lines } }
    func failed(_ failure: any Error) { lock.withLock { if error == nil { error = failure } } }

    func outcome() throws -> [String]? {
        try lock.withLock {
            if !problems.isEmpty { return Array(problems.prefix(20)) }
            if let error { throw error }
            return nil
        }
    }
}

/// The check's sign of life: the bytes all connections have read (their page-cache misses) against an
/// estimate of the total, a few times a second.
private final class SharedCheckProgress: @unchecked Sendable {
    private let lock = NSLock()
    private let total: UInt64
    private let progress: ProgressHandler
    private var finishedBytes: UInt64 = 0
    private var live: [ObjectIdentifier: (connection: OpaquePointer, pageSize: UInt64)] = [:]
    private var lastReport = 0.0

    init(total: UInt64, progress: @escaping ProgressHandler) {
        self.total = total
        self.progress = progress
    }

    func start() { progress(ProgressEvent(phase: .integrityCheck, bytesDone: 0, bytesTotal: total)) }
    func finish() { progress(ProgressEvent(phase: .integrityCheck, bytesDone: total, bytesTotal: total)) }

    /// Starts reporting for one connection (SQLite calls back every 20,000 virtual machine steps).
    func attach(_ connection: SQLiteConnection) -> ObjectIdentifier {
        let ticket = ObjectIdentifier(connection)
        let pageSize = UInt64(max(0, (try? connection.integer("PRAGMA page_size")) ?? 4096))
        lock.withLock { live[ticket] = (connection.handle, pageSize) }
        sqlite3_progress_handler(connection.handle, 20_000, { context in
            Unmanaged<SharedCheckProgress>.fromOpaque(context!).takeUnretainedValue().tick()
            return 0
        }, Unmanaged.passUnretained(self).toOpaque())
        return ticket
    }

    func detach(_ ticket: ObjectIdentifier, _ connection: SQLiteConnection) {
        sqlite3_progress_handler(connection.handle, 0, nil, nil)
        lock.withLock {
            if let entry = live.removeValue(forKey: ticket) { finishedBytes += Self.misses(entry.connection) * entry.pageSize }
        }
    }

    /// Under the lock, so that the handler is called by one thread at a time.
    private func tick() {
        let now = ProcessInfo.processInfo.systemUptime
        lock.withLock {
            guard now - lastReport >= 0.25 else { return }
            lastReport = now
            let done = live.values.reduce(finishedBytes) { $0 + Self.misses($1.connection) * $1.pageSize }
            progress(ProgressEvent(phase: .integrityCheck, bytesDone: min(done, total &- 1), bytesTotal: total))
        }
    }

    private static func misses(_ connection: OpaquePointer) -> UInt64 {
        var current: Int32 = 0
        var highest: Int32 = 0
        sqlite3_db_status(connection, SQLITE_DBSTATUS_CACHE_MISS, &current, &highest, 0)
        return UInt64(max(0, current))
    }
}
