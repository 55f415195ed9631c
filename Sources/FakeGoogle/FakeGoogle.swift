import Foundation
import Hummingbird

/// A fake Google on loopback: the OAuth 2.0 endpoints (`FakeOAuth`) and Drive v3 (`FakeDrive`) on one
/// port, written from Google's public documentation and strict where Google is, so that code which
/// passes against it has a fair chance against the real thing. Faults are switched on through the
/// properties of `oauth` and `drive`; `clock` is injected so tests never wait for wall-clock time.
public final class FakeGoogle: Sendable {
    public let accessTokens: FakeAccessTokens
    public let oauth: FakeOAuth
    public let drive: FakeDrive

    public init(clock: @escaping @Sendable () -> Date = { Date() }) {
        accessTokens = FakeAccessTokens(clock: clock)
        oauth = FakeOAuth(accessTokens: accessTokens, clock: clock)
        drive = FakeDrive(accessTokens: accessTokens, clock: clock)
    }

    public func makeRouter() -> Router<BasicRequestContext> {
        let router = Router()
        oauth.addRoutes(to: router)
        drive.addRoutes(to: router)
        return router
    }

    /// Serves until the task is cancelled; `onRunning` gets the base URL (`http://127.0.0.1:PORT`) that
    /// stands for every Google endpoint (`/token`, `/device/code`, `/drive/v3`, `/upload/drive/v3`, …).
    public func run(host: String = "127.0.0.1", port: Int = 0,
                    onRunning: @escaping @Sendable (URL) async -> Void = { _ in }) async throws {
        let application = Application(
            router: makeRouter(),
            configuration: .init(address: .hostname(host, port: port), serverName: "fake-google"),
            onServerRunning: { channel in
                await onRunning(URL(string: "http://\(host):\(channel.localAddress?.port ?? port)")!)
            })
        // Handlers run on threads of their own, not on the cooperative pool (as wide as the cores): a test
        // process whose synchronous tests hold the pool would otherwise starve the fake, and its clients time out.
        try await withTaskExecutorPreference(FakeGoogle.executor) {
            try await application.runService(gracefulShutdownSignals: [])
        }
    }

    static let executor = DispatchTaskExecutor(label: "fake-google")

    /// Runs `body` with a fake Google serving on a free loopback port, and stops it afterwards.
    public func serving<T: Sendable>(_ body: @Sendable (URL) async throws -> T) async throws -> T {
        let (urls, continuation) = AsyncStream<URL>.makeStream()
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await self.run { url in continuation.yield(url) } }
            var iterator = urls.makeAsyncIterator()
            guard let url = await iterator.next() else { throw CancellationError() }
            defer { group.cancelAll() }
            return try await body(url)
        }
    }
}

/// The access tokens the token endpoint has issued, shared by OAuth (which issues them) and Drive
/// (which checks the `Authorization: Bearer` header of every call against them).
public final class FakeAccessTokens: Sendable {
    public struct Grant: Sendable, Equatable {
        public var account: String
        public var scope: String
        public var expiresAt: Date
    }

    private let clock: @Sendable () -> Date
    private let grants = FakeLocked<[String: Grant]>([:])

    init(clock: @escaping @Sendable () -> Date) { self.clock = clock }

    /// A new access token for `account`, valid for `lifetime` seconds (Google's are 3599).
    public func issue(account: String, scope: String, lifetime: TimeInterval = 3599) -> String {
        let token = "ya29.fake-" + UUID().uuidString
        grants.withLock { $0[token] = Grant(account: account, scope: scope, expiresAt: clock().addingTimeInterval(lifetime)) }
        return token
    }

    /// Every token of `account` stops working at once (a revoke, or a test that expires them).
    public func revokeAll(account: String) { grants.withLock { $0 = $0.filter { $0.value.account != account } } }

    /// One token stops working (`/revoke` with an access token).
    public func revoke(_ token: String) { grants.withLock { $0[token] = nil } }

    /// Makes every issued token expired, as an hour passing would.
    public func expireAll() { grants.withLock { for key in $0.keys { $0[key]!.expiresAt = .distantPast } } }

    /// The grant behind an `Authorization` header, or nil when it is missing, unknown or expired.
    public func grant(authorization header: String?) -> Grant? {
        guard let header, header.hasPrefix("Bearer ") else { return nil }
        let token = String(header.dropFirst("Bearer ".count))
        return grants.withLock { $0[token] }.flatMap { $0.expiresAt > clock() ? $0 : nil }
    }
}

/// A lock around a value (FakeGoogle depends on nothing of ours, BackupCore's `Locked` included).
public final class FakeLocked<Value: Sendable>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()
    public init(_ value: Value) { self.value = value }
    public func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

/// Runs tasks on a concurrent dispatch queue, whose threads are not bounded by the core count.
final class DispatchTaskExecutor: TaskExecutor, @unchecked Sendable {
    private let queue: DispatchQueue

    init(label: String) { queue = DispatchQueue(label: label, attributes: .concurrent) }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }
}
