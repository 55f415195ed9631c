import BackupCore
import Testing
@testable import Server

/// BackupCore states what can be done; the API words it for the dashboard, never with the CLI's flags.
@Suite("Errors and recovery steps worded for the dashboard")
struct WordingTests {
    @Test("every remedy reads as a dashboard instruction, with no command-line flag", arguments: [
        BackupError.Remedy.configurePOSDatabase, .configureUploadsFolder, .skipPreRestoreCopy, .chooseUploadsFolder,
    ])
    func remedies(_ remedy: BackupError.Remedy) {
        let error = APIError.from(BackupError(.insufficientSpace, "Not enough free disk space for the pre-restore copy.", remedy: remedy))
        #expect(error.message.hasPrefix("Not enough free disk space for the pre-restore copy. "))
        #expect(!error.message.contains("--"), "\(error.message)")
    }

    @Test("the pre-restore copy is turned off with the API's own parameter")
    func preRestoreCopy() {
        #expect(APIError.from(BackupError(.insufficientSpace, "x", remedy: .skipPreRestoreCopy)).message.contains("preRestoreSnapshot=false"))
    }

    @Test("recovery steps name no CLI flag, except the one command only a technician on the server can run")
    func recoverySteps() {
        let steps: [RecoveryStep] = [.liveDatabaseUnchanged(path: "/srv/pos/pos.db"), .preRestoreCopyKept(path: "/p/copy.sqlite"),
                                     .note("No config file was changed."), .seeRestoreRecord(id: 7)]
        for step in steps { #expect(!step.forDashboard.contains("caps-backup") && !step.forDashboard.isEmpty, "\(step)") }
        #expect(RecoveryStep.returnToPreRestoreCopy(copy: "/p/copy.sqlite", live: "/srv/pos/pos.db").forDashboard.contains("a technician runs on the server"))
    }
}
