import BackupCore
import Foundation

/// Puts each off-site copy that `serve`'s uploader makes on the event stream beside the jobs: a monitor
/// per attempt under `JobKey.upload(backupId)` (`GET /api/v1/backups/{id}/upload-progress`), whose lines
/// go into that backup's own log, so its page shows when and how its copy was made, also after a restart.
/// It also knows which backup is being copied right now, for the Drive status and the overview.
final class UploadProgress: Sendable {
    private let hub: ProgressHub
    private let context: BackupContext
    private let copying = Locked<Int64?>(nil)

    init(hub: ProgressHub, context: BackupContext) {
        self.hub = hub
        self.context = context
    }

    /// The backup whose copy is being uploaded now, if any.
    var current: Int64? { copying.current }

    var observer: OffsiteCopier.Observer {
        OffsiteCopier.Observer(begin: { [hub, context, copying] job, copy in
            guard let id = job.id else { return nil }
            let log = JobLogBook(catalog: context.catalog, owner: .backup, now: context.now,
                                 firstLine: "Off-site copy to \(copy.destination) started (attempt \(copy.attempts + 1))")
            let monitor = JobMonitor(now: context.now, log: log)
            monitor.record(.started(recordId: id))   // binds the log to the backup's
            hub.register(monitor, for: .upload(id))
            copying.withLock { $0 = id }
            return { monitor.record($0) }
        }, end: { [hub, context, copying] job, copy in
            guard let id = job.id, let monitor = hub.monitor(for: .upload(id)) else { return }
            let backup = (try? BackupView.decorated([job], catalog: context.catalog).first) ?? BackupView(job)
            monitor.finish(.upload(copy, backup: backup))
            copying.withLock { if $0 == id { $0 = nil } }
        })
    }
}
