import GRDB
import GRDBSQLite

/// A prepared statement driven through the SQLite C API.
///
/// The seeder writes millions of rows; building GRDB `StatementArguments` for each would cost
/// more than SQLite's own work. GRDB still prepares and finalizes the statement.
struct BulkStatement {
    private let statement: Statement  // owns the sqlite3_stmt; finalized when released
    private let handle: OpaquePointer
    private let connection: OpaquePointer?

    init(_ db: Database, _ sql: String) throws {
        statement = try db.makeStatement(sql: sql)
        handle = statement.sqliteStatement
        connection = db.sqliteConnection
    }

    /// SQLITE_TRANSIENT: SQLite copies the text before `bind` returns.
    private static let transient = unsafeBitCast(OpaquePointer(bitPattern: -1), to: sqlite3_destructor_type.self)

    func bind(_ index: Int32, _ value: Int) {
        sqlite3_bind_int64(handle, index, Int64(value))
    }

    func bind(_ index: Int32, _ value: String) {
        var text = value
        _ = text.withUTF8 { bytes in
            // A nil pointer would bind NULL, so empty strings get a real (empty) C string.
            if let base = bytes.baseAddress {
                sqlite3_bind_text(handle, index, base, Int32(bytes.count), Self.transient)
            } else {
                sqlite3_bind_text(handle, index, "", 0, Self.transient)
            }
        }
    }

    func bind(_ index: Int32, _ value: String?) {
        if let value { bind(index, value) } else { sqlite3_bind_null(handle, index) }
    }

    func bind(_ index: Int32, _ value: Int?) {
        if let value { bind(index, value) } else { sqlite3_bind_null(handle, index) }
    }

    /// Runs the statement to completion and resets it for the next row.
    func run() throws {
        let code = sqlite3_step(handle)
        sqlite3_reset(handle)
        guard code == SQLITE_DONE || code == SQLITE_ROW else {
            let message = connection.map { String(cString: sqlite3_errmsg($0)) }
            throw DatabaseError(resultCode: ResultCode(rawValue: code), message: message, sql: statement.sql)
        }
    }

    /// Runs a one-row, one-column query such as `PRAGMA page_count`.
    func int() throws -> Int {
        defer { sqlite3_reset(handle) }
        guard sqlite3_step(handle) == SQLITE_ROW else {
            throw DatabaseError(resultCode: .SQLITE_ERROR, message: "no row", sql: statement.sql)
        }
        return Int(sqlite3_column_int64(handle, 0))
    }
}
