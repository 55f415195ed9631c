import Foundation

/// How often and how patiently to try again: exponential backoff with full jitter, honouring a
/// destination's `Retry-After`, as Google's and AWS's guidance describes.
public struct RetryPolicy: Sendable {
    public var attempts: Int
    public var baseDelay: Double
    public var maxDelay: Double

    public init(attempts: Int = 6, baseDelay: Double = 1, maxDelay: Double = 32) {
        self.attempts = attempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
    }

    /// The wait before try number `attempt + 1` (`attempt` counts from 1), with `random` in 0..<1.
    public func delay(afterAttempt attempt: Int, retryAfter: Double?, random: Double) -> Double {
        let ceiling = min(maxDelay, baseDelay * pow(2, Double(attempt - 1)))
        let jittered = ceiling * random
        return max(jittered, min(retryAfter ?? 0, maxDelay * 4))
    }
}

/// Any destination, with retries: transient errors are tried again with backoff, an upload continues
/// from the session it last reported; everything else (a full quota, a revoked grant, a rate limit
/// that outlasts the backoff) is passed straight on. The clock is injected, so tests never wait.
public struct RetryingDestination: Destination {
    public let base: any Destination
    public let policy: RetryPolicy
    private let sleep: @Sendable (Double) async throws -> Void
    private let random: @Sendable () -> Double

    public init(_ base: any Destination, policy: RetryPolicy = RetryPolicy(),
                sleep: @escaping @Sendable (Double) async throws -> Void = { try await Task.sleep(for: .seconds($0)) },
                random: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }) {
        self.base = base
        self.policy = policy
        self.sleep = sleep
        self.random = random
    }

    public var name: String { base.name }

    public func put(_ request: UploadRequest, resuming session: String?, onSession: @escaping @Sendable (String) -> Void,
                    progress: @escaping @Sendable (UInt64) -> Void) async throws -> RemoteObject {
        let latest = LatestSession(session)
        return try await retrying {
            try await base.put(request, resuming: latest.value, onSession: { latest.value = $0; onSession($0) }, progress: progress)
        }
    }

    public func list(prefix: String) async throws -> [RemoteObject] { try await retrying { try await base.list(prefix: prefix) } }

    public func get(_ id: String, range: Range<UInt64>?, into sink: @escaping @Sendable ([UInt8]) throws -> Void) async throws {
        // A read cut halfway continues after what the sink already has.
        let received = LatestCount()
        try await retrying {
            let start = (range?.lowerBound ?? 0) + received.value
            let rest = range.map { start..<$0.upperBound } ?? (received.value > 0 ? start..<UInt64.max : nil)
            try await base.get(id, range: rest, into: { bytes in
                try sink(bytes)
                received.value += UInt64(bytes.count)
            })
        }
    }

    public func delete(_ id: String) async throws { try await retrying { try await base.delete(id) } }
    public func stat(_ id: String) async throws -> RemoteObject? { try await retrying { try await base.stat(id) } }

    private func retrying<T>(_ operation: () async throws -> T) async throws -> T {
        var attempt = 1
        while true {
            do {
                return try await operation()
            } catch let error as DestinationError {
                guard case .transient(let retryAfter) = error.kind else { throw error }
                guard attempt < policy.attempts else {
                    if error.isRateLimit { throw DestinationError(.rateLimited, error.message) }
                    throw error
                }
                try await sleep(policy.delay(afterAttempt: attempt, retryAfter: retryAfter, random: random()))
                attempt += 1
            }
        }
    }
}

/// The newest session an upload reported, shared between its attempts.
private final class LatestSession: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: String?
    init(_ initial: String?) { stored = initial }
    var value: String? {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}

private final class LatestCount: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: UInt64 = 0
    var value: UInt64 {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
