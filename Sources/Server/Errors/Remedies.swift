import BackupCore

/// BackupCore's errors say what can be done; through the API that is a request parameter or a setting
/// of the service, worded for the person at the dashboard.
extension BackupError.Remedy {
    var forDashboard: String {
        switch self {
        case .configurePOSDatabase: "The service's config file must name the POS database ([store] pos_db); ask the store's technician."
        case .configureUploadsFolder: "The service's config file must name the uploads folder ([store] uploads); ask the store's technician."
        case .skipPreRestoreCopy: "To restore without it, turn the pre-restore copy off (preRestoreSnapshot=false)."
        case .chooseUploadsFolder: "Restores from the dashboard go into the configured uploads folder; ask the store's technician to set it ([store] uploads)."
        }
    }
}

extension BackupError {
    /// The message, with what the dashboard's reader can do about it.
    var forDashboard: String { remedy.map { "\(message) \($0.forDashboard)" } ?? message }
}

extension RecoveryStep {
    var forDashboard: String {
        switch self {
        case .returnToPreRestoreCopy(let copy, let live):
            "To return to it, a technician runs on the server: caps-backup restore \(copy) --yes. " + RecoveryStep.restoreByHand(copy: copy, live: live)
        case .seeRestoreRecord(let id): "Details are in the log of restore \(id.map(String.init) ?? "") (Logs)."
        default: sentence ?? ""
        }
    }
}
