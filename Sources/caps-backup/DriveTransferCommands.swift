import ArgumentParser
import BackupCore
import Destinations
import Foundation

extension DriveCommand {
    /// sync, list and download: the commands that move archives (they need the Drive destination).
    static let transferCommands: [any ParsableCommand.Type] = [DriveSyncCommand.self, DriveListCommand.self, DriveDownloadCommand.self]
}

extension DriveEnvironment {
    /// The connected Drive, or a clear error.
    func destination() throws -> any Destination {
        try requireClient()
        let session = GoogleSession(config: config, store: GoogleTokenStore(dataDirectory: context.dataDirectory), now: context.now)
        guard let destination = GoogleDriveConnector.destination(context: context, config: config, tokens: session) else {
            throw BackupError(.configuration, session.state == .revoked
                ? "Google Drive is disconnected: Google no longer accepts this service's access. Reconnect: caps-backup drive connect"
                : "Google Drive is not connected. Connect it: caps-backup drive connect --device")
        }
        return destination
    }
}

struct DriveSyncCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "sync", abstract: "Upload every pending copy to Google Drive now, then apply remote retention.")

    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions

    struct Record: Encodable {
        var backupId: Int64
        var status: String
        var remoteId: String?
        var size: Int64?
        var attempts: Int
        var error: String?
    }

    func run() async throws {
        let environment = try DriveEnvironment(store)
        let destination = try environment.destination()
        let copies = try await OffsiteCopier(context: environment.context, destination: destination).copyPending()
        let keep = try SettingsStore(catalog: environment.context.catalog).load().retention.remoteKeep
        let deletions = copies.contains { $0.status == .uploaded }
            ? try await RemoteRetention(context: environment.context, destination: destination, keep: keep).apply() : []
        let records = copies.map { Record(backupId: $0.jobId, status: $0.status.rawValue, remoteId: $0.remoteId, size: $0.size,
                                          attempts: $0.attempts, error: $0.error) }
        if output.json {
            for record in records { try Output.json(record) }
        } else if records.isEmpty {
            print("Nothing to upload: every copy is on Google Drive.")
        } else {
            print(Table(["BACKUP", "STATUS", "SIZE", "ATTEMPTS", "DRIVE FILE / ERROR"], records.map {
                [String($0.backupId), $0.status, $0.size.map { ByteCount.format($0) } ?? "-", String($0.attempts), $0.error ?? $0.remoteId ?? ""]
            }).render())
        }
        if !deletions.isEmpty { Output.error("Remote retention removed \(deletions.count) older cop\(deletions.count == 1 ? "y" : "ies") from Drive.") }
        if records.contains(where: { $0.status != DestObjectStatus.uploaded.rawValue }) { throw ExitCode(1) }
    }
}

struct DriveListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list",
                                                    abstract: "Compare the Drive folder with the catalog: matched, remote only, local only, mismatched.")

    @OptionGroup var store: StoreOptions
    @OptionGroup var output: OutputOptions

    func run() async throws {
        let environment = try DriveEnvironment(store)
        let report = try await Reconciler(context: environment.context, destination: try environment.destination()).reconcile()
        if output.json { return try Output.json(report) }
        print("Matched: \(report.matched.count)  Remote only: \(report.remoteOnly.count)  Local only: \(report.localOnly.count)  Mismatched: \(report.mismatched.count)")
    }
}

struct DriveDownloadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "download",
                                                    abstract: "Fetch one backup's archive from Google Drive, checked against its recorded SHA-256.")

    @Argument(help: "The backup's id or uuid.")
    var id: String

    @Option(name: .long, help: "Where to write the archive (must not exist).")
    var out: String

    @OptionGroup var store: StoreOptions

    func run() async throws {
        let environment = try DriveEnvironment(store)
        var context = environment.context
        context.offsite = [try environment.destination()]
        guard case .job(let job) = try BackupReference.resolve(id, in: context) else {
            throw BackupError(.invalidInput, "\(id) is not a backup id.")
        }
        let target = URL(fileURLWithPath: out)
        guard !FileManager.default.fileExists(atPath: target.path) else {
            throw BackupError(.invalidInput, "\(out) already exists; nothing was written. Name a new file.")
        }
        let scratch = context.dataDirectory.work("download-\(job.uuid)")
        defer { try? FileManager.default.removeItem(at: scratch) }
        // On a thread of its own, as jobs run: the fetch waits for async Drive calls.
        let store = context.archiveStore
        let file: URL = try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try store.fetchOffsiteCopy(of: job, scratch: scratch) }) }.start()
        }
        try FileManager.default.moveItem(at: file, to: target)
        print("Downloaded backup \(job.id!) from Google Drive to \(target.path) (SHA-256 checked).")
    }
}
