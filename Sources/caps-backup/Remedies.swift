import BackupCore

/// BackupCore's errors say what can be done; on the command line that is a flag or a config key.
extension BackupError.Remedy {
    var forCommandLine: String {
        switch self {
        case .configurePOSDatabase: "Pass --pos-db PATH or set [store] pos_db in the config file."
        case .configureUploadsFolder: "Pass --uploads DIR or set [store] uploads in the config file."
        case .skipPreRestoreCopy: "To restore without it: --no-pre-restore-snapshot."
        case .chooseUploadsFolder: "Pass --uploads DIR."
        }
    }
}

extension BackupError {
    /// The message, with what to type about it.
    var forCommandLine: String { remedy.map { "\(message) \($0.forCommandLine)" } ?? message }
}

extension RecoveryStep {
    var forCommandLine: String {
        switch self {
        case .returnToPreRestoreCopy(let copy, let live):
            "To return to it: caps-backup restore \(copy) --yes. " + RecoveryStep.restoreByHand(copy: copy, live: live)
        case .seeRestoreRecord: "Details are in the restore job record: caps-backup list --restores"
        default: sentence ?? ""
        }
    }
}
