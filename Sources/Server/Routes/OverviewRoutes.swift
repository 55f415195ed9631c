import BackupCore
import Destinations
import Foundation
import Hummingbird
import Scheduling

/// GET /api/v1/overview: the Backups page's header (R9.1) in one request.
struct OverviewRoutes {
    let services: APIServices

    func register(on api: RouterGroup<APIRequestContext>) {
        api.get("/overview") { _, _ in
            let running = services.coordinator.running
            let overview = try await Blocking.run { [services] in try Self.overview(services, running: running) }
            return try JSON.response(overview)
        }
    }

    struct Overview: Codable, Sendable {
        var lastDatabaseBackup: BackupView?
        var lastFileBackup: BackupView?
        var lastFullBackup: BackupView?
        var lastFailedBackup: BackupView?
        var nextRuns: [NextRun]
        var storage: Storage
        var destinations: [Destination]
        var alerts: Alerts
        var running: Running?
        /// The off-site copy: account, token state, last verified upload, pending uploads.
        var drive: GoogleDriveStatus
    }
    struct NextRun: Codable, Sendable { var kind: BackupKind; var at: Date }
    struct Storage: Codable, Sendable { var archiveCount: Int; var usedBytes: Int64; var freeBytes: Int64? }
    struct Destination: Codable, Sendable { var name: String; var status: String; var message: String }
    struct Alerts: Codable, Sendable { var open: Int; var newest: [Alert] }
    struct Running: Codable, Sendable {
        var job: String
        var id: Int64?
        var progress: ProgressUpdate?
    }

    static func overview(_ services: APIServices, running: (key: JobKey?, monitor: JobMonitor)?) throws -> Overview {
        let catalog = services.catalog
        func newest(_ kinds: [BackupKind], _ status: JobStatus) throws -> BackupView? {
            try kinds.compactMap { try catalog.jobs(kind: $0, status: status, limit: 1).first }
                .max { ($0.finishedAt ?? $0.startedAt) < ($1.finishedAt ?? $1.startedAt) }
                .map(BackupView.init)
        }
        let usage = try catalog.localArchiveUsage()
        let alerts = try catalog.alerts()
        let settings = try SettingsStore(catalog: catalog).load()
        let drive = try services.drive.status(services.context)
        var runningView: Running?
        if let running {
            switch running.key {
            case .backup(let id)?: runningView = Running(job: "backup", id: id, progress: running.monitor.latest)
            case .restore(let id)?: runningView = Running(job: "restore", id: id, progress: running.monitor.latest)
            case nil: runningView = Running(job: "starting", id: nil, progress: running.monitor.latest)
            case .upload?: runningView = nil   // off-site copies run beside the job slot, never in it (drive.uploadingBackupId)
            }
        }
        return Overview(
            lastDatabaseBackup: try newest([.dbFull, .dbIncremental], .succeeded),
            lastFileBackup: try newest([.files], .succeeded),
            lastFullBackup: try newest([.full], .succeeded),
            lastFailedBackup: try newest(BackupKind.allCases, .failed),
            nextRuns: ScheduleEstimate.nextRuns(settings.schedules, after: services.context.now()),
            storage: Storage(archiveCount: usage.count, usedBytes: usage.bytes,
                             freeBytes: (try? services.context.availableBytes(services.context.dataDirectory.root)).map { Int64(clamping: $0) }),
            destinations: [
                Destination(name: "local", status: "ok", message: "Archives are kept on this server's disk."),
                Self.driveDestination(drive),
            ],
            alerts: Alerts(open: alerts.count, newest: Array(alerts.prefix(5))),
            running: runningView,
            drive: drive)
    }

    static func driveDestination(_ drive: GoogleDriveStatus) -> Destination {
        switch drive.tokenState {
        case .notConnected: Destination(name: "google-drive", status: "not-configured", message: "Google Drive is not connected.")
        case .revoked: Destination(name: "google-drive", status: "error", message: "Google Drive is disconnected: reconnect it on the dashboard.")
        case .ok, .expired:
            drive.enabled
                ? Destination(name: "google-drive", status: "ok",
                              message: "Copies go to \(drive.account ?? "Google Drive"), folder \(drive.folder); \(drive.pendingUploads) waiting.")
                : Destination(name: "google-drive", status: "disabled", message: drive.disabledReason ?? "Copies to Google Drive are turned off.")
        }
    }
}

/// When each enabled schedule next fires: the scheduler's own rules (Scheduling's `Schedule` over
/// the store's `LocalCalendar`), so the dashboard shows what the scheduler will do.
enum ScheduleEstimate {
    static func nextRuns(_ schedules: BackupSettings.Schedules, after now: Date) -> [OverviewRoutes.NextRun] {
        let calendar = LocalCalendar(schedules.zone)
        return Schedule.enabled(schedules)
            .map { OverviewRoutes.NextRun(kind: $0.kind, at: $0.next(after: now, in: calendar)) }
            .sorted { $0.at < $1.at }
    }
}
