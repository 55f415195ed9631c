import BackupCore
import Foundation

/// Runs the webhook notifier beside the scheduler: a pass every `interval`; after a failed pass the
/// wait doubles, up to `maxInterval`, so a dead endpoint is not hammered; a success resets it.
public struct AlertDeliveryService: Sendable {
    public let notifier: WebhookNotifier
    public let clock: any SchedulerClock
    public let log: EventLog
    public var interval: TimeInterval = 30
    public var maxInterval: TimeInterval = 30 * 60

    public init(notifier: WebhookNotifier, clock: any SchedulerClock = SystemClock(), log: EventLog = .standardError) {
        self.notifier = notifier
        self.clock = clock
        self.log = log
    }

    /// Returns when the task is cancelled.
    public func run() async {
        var wait = interval
        while !Task.isCancelled {
            do {
                let report = try await notifier.deliverPending()
                if report.delivered > 0 { log(.info, "webhook.delivered", at: clock.now(), ["alerts": String(report.delivered)]) }
                if let failure = report.failure {
                    wait = min(wait * 2, maxInterval)
                    log(.warning, "webhook.failed", at: clock.now(), ["error": failure, "nextAttemptIn": "\(Int(wait))s"])
                } else {
                    wait = interval
                }
            } catch is CancellationError {
                break
            } catch {
                log(.error, "webhook.error", at: clock.now(), ["error": String(describing: error)])
            }
            do { try await clock.sleep(until: clock.now().addingTimeInterval(wait)) } catch { break }
        }
    }
}
