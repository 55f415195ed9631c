import Foundation

/// Whether the POS database is "missing or empty" (R8.1): a fresh install that needs the restore wizard.
///
/// Empty means one of: the file does not exist; it has zero bytes (and no write-ahead log with
/// data beside it); or it is a SQLite database without a single table of its own (SQLite's internal
/// `sqlite_*` tables do not count). Anything else is not empty, including a file SQLite cannot read:
/// a damaged store is not a fresh one, and the wizard must never offer to overwrite it.
/// No POS database configured at all is not a fresh install either (there is nowhere to restore to).
public enum FreshInstall {
    public static func isEmpty(posDatabase: URL?) -> Bool {
        guard let posDatabase else { return false }
        guard POSIXFile.exists(posDatabase) else { return true }
        let size = { (url: URL) -> UInt64 in (try? POSIXFile.fileSize(url)) ?? 0 }
        if size(posDatabase) == 0 {
            return size(URL(fileURLWithPath: posDatabase.path + "-wal")) == 0
        }
        do {
            let connection = try SQLiteConnection(path: posDatabase.path, mode: .readOnly)
            return try connection.integer("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'") == 0
        } catch {
            return false
        }
    }
}
