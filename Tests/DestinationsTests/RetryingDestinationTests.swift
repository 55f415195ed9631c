import BackupCore
import Destinations
import Foundation
import Testing

/// A destination that fails the first `failures` calls with `error`, then passes on to `base`.
final class Flaky: Destination, @unchecked Sendable {
    let base: any Destination
    private let lock = NSLock()
    private var failures: Int
    private let error: DestinationError
    private(set) var calls = 0
    var name: String { base.name }

    init(_ base: any Destination, failures: Int, error: DestinationError) {
        self.base = base
        self.failures = failures
        self.error = error
    }

    private func gate() throws {
        let fail = lock.withLock { () -> Bool in
            calls += 1
            guard failures > 0 else { return false }
            failures -= 1
            return true
        }
        if fail { throw error }
    }

    func put(_ request: UploadRequest, resuming session: String?, onSession: @escaping @Sendable (String) -> Void,
             progress: @escaping @Sendable (UInt64) -> Void) async throws -> RemoteObject {
        try gate()
        return try await base.put(request, resuming: session, onSession: onSession, progress: progress)
    }
    func list(prefix: String) async throws -> [RemoteObject] { try gate(); return try await base.list(prefix: prefix) }
    func get(_ id: String, range: Range<UInt64>?, into sink: @escaping @Sendable ([UInt8]) throws -> Void) async throws {
        try gate()
        try await base.get(id, range: range, into: sink)
    }
    func delete(_ id: String) async throws { try gate(); try await base.delete(id) }
    func stat(_ id: String) async throws -> RemoteObject? { try gate(); return try await base.stat(id) }
}

final class Sleeps: @unchecked Sendable {
    private let lock = NSLock()
    private var taken: [Double] = []
    func sleep(_ seconds: Double) { lock.withLock { taken.append(seconds) } }
    var all: [Double] { lock.withLock { taken } }
}

@Suite("Retries around any destination")
struct RetryingDestinationTests {
    @Test("transient errors are tried again with growing, jittered waits that honour Retry-After")
    func transientIsRetried() async throws {
        let scratch = try Scratch(size: 1000)
        defer { scratch.remove() }
        let flaky = Flaky(InMemoryDestination(), failures: 3, error: DestinationError(.transient(retryAfter: 7), "503"))
        let sleeps = Sleeps()
        let destination = RetryingDestination(flaky, policy: RetryPolicy(attempts: 5, baseDelay: 1, maxDelay: 32),
                                              sleep: { sleeps.sleep($0) }, random: { 0.5 })
        let put = try await destination.put(scratch.request(), resuming: nil, onSession: { _ in }, progress: { _ in })
        #expect(put.size == 1000)
        #expect(flaky.calls == 4)
        #expect(sleeps.all == [7, 7, 7], "Retry-After is the floor")

        let plain = Flaky(InMemoryDestination(), failures: 3, error: DestinationError(.transient(retryAfter: nil), "cut"))
        let backoff = Sleeps()
        _ = try await RetryingDestination(plain, policy: RetryPolicy(attempts: 5, baseDelay: 1, maxDelay: 32),
                                          sleep: { backoff.sleep($0) }, random: { 0.5 }).list(prefix: "")
        #expect(backoff.all == [0.5, 1, 2], "exponential with jitter")
    }

    @Test("a full quota, a revoked grant and a long rate limit are passed on at once", arguments: [
        DestinationError.Kind.quotaExceeded, .unauthorized, .rateLimited, .permanent,
    ])
    func permanentIsNotRetried(_ kind: DestinationError.Kind) async throws {
        let flaky = Flaky(InMemoryDestination(), failures: 1, error: DestinationError(kind, "no"))
        let sleeps = Sleeps()
        let destination = RetryingDestination(flaky, sleep: { sleeps.sleep($0) })
        await #expect(throws: DestinationError.self) { _ = try await destination.list(prefix: "") }
        #expect(flaky.calls == 1 && sleeps.all.isEmpty)
    }

    @Test("retries give up after the policy's attempts, with the last error")
    func givesUp() async throws {
        let flaky = Flaky(InMemoryDestination(), failures: 10, error: DestinationError(.transient(retryAfter: nil), "503"))
        let destination = RetryingDestination(flaky, policy: RetryPolicy(attempts: 3), sleep: { _ in })
        await #expect(throws: DestinationError.self) { _ = try await destination.stat("x") }
        #expect(flaky.calls == 3)
    }

    @Test("a cut upload continues from its session: the bytes stored add up to the file once")
    func cutUploadResumes() async throws {
        let scratch = try Scratch(size: 1 << 20)
        defer { scratch.remove() }
        let memory = InMemoryDestination()
        memory.cutNextUpload(after: 300_000)
        let sessions = Collected()
        let destination = RetryingDestination(memory, sleep: { _ in })
        let put = try await destination.put(scratch.request(), resuming: nil, onSession: { sessions.append(Array($0.utf8)) },
                                            progress: { _ in })
        #expect(memory.callCount("put") == 2)
        #expect(try await read(memory, put.id) == scratch.bytes)
        #expect(String(decoding: sessions.all, as: UTF8.self) == "session-1session-1", "the second attempt reused the session")
    }
}
