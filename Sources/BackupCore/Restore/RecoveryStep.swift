import Foundation

/// What a store manager can do after a failed restore (R7.6, R11.7), as facts; `sentence` words the
/// facts every reader shares, and the command line and the API word the ones that name a way to act.
public enum RecoveryStep: Sendable, Equatable {
    case liveDatabaseUnchanged(path: String)
    /// The apply began: the live database holds its old content or the restored one, never a mix.
    case liveDatabaseOldOrNew(path: String)
    case preRestoreCopyKept(path: String)
    /// How to go back to the pre-restore copy.
    case returnToPreRestoreCopy(copy: String, live: String)
    /// A fact about files or config files (how far their restore got), the same for every reader.
    case note(String)
    /// The record of this restore, where the details are.
    case seeRestoreRecord(id: Int64?)

    /// The wording of the steps that name no command, flag or screen; nil for the others.
    public var sentence: String? {
        switch self {
        case .liveDatabaseUnchanged(let path): "The live database \(path) was not changed."
        case .liveDatabaseOldOrNew(let path):
            "The live database \(path) holds either its previous content or the restored one: the swap is a single transaction, never a mix."
        case .preRestoreCopyKept(let path): "A copy of the database as it was before this restore is kept at \(path)."
        case .note(let text): text
        case .returnToPreRestoreCopy, .seeRestoreRecord: nil
        }
    }

    /// Without caps-backup, as any technician can do it.
    public static func restoreByHand(copy: String, live: String) -> String {
        "Without caps-backup: stop the POS, then run: sqlite3 \(live) \".restore '\(copy)'\""
    }
}
