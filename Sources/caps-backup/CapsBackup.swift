import ArgumentParser
import BackupCore
import Foundation

@main
struct CapsBackup: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "caps-backup",
        abstract: "Backups for a POS store server: database, product images and config, verified and restorable.",
        version: BackupContext.toolVersion,
        subcommands: [BackupCommand.self, VerifyCommand.self, RestoreCommand.self, ListCommand.self, DemoCommand.self, ServeCommand.self,
                      SchedulerCommand.self, PruneCommand.self, BenchRetentionCommand.self,
                      BenchSeedCatalogCommand.self, DriveCommand.self, DeleteCommand.self,
                      BenchDriveUploadCommand.self])

    /// As ArgumentParser's, except that a usage error exits with 2, as the README says and as most
    /// command-line tools do (ArgumentParser's own is 64, EX_USAGE).
    static func main() async {
        ProcessMemory.returnLargeBlocksWhenFreed()
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if let error = error as? BackupError {
                // As ArgumentParser printed it before (message and the technician's detail), plus what to type.
                let detail = error.detail.map { " (\($0))" } ?? ""
                FileHandle.standardError.write(Data(("Error: " + error.forCommandLine + detail + "\n").utf8))
                Foundation.exit(1)
            }
            if exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}
