import BackupCore
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("Alerts: de-duplication and the webhook")
struct AlertTests {
    @Test("A failing hourly raises one alert counted 24 times, not 24 alerts; the detail is the latest")
    func deduplication() throws {
        let dir = TemporaryDirectory()
        let catalog = try makeContext(dir, posDatabase: nil).catalog
        for hour in 0..<24 {
            let error = BackupError(.io, "disk error at hour \(hour)")
            try catalog.raise(.scheduledBackupFailedTwice(.dbIncremental, error), at: Date(timeIntervalSince1970: Double(hour) * 3_600))
        }
        try catalog.raise(.scheduledBackupFailedTwice(.dbFull, BackupError(.io, "x")), at: Date())
        let alerts = try catalog.alerts()
        #expect(alerts.count == 2)
        let hourly = try #require(alerts.first { $0.message.contains("hourly") })
        #expect(hourly.count == 24 && hourly.severity == .critical && hourly.kind == "scheduled-backup-failed")
        #expect(hourly.detail == "disk error at hour 23")
        #expect(!hourly.message.contains("disk error"), "the message stays fixed so that repeats are counted")
    }

    @Test("Every alert event has a fixed, plain message and a kind")
    func events() {
        let error = BackupError(.insufficientSpace, "Not enough free disk space: 3 GiB needed, 1 GiB free.")
        let events: [AlertEvent] = [
            .backupFailed(.files, error), .scheduledBackupFailedTwice(.dbFull, error), .insufficientSpace(.dbFull, error),
            .brokenIncrementalChain(backupId: 7, detail: "parent 6 is missing"), .retentionWouldDeleteAll(.files),
            .retentionFailed(error), .schedulerError("boom"),
        ]
        #expect(Set(events.map(\.kind)).count == events.count)
        for event in events {
            #expect(!event.message.isEmpty && !event.message.contains("GiB") && !event.message.contains("boom"))
        }
        #expect(AlertEvent.brokenIncrementalChain(backupId: 7, detail: "parent 6 is missing").detail == "backup 7: parent 6 is missing")
    }

    /// A catalog with a webhook URL pointing at `server`, and a notifier whose backoff sleeps are recorded.
    struct Setup {
        let dir = TemporaryDirectory("webhook")
        let catalog: Catalog
        let server: WebhookTestServer
        let sleeps = SleepRecorder()
        var notifier: WebhookNotifier

        init(_ statuses: [Int]) throws {
            catalog = try makeContext(dir, posDatabase: nil).catalog
            server = try WebhookTestServer(statuses: statuses)
            var settings = BackupSettings()
            settings.alerts.webhookURL = "http://127.0.0.1:\(server.port)/hook"
            try SettingsStore(catalog: catalog).save(settings)
            let sleeps = self.sleeps
            notifier = WebhookNotifier(catalog: catalog, retry: .init(attempts: 4, firstDelay: 1, maxDelay: 30), timeout: 5,
                                       host: "store-1", sleep: { sleeps.record($0) })
        }
    }

    @Test("A webhook that answers 500 is retried with backoff; the alert is sent once, repeats are not resent")
    func retryAfter500() async throws {
        let setup = try Setup([500, 200, 200])
        try setup.catalog.raise(.insufficientSpace(.dbFull, BackupError(.insufficientSpace, "3 GiB needed")), at: Date())

        #expect(try await setup.notifier.deliverPending() == .init(delivered: 1))
        let requests = setup.server.requests
        #expect(requests.count == 2 && requests[0] == requests[1])
        #expect(setup.sleeps.delays == [1])
        let payload = try JSONDecoder().decode(Payload.self, from: try #require(requests.first))
        #expect(payload.kind == "disk-space" && payload.severity == "critical" && payload.host == "store-1" && payload.count == 1)
        #expect(payload.source == "caps-backup" && payload.text.contains("not enough free disk space"))

        // The same alert again only counts; nothing new goes out. A different one does.
        try setup.catalog.raise(.insufficientSpace(.dbFull, BackupError(.insufficientSpace, "4 GiB needed")), at: Date())
        #expect(try await setup.notifier.deliverPending() == .init(delivered: 0))
        try setup.catalog.raise(.schedulerError("boom"), at: Date())
        #expect(try await setup.notifier.deliverPending() == .init(delivered: 1))
        #expect(setup.server.requests.count == 3)
    }

    @Test("An unreachable webhook is retried with exponential backoff, then left pending for the next pass")
    func unreachable() async throws {
        var setup = try Setup([])
        setup.server.stop()
        try setup.catalog.raise(.schedulerError("boom"), at: Date())
        let report = try await setup.notifier.deliverPending()
        #expect(report.delivered == 0 && report.failure != nil)
        #expect(setup.sleeps.delays == [1, 2, 4])

        let again = try WebhookTestServer(statuses: [200])
        var settings = try SettingsStore(catalog: setup.catalog).load()
        settings.alerts.webhookURL = "http://127.0.0.1:\(again.port)/hook"
        try SettingsStore(catalog: setup.catalog).save(settings)
        setup.notifier.retry.attempts = 1
        #expect(try await setup.notifier.deliverPending() == .init(delivered: 1))
    }

    @Test("A 4xx is not retried (it will not get better); the alert stays pending")
    func clientError() async throws {
        let setup = try Setup([404])
        try setup.catalog.raise(.schedulerError("boom"), at: Date())
        let report = try await setup.notifier.deliverPending()
        #expect(report.failure?.contains("404") == true)
        #expect(setup.server.requests.count == 1 && setup.sleeps.delays.isEmpty)
    }

    @Test("Without a webhook URL nothing is sent")
    func noURL() async throws {
        // A server that would see any request: one alert goes out while the URL is set, none after it is cleared.
        let setup = try Setup([200, 200])
        try setup.catalog.raise(.schedulerError("first"), at: Date())
        #expect(try await setup.notifier.deliverPending() == .init(delivered: 1))
        try SettingsStore(catalog: setup.catalog).save(BackupSettings())
        try setup.catalog.raise(.schedulerError("second"), at: Date())
        #expect(try await setup.notifier.deliverPending() == .init(delivered: 0))
        #expect(setup.server.requests.count == 1, "a request was made without a webhook URL")
    }

    struct Payload: Decodable {
        var source: String
        var host: String
        var kind: String
        var severity: String
        var count: Int
        var text: String
    }
}

final class SleepRecorder: Sendable {
    private let state = Mutexed<[TimeInterval]>([])
    func record(_ delay: TimeInterval) { state.withLock { $0.append(delay) } }
    var delays: [TimeInterval] { state.withLock { $0 } }
}

final class Mutexed<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func withLock<T>(_ body: (inout Value) -> T) -> T { lock.withLock { body(&value) } }
}

/// A minimal HTTP/1.1 server on 127.0.0.1 (loopback only) for webhook tests: answers each request
/// with the next status of its script (200 when the script runs out) and keeps the request bodies.
final class WebhookTestServer: @unchecked Sendable {
    let port: UInt16
    private let listener: Int32
    private let state: Mutexed<(statuses: [Int], bodies: [Data], stopped: Bool)>

    init(statuses: [Int]) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && listen(fd, 16) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw BackupError(.io, "test server: bind failed") }
        listener = fd
        port = UInt16(bigEndian: address.sin_port)
        state = Mutexed((statuses, [], false))
        let thread = Thread { [self] in serve() }
        thread.start()
    }

    var requests: [Data] { state.withLock { $0.bodies } }

    /// Closes the listening socket: connections are refused from now on.
    func stop() {
        state.withLock { $0.stopped = true }
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    deinit { if !state.withLock({ $0.stopped }) { stop() } }

    private func serve() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 { return }
            handle(client)
            close(client)
        }
    }

    private func handle(_ client: Int32) {
        var received = Data()
        var buffer = [UInt8](repeating: 0, count: 4096)
        var bodyStart: Int?
        var contentLength = 0
        while true {
            if let start = bodyStart, received.count - start >= contentLength { break }
            let n = read(client, &buffer, buffer.count)
            if n <= 0 { return }
            received.append(contentsOf: buffer[0..<n])
            if bodyStart == nil, let end = received.range(of: Data("\r\n\r\n".utf8)) {
                bodyStart = end.upperBound
                let head = String(decoding: received[..<end.lowerBound], as: UTF8.self).lowercased()
                for line in head.split(separator: "\r\n") where line.hasPrefix("content-length:") {
                    contentLength = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
                }
            }
        }
        let body = received[bodyStart!..<(bodyStart! + contentLength)]
        let status = state.withLock { s -> Int in
            s.bodies.append(Data(body))
            return s.statuses.isEmpty ? 200 : s.statuses.removeFirst()
        }
        let response = "HTTP/1.1 \(status) X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        _ = response.withCString { write(client, $0, strlen($0)) }
    }
}
