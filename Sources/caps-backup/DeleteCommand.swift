import ArgumentParser
import BackupCore
import Foundation

/// `caps-backup delete ID --yes [--json]`: deletes one backup's archive here and its off-site copies (R6.6,
/// R9.8), and says what went where. The catalog row stays, marked deleted. Retention (`prune`) deletes
/// local archives only; their off-site copies follow remote retention.
struct DeleteCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete", abstract: "Delete a backup: its archive on this server and its off-site copies (Google Drive).")

    @Argument(help: "A backup id (see `list`) or a backup uuid.")
    var backup: String

    @Flag(name: .long, help: "Confirm: the archive and its off-site copies are removed for good.")
    var yes = false

    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions

    struct Report: Encodable {
        var backup: BackupRecord
        var offsiteDeletions: [RemoteDeletion]
        var summary: String
    }

    func run() async throws {
        let context = try store.context()
        guard case .job(let job) = try BackupReference.resolve(backup, in: context) else {
            throw BackupError(.invalidInput, "\(backup) is not a backup in the catalog (see `caps-backup list`).")
        }
        guard yes else {
            Output.error("Deleting backup \(job.id!) removes its archive and its off-site copies for good. Run again with --yes to confirm.")
            throw ExitCode(2)
        }
        let result = try await BackupDeletion(context: context).deleteEverywhere(job, reason: "user:cli", actor: .system)
        if output.json {
            try Output.json(Report(backup: result.backup, offsiteDeletions: result.remote, summary: result.summary))
        } else {
            print(result.summary)
        }
        if result.remote.contains(where: { !$0.deleted }) { throw ExitCode(1) }
    }
}
