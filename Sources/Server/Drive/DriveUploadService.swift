import BackupCore
import Foundation
import ServiceLifecycle

/// Drains the outbox of off-site copies in `serve`'s background: at start-up, after each backup
/// (`JobCoordinator` signals it), and on `POST /api/v1/drive/sync`; then applies remote retention.
/// It never takes the job slot, so a long upload never holds back the next backup. Signals that arrive
/// while a drain runs are folded into one more drain afterwards.
public final class DriveUploadService: Service, Sendable {
    let context: BackupContext
    /// The destination to copy to, or nil while Google Drive is not connected.
    let destination: @Sendable () -> (any Destination)?
    /// Runs after a drain that stored at least one copy (remote retention).
    let afterUploads: @Sendable (any Destination) async throws -> Void
    /// Follows each copy (the event stream and the backup's log).
    let observer: OffsiteCopier.Observer?
    private let wakeUps: AsyncStream<Void>
    private let wake: AsyncStream<Void>.Continuation
    private let drained = Locked<[[BackupDestObject]]>([])

    public init(context: BackupContext, destination: @escaping @Sendable () -> (any Destination)?,
                afterUploads: @escaping @Sendable (any Destination) async throws -> Void = { _ in },
                observer: OffsiteCopier.Observer? = nil) {
        self.context = context
        self.destination = destination
        self.afterUploads = afterUploads
        self.observer = observer
        (wakeUps, wake) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
    }

    /// Asks for a drain (cheap; never waits).
    public func signal() { wake.yield() }

    public func run() async throws {
        signal()   // start-up: whatever an earlier run left pending
        await cancelWhenGracefulShutdown {
            for await _ in self.wakeUps {
                let copies = await self.drain()
                self.drained.withLock { $0.append(copies) }
            }
        }
    }

    /// The copies each drain tried, in order (for tests and the log).
    var drains: [[BackupDestObject]] { drained.current }

    /// One pass over the outbox. Failures stay in the catalog (each copy's status and error); the
    /// service's log gets one line per pass that could not run.
    func drain() async -> [BackupDestObject] {
        guard let destination = destination() else { return [] }
        do {
            let copies = try await OffsiteCopier(context: context, destination: destination).copyPending(observer: observer)
            if copies.contains(where: { $0.status == .uploaded }) { try await afterUploads(destination) }
            return copies
        } catch {
            context.diagnostics("off-site copies to \(destination.name) did not run: \(BackupError.wrap(error, "The upload pass failed.").message)")
            return []
        }
    }
}
