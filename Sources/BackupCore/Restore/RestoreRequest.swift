import Foundation

/// What a restore should bring back from a backup, whatever its kind.
public struct RestoreRequest: Sendable {
    public enum Scope: String, Sendable { case everything, filesOnly, databaseOnly }

    public var scope: Scope
    /// Also the config files of a database or full backup, to the paths they were backed up from.
    public var withConfig: Bool
    public var files: FileRestoreOptions
    public var preRestoreSnapshot: Bool

    public init(scope: Scope = .everything, withConfig: Bool = false, files: FileRestoreOptions = FileRestoreOptions(),
                preRestoreSnapshot: Bool = true) {
        self.scope = scope
        self.withConfig = withConfig
        self.files = files
        self.preRestoreSnapshot = preRestoreSnapshot
    }

    /// Why this request does not fit a backup of `kind` (nil: a plain database file), in words for the
    /// person who asked; nil when it fits.
    public func problem(for kind: BackupKind?) -> String? {
        let holdsFiles = kind == .files || kind == .full
        if scope == .filesOnly, !holdsFiles { return "This backup holds no product files; restoring only files needs a files or full backup." }
        if scope == .databaseOnly, kind == .files { return "This is a file backup; it holds no database." }
        if files.deleteExtra, !holdsFiles || scope == .databaseOnly {
            return "Removing extra files applies to restoring product files (a files or full backup)."
        }
        if withConfig, kind == nil || kind == .files { return "This backup holds no config files (they are in database and full backups)." }
        return nil
    }
}
