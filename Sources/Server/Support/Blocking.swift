import BackupCore
import Foundation

/// Runs blocking work (SQLite through GRDB, file reads and writes, archive verification) off
/// Swift's cooperative thread pool. That pool has one thread per core: two here. A handler
/// blocked in a catalog read there would stall every other request, so blocking calls hop to
/// this queue and the handler awaits the result.
enum Blocking {
    private static let queue = DispatchQueue(label: "caps-backup.server.blocking", qos: .userInitiated, attributes: .concurrent)

    static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }
}

/// Fires once; any number of tasks can wait for it, before or after it fired.
final class OnceSignal: Sendable {
    private let state = Locked<(fired: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func fire() {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { state in
            guard !state.fired else { return [] }
            state.fired = true
            defer { state.waiters = [] }
            return state.waiters
        }
        waiters.forEach { $0.resume() }
    }

    func wait() async {
        await withCheckedContinuation { continuation in
            let resumeNow = state.withLock { state in
                if state.fired { return true }
                state.waiters.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }
}
