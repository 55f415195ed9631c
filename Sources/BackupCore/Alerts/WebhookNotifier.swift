import Foundation
import GRDB
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Sends alerts to the store's webhook (`settings.alerts.webhookURL`) as JSON POSTs.
///
/// The catalog is the outbox: a job only writes an alert row, and this notifier, run by the
/// scheduler process, later posts every unacknowledged row not yet sent (`notified_at` is null), so a
/// slow or dead webhook never fails or delays a backup, and an alert raised by any process (CLI,
/// server, scheduler) goes out once. A repeat of the same alert only raises its count: it is not sent
/// again. Each POST is retried with exponential backoff on network errors, 408, 429 and 5xx.
public struct WebhookNotifier: Sendable {
    public struct Retry: Sendable {
        public var attempts: Int
        public var firstDelay: TimeInterval
        public var maxDelay: TimeInterval
        public init(attempts: Int = 4, firstDelay: TimeInterval = 1, maxDelay: TimeInterval = 30) {
            self.attempts = attempts
            self.firstDelay = firstDelay
            self.maxDelay = maxDelay
        }
    }

    /// What one pass did: how many alerts went out, and why it stopped early if it did.
    public struct Report: Sendable, Equatable {
        public var delivered: Int
        public var failure: String?
        public init(delivered: Int, failure: String? = nil) {
            self.delivered = delivered
            self.failure = failure
        }
    }

    public let catalog: Catalog
    public var retry: Retry
    public var timeout: TimeInterval
    public var host: String
    public var now: @Sendable () -> Date
    public var sleep: @Sendable (TimeInterval) async throws -> Void

    public init(catalog: Catalog, retry: Retry = Retry(), timeout: TimeInterval = 10, host: String = ProcessInfo.processInfo.hostName,
                now: @escaping @Sendable () -> Date = { Date() },
                sleep: @escaping @Sendable (TimeInterval) async throws -> Void = { try await Task.sleep(for: .seconds($0)) }) {
        self.catalog = catalog
        self.retry = retry
        self.timeout = timeout
        self.host = host
        self.now = now
        self.sleep = sleep
    }

    /// Posts the pending alerts, oldest first. Stops at the first one that cannot be delivered (the
    /// endpoint is down or refuses): it stays pending for the next pass.
    public func deliverPending() async throws -> Report {
        guard let text = try SettingsStore(catalog: catalog).load().alerts.webhookURL, let url = URL(string: text) else {
            return Report(delivered: 0)
        }
        var delivered = 0
        for alert in try catalog.alertsAwaitingWebhook() {
            do {
                try await send(alert, to: url)
            } catch {
                return Report(delivered: delivered, failure: "alert \(alert.id ?? 0): \(error)")
            }
            try catalog.markWebhookSent(alert.id!, at: now())
            delivered += 1
        }
        return Report(delivered: delivered)
    }

    func send(_ alert: Alert, to url: URL) async throws {
        var request = URLRequest(url: url, timeoutInterval: timeout)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        request.httpBody = try Self.encoder.encode(WebhookPayload(alert, host: host))
        try await Self.deliver(request, retry: retry, sleep: sleep)
    }

    /// Sends `request` until it gets a 2xx: retried on network errors (a timeout included), 408, 429 and
    /// 5xx with exponential backoff; any other status throws at once. Shared with `HeartbeatPinger`.
    /// Each attempt is bounded by `request.timeoutInterval` (whole seconds): Foundation on Linux ignores
    /// a request's own timeout and applies its session's, so the session gets it.
    static func deliver(_ request: URLRequest, retry: Retry, endpoint: String = "the webhook",
                        sleep: @Sendable (TimeInterval) async throws -> Void) async throws {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = max(1, request.timeoutInterval.rounded(.up))
        let session = URLSession(configuration: configuration)
        defer { session.finishTasksAndInvalidate() }
        var delay = retry.firstDelay
        let attempts = max(1, retry.attempts)
        for attempt in 1...attempts {
            let failure: any Error
            do {
                let (_, response) = try await session.data(for: request)
                let status = (response as? HTTPURLResponse)?.statusCode ?? 0
                if (200..<300).contains(status) { return }
                let error = WebhookError(status: status, endpoint: endpoint)
                guard error.retryable else { throw error }
                failure = error
            } catch let error as WebhookError {
                throw error
            } catch {
                failure = error
            }
            if attempt == attempts { throw failure }
            try await sleep(delay)
            delay = min(delay * 2, retry.maxDelay)
        }
    }

    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(Timestamp.iso8601(date))
        }
        return e
    }()
}

/// The webhook's JSON body. `text` makes it readable as-is by Slack- and Mattermost-style hooks.
public struct WebhookPayload: Codable, Sendable, Equatable {
    public var source = "caps-backup"
    public var host: String
    public var id: Int64
    public var severity: AlertSeverity
    public var kind: String
    public var message: String
    public var detail: String?
    public var count: Int
    public var createdAt: Date
    public var text: String

    init(_ alert: Alert, host: String) {
        self.host = host
        id = alert.id ?? 0
        severity = alert.severity
        kind = alert.kind
        message = alert.message
        detail = alert.detail
        count = alert.count
        createdAt = alert.createdAt
        text = "caps-backup on \(host) [\(alert.severity.rawValue)]: \(alert.message)"
    }
}

struct WebhookError: Error, CustomStringConvertible {
    var status: Int
    var endpoint = "the webhook"
    /// A 4xx other than timeout or rate limit will not get better by asking again.
    var retryable: Bool { status >= 500 || status == 408 || status == 429 }
    var description: String { "\(endpoint) answered HTTP \(status)" }
}
