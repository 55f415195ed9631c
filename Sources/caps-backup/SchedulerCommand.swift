import ArgumentParser
import BackupCore
import Dispatch
import Foundation
import Scheduling

/// `caps-backup scheduler`: the scheduler and the alert webhook in the foreground, until SIGINT or
/// SIGTERM (then it stops after the running backup; a second signal exits at once). Logs are JSON
/// lines on stderr. `caps-backup serve` will run the same two services.
struct SchedulerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "scheduler", abstract: "Run scheduled backups and send alerts, in the foreground, until SIGINT or SIGTERM.")

    @OptionGroup var store: StoreOptions

    func run() async throws {
        let context = try store.context()
        let scheduler = Scheduler(catalog: context.catalog, runner: BackupRunner(context: context))
        let alerts = AlertDeliveryService(notifier: WebhookNotifier(catalog: context.catalog))
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await scheduler.run() }
            group.addTask { await alerts.run() }
            group.addTask {
                let signal = await TerminationSignal.next()
                EventLog.standardError(.info, "scheduler.stopping", at: Date(), ["signal": String(signal)])
            }
            await group.next()
            group.cancelAll()
        }
    }
}

/// The first SIGINT or SIGTERM; a second one exits at once (a backup interrupted this way is
/// recovered at the next start).
enum TerminationSignal {
    private final class Sources: @unchecked Sendable {
        var list: [any DispatchSourceSignal] = []
        var received = false
        let lock = NSLock()
    }

    static func next() async -> Int32 {
        let sources = Sources()
        return await withCheckedContinuation { continuation in
            for number in [SIGINT, SIGTERM] {
                signal(number, SIG_IGN)
                let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
                source.setEventHandler {
                    let first = sources.lock.withLock {
                        defer { sources.received = true }
                        return !sources.received
                    }
                    if first { continuation.resume(returning: number) } else { exit(128 + number) }
                }
                source.resume()
                sources.list.append(source)
            }
        }
    }
}
