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
                      SchedulerCommand.self, PruneCommand.self, BenchRetentionCommand.self])
}
