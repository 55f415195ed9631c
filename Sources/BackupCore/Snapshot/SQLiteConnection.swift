import Foundation
import CSQLiteShims
import GRDBSQLite

/// A plain SQLite connection on the C API, for the POS database and the images we extract.
/// GRDB serves the catalog; for the POS's file we want nothing but the statements we issue:
/// no pragmas of ours, no schema assumptions, exact control of transactions and the backup API.
public final class SQLiteConnection {
    let handle: OpaquePointer
    public let path: String

    public enum Mode {
        case readOnly, readWrite, create
        /// Read-write if the file allows it (else read-only, as SQLite falls back on its own), for a
        /// connection that only ever reads but needs SQLite's read-write code paths: `VACUUM INTO` from a
        /// read-only connection rebuilds every index row by row (6.9 s against 3.3 s per GiB here, and a
        /// 1% bigger image). Closing it never checkpoints: that is the POS's business, not a reader's.
        /// It reads `file:` URIs (the target of a watched `VACUUM INTO`, see `WriteWatch`).
        case readerOnWritableFile
    }

    /// - Parameter untrusted: the file came from an archive or from elsewhere (a restore image, a database
    ///   file given to restore): defensive mode (`SQLITE_DBCONFIG_DEFENSIVE`) and `PRAGMA trusted_schema=OFF`,
    ///   so its schema (views, triggers, CHECK constraints, defaults, generated columns, indexes) cannot call
    ///   functions with side effects, and no statement can deliberately corrupt it.
    public init(path: String, mode: Mode, busyTimeoutMs: Int32 = 10_000, untrusted: Bool = false) throws {
        var db: OpaquePointer?
        let flags: Int32 = switch mode {
        case .readOnly: SQLITE_OPEN_READONLY
        case .readWrite: SQLITE_OPEN_READWRITE
        case .readerOnWritableFile: SQLITE_OPEN_READWRITE | SQLITE_OPEN_URI
        case .create: SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
        }
        let rc = sqlite3_open_v2(path, &db, flags | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK, let db else {
            let message = db.map { String(cString: sqlite3_errmsg($0)) } ?? "code \(rc)"
            sqlite3_close(db)
            throw BackupError(.database, "Could not open the database \(path).", detail: message)
        }
        if mode == .readerOnWritableFile, caps_sqlite3_disable_checkpoint_on_close(db) != SQLITE_OK {
            sqlite3_close(db)
            throw BackupError(.database, "Could not open the database \(path) without checkpointing it on close.")
        }
        if untrusted {
            // Before any statement: the schema is read (and its expressions prepared) on first use.
            guard caps_sqlite3_set_defensive(db) == SQLITE_OK,
                  sqlite3_exec(db, "PRAGMA trusted_schema=OFF", nil, nil, nil) == SQLITE_OK else {
                sqlite3_close(db)
                throw BackupError(.database, "Could not open the database \(path) in the safe mode used for files from an archive.")
            }
        }
        handle = db
        self.path = path
        sqlite3_busy_timeout(db, busyTimeoutMs)
        sqlite3_extended_result_codes(db, 1)
    }

    /// Whether the connection is in defensive mode and distrusts its schema (see `untrusted`).
    var isUntrustedMode: Bool {
        get throws {
            let trustsSchema = try integer("PRAGMA trusted_schema")
            return caps_sqlite3_is_defensive(handle) == 1 && trustsSchema == 0
        }
    }

    deinit { sqlite3_close_v2(handle) }

    public func execute(_ sql: String) throws {
        var message: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(handle, sql, nil, nil, &message)
        if rc != SQLITE_OK {
            let text = message.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(handle))
            sqlite3_free(message)
            throw error(rc, text, sql)
        }
    }

    /// Runs a query and returns every row's columns as text (NULL as nil).
    public func rows(_ sql: String, limit: Int = .max) throws -> [[String?]] {
        var statement: OpaquePointer?
        var rc = sqlite3_prepare_v2(handle, sql, -1, &statement, nil)
        guard rc == SQLITE_OK else { throw error(rc, String(cString: sqlite3_errmsg(handle)), sql) }
        defer { sqlite3_finalize(statement) }
        var result: [[String?]] = []
        while true {
            rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw error(rc, String(cString: sqlite3_errmsg(handle)), sql) }
            let columns = sqlite3_column_count(statement)
            result.append((0..<columns).map { i in sqlite3_column_text(statement, i).map { String(cString: $0) } })
            if result.count >= limit { break }
        }
        return result
    }

    public func scalar(_ sql: String) throws -> String? {
        try rows(sql, limit: 1).first?.first ?? nil
    }

    public func integer(_ sql: String) throws -> Int {
        Int(try scalar(sql) ?? "") ?? 0
    }

    /// `PRAGMA integrity_check` (or `quick_check`): nil when the database is sound, else the first problems.
    /// It takes ~19 s per GiB and says nothing meanwhile, so with `progress` it reports, a few times a
    /// second, the bytes SQLite has read so far (its page-cache misses) against the file's size.
    public func integrityProblems(quick: Bool = false, progress: ProgressHandler? = nil) throws -> [String]? {
        let reporter = try progress.map { handler in
            let total = UInt64(max(0, try integer("PRAGMA page_count"))) * UInt64(max(0, try integer("PRAGMA page_size")))
            handler(ProgressEvent(phase: .integrityCheck, bytesDone: 0, bytesTotal: total))
            return CheckReporter(connection: handle, pageSize: UInt64(max(0, try integer("PRAGMA page_size"))), total: total, progress: handler)
        }
        if let reporter {
            sqlite3_progress_handler(handle, 20_000, { context in
                Unmanaged<CheckReporter>.fromOpaque(context!).takeUnretainedValue().tick()
                return 0
            }, Unmanaged.passUnretained(reporter).toOpaque())
        }
        defer {
            if let reporter {
                sqlite3_progress_handler(handle, 0, nil, nil)
                reporter.finish()
            }
        }
        let lines = try rows(quick ? "PRAGMA quick_check(20)" : "PRAGMA integrity_check(20)").compactMap { $0.first ?? nil }
        return lines == ["ok"] ? nil : lines
    }

    /// `PRAGMA foreign_key_check`: the number of violations.
    public func foreignKeyViolations() throws -> Int {
        try rows("PRAGMA foreign_key_check").count
    }

    /// Copies every page of `source` into this database as ONE write transaction
    /// (`sqlite3_backup_step(-1)`). Other connections see the old content or the new, never a mix;
    /// a crash midway leaves the old content, because the transaction never committed.
    /// A stepped copy is not an option: every commit by the POS would restart it.
    ///
    /// Returns what the copy itself saw, read from the backup handle before it is finished: the
    /// source's page count and how many of its pages were left uncopied (0 on success). That is the
    /// one honest account of the copy: once the step commits, other writers may change this database,
    /// so anything read from it afterwards describes their writes too.
    @discardableResult
    public func replaceContents(from source: SQLiteConnection) throws -> CopiedPages {
        guard let backup = sqlite3_backup_init(handle, "main", source.handle, "main") else {
            throw error(sqlite3_errcode(handle), String(cString: sqlite3_errmsg(handle)), "backup_init")
        }
        var rc: Int32
        repeat {
            rc = sqlite3_backup_step(backup, -1)
            // BUSY/LOCKED: the busy handler already waited its timeout; try a few more times.
        } while rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? retryBudget() : false
        let copied = CopiedPages(sourcePages: Int(sqlite3_backup_pagecount(backup)), remaining: Int(sqlite3_backup_remaining(backup)))
        let finish = sqlite3_backup_finish(backup)
        guard rc == SQLITE_DONE, finish == SQLITE_OK else {
            throw error(rc == SQLITE_DONE ? finish : rc, String(cString: sqlite3_errmsg(handle)), "backup_step")
        }
        return copied
    }

    /// What one `replaceContents` copied, as the backup API reported it inside its own transaction.
    public struct CopiedPages: Sendable, Equatable {
        /// The source's page count when the copy ran; the destination was set to exactly this size.
        public var sourcePages: Int
        /// Source pages not copied: 0 for a complete copy.
        public var remaining: Int
    }

    private var retries = 0
    private func retryBudget() -> Bool {
        retries += 1
        if retries > 5 { return false }
        usleep(200_000)
        return true
    }

    private func error(_ rc: Int32, _ message: String, _ sql: String) -> BackupError {
        let primary = rc & 0xFF
        if primary == SQLITE_FULL {
            return BackupError(.insufficientSpace, "The disk is full.", detail: "\(message) [\(sql)]")
        }
        if primary == SQLITE_BUSY || primary == SQLITE_LOCKED {
            return BackupError(.busy, "The database stayed locked by another program for too long.", detail: "\(message) [\(sql)]")
        }
        if primary == SQLITE_CORRUPT || primary == SQLITE_NOTADB {
            return BackupError(.corruptArchive, "The database file is damaged or is not a database.", detail: "\(message) [\(sql)]")
        }
        return BackupError(.database, "A database operation failed: \(message)", detail: "\(sql) (code \(rc))")
    }
}

/// Turns SQLite's progress callbacks (every 20,000 VM steps) during a check into progress events, at most
/// four a second. A page read more than once counts again, so the count is capped below the total.
private final class CheckReporter {
    private let connection: OpaquePointer
    private let pageSize: UInt64
    private let total: UInt64
    private let progress: ProgressHandler
    private var lastReport = CheckReporter.monotonicNow()

    init(connection: OpaquePointer, pageSize: UInt64, total: UInt64, progress: @escaping ProgressHandler) {
        self.connection = connection
        self.pageSize = pageSize
        self.total = total
        self.progress = progress
    }

    func tick() {
        let now = Self.monotonicNow()
        guard now - lastReport >= 0.25 else { return }
        lastReport = now
        progress(ProgressEvent(phase: .integrityCheck, bytesDone: min(pagesRead * pageSize, total &- 1), bytesTotal: total))
    }

    func finish() { progress(ProgressEvent(phase: .integrityCheck, bytesDone: total, bytesTotal: total)) }

    private var pagesRead: UInt64 {
        var current: Int32 = 0
        var highest: Int32 = 0
        sqlite3_db_status(connection, SQLITE_DBSTATUS_CACHE_MISS, &current, &highest, 0)
        return UInt64(max(0, current))
    }

    private static func monotonicNow() -> Double {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
    }
}

/// Quotes a string as an SQL literal.
func sqlLiteral(_ text: String) -> String {
    "'" + text.replacingOccurrences(of: "'", with: "''") + "'"
}
