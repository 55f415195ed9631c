import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Dead-man's-switch pings in the convention of healthchecks.io and its peers (Cronitor, Uptime Kuma's
/// push monitors, Better Stack heartbeats): `GET URL/start` when a backup starts, `GET URL` when it
/// succeeded, `GET URL/fail` when it failed. The monitoring service raises the alarm when a success
/// does not arrive in time, which is the one failure an alert webhook cannot report: a service that
/// is down, or a scheduler that silently stopped running backups.
///
/// Which URL: `settings.heartbeat.databaseURL` for database backups (hourly and daily) and the monthly
/// full archive, `settings.heartbeat.filesURL` for file backups; no URL, no ping. The settings are read
/// when the event happens, so a change applies to the next job.
///
/// A ping never delays or fails a backup: it is sent from a background task, with a short timeout and
/// a few retries (the webhook's HTTP code and rules: network errors, 408, 429 and 5xx are retried with
/// backoff, another 4xx is not). Pings go out one after another in the order of the events, so a
/// `start` still being retried is never overtaken by its job's `success`. A ping that cannot be
/// delivered is reported (a `heartbeat.failed` JSON line on stderr by default) and dropped: the
/// missing ping is what the monitoring service is there to notice.
public final class HeartbeatPinger: @unchecked Sendable {
    // @unchecked: `last` and `pending` are only touched under `condition`.
    public enum Signal: String, Sendable, CaseIterable {
        case start, success, fail
    }

    /// What one ping did.
    public struct Result: Sendable, Equatable {
        public var kind: BackupKind
        public var signal: Signal
        /// The host pinged; not the URL, whose path is usually the check's secret key.
        public var host: String
        /// Why it was not delivered after every attempt; nil when it was.
        public var failure: String?
    }

    public struct Options: Sendable {
        /// Per attempt, connecting included; whole seconds, at least 1 (Foundation on Linux truncates a
        /// request's timeout to whole seconds, and takes 0 for "none").
        public var timeout: TimeInterval = 5
        public var retry = WebhookNotifier.Retry(attempts: 3, firstDelay: 1, maxDelay: 4)
        public var sleep: @Sendable (TimeInterval) async throws -> Void = { try await Task.sleep(for: .seconds($0)) }
        /// Called once per ping when it has been delivered or given up.
        public var report: @Sendable (Result) -> Void = HeartbeatPinger.logFailure
        public init() {}
    }

    public let catalog: Catalog
    public let options: Options
    private let condition = NSCondition()
    private var last: Task<Void, Never>?
    private var pending = 0

    public init(catalog: Catalog, options: Options = Options()) {
        self.catalog = catalog
        self.options = options
    }

    /// `URL/start`: a job of `kind` has started.
    public func started(_ kind: BackupKind) { send(.start, for: kind) }

    /// `URL` after a success, `URL/fail` after a failure; nothing after a skip (no job ran).
    public func ended(_ kind: BackupKind, _ outcome: BackupOutcome) {
        switch outcome {
        case .succeeded: send(.success, for: kind)
        case .failed: send(.fail, for: kind)
        case .skipped: break
        }
    }

    /// Queues one ping if the settings have a URL for `kind`; returns at once.
    public func send(_ signal: Signal, for kind: BackupKind) {
        guard let settings = try? SettingsStore(catalog: catalog).load(),
              let base = Self.baseURL(for: kind, in: settings.heartbeat), let url = Self.url(base, signal) else { return }
        let request = URLRequest(url: url, timeoutInterval: max(1, options.timeout.rounded(.up)))  // GET
        let options = options
        condition.withLock {
            let previous = last
            pending += 1
            last = Task.detached { [self] in
                await previous?.value
                var failure: String?
                do {
                    try await WebhookNotifier.deliver(request, retry: options.retry, endpoint: "the heartbeat endpoint", sleep: options.sleep)
                } catch {
                    failure = Self.describe(error)
                }
                options.report(Result(kind: kind, signal: signal, host: url.host ?? "", failure: failure))
                condition.withLock {
                    pending -= 1
                    if pending == 0 { condition.broadcast() }
                }
            }
        }
    }

    /// Returns when every ping queued so far has been delivered or given up.
    public func waitUntilSent() async {
        while let task = condition.withLock({ pending > 0 ? last : nil }) { await task.value }
    }

    /// The same, blocking the calling thread for at most `timeout` (for a command about to exit; never
    /// call it from Swift's cooperative pool). Returns whether everything was sent.
    @discardableResult
    public func waitUntilSent(timeout: TimeInterval) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        return condition.withLock {
            while pending > 0 { if !condition.wait(until: deadline) { return pending == 0 } }
            return true
        }
    }

    /// The configured URL for a kind of backup: the monthly full archive counts as a database backup.
    public static func baseURL(for kind: BackupKind, in settings: BackupSettings.HeartbeatSettings) -> String? {
        switch kind {
        case .dbFull, .dbIncremental, .full: settings.databaseURL
        case .files: settings.filesURL
        }
    }

    /// `base` for a success, `base/start` and `base/fail` (one slash, the query kept) for the others.
    public static func url(_ base: String, _ signal: Signal) -> URL? {
        guard var components = URLComponents(string: base), components.scheme == "http" || components.scheme == "https" else { return nil }
        if signal != .success {
            var path = components.percentEncodedPath
            while path.hasSuffix("/") { path.removeLast() }
            components.percentEncodedPath = path + "/" + signal.rawValue
        }
        return components.url
    }

    /// A network error in words, without the URL that Foundation's descriptions carry.
    static func describe(_ error: any Error) -> String {
        guard let error = error as? URLError else { return String(describing: error) }
        switch error.code {
        case .timedOut: return "no answer within the timeout"
        case .cannotConnectToHost: return "connection refused"
        case .cannotFindHost, .dnsLookupFailed: return "unknown host"
        case .networkConnectionLost: return "connection lost"
        default: return "network error \(error.code.rawValue)"
        }
    }

    /// The default report: a failed ping as one JSON line on stderr, like the scheduler's logs.
    public static let logFailure: @Sendable (Result) -> Void = { result in
        guard let failure = result.failure else { return }
        let object = ["at": Timestamp.iso8601(Date()), "level": "warning", "event": "heartbeat.failed", "kind": result.kind.rawValue,
                      "signal": result.signal.rawValue, "host": result.host, "error": failure]
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        FileHandle.standardError.write(data + Data("\n".utf8))
    }
}
