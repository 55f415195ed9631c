import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// An ordered, bounded hand-off between reader threads and the one writer: readers claim work items
/// in order and may run at most `maxAhead` items ahead of the writer (that bounds memory); the writer
/// takes results strictly in order. One mutex, two condition variables, and a signal only when the
/// other side is actually waiting, so 52,000 files cost a few thousand wake-ups, not 100,000.
final class OrderedHandOff<Result>: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var readyCondition = pthread_cond_t()
    private var spaceCondition = pthread_cond_t()
    private let count: Int
    private let maxAhead: Int
    private var nextClaim = 0
    private var nextTake = 0
    private var results: [Result?]
    private var writerWaiting = false
    private var readersWaiting = 0
    private(set) var failure: (any Error)?

    init(count: Int, maxAhead: Int) {
        self.count = count
        self.maxAhead = maxAhead
        results = Array(repeating: nil, count: count)
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&readyCondition, nil)
        pthread_cond_init(&spaceCondition, nil)
    }

    deinit {
        pthread_cond_destroy(&readyCondition)
        pthread_cond_destroy(&spaceCondition)
        pthread_mutex_destroy(&mutex)
    }

    /// The next item for a reader, or nil when all are claimed or the work was cancelled.
    func claim() -> Int? {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while failure == nil, nextClaim < count, nextClaim - nextTake >= maxAhead {
            readersWaiting += 1
            pthread_cond_wait(&spaceCondition, &mutex)
            readersWaiting -= 1
        }
        guard failure == nil, nextClaim < count else { return nil }
        defer { nextClaim += 1 }
        return nextClaim
    }

    func deliver(_ result: Result, for index: Int) {
        pthread_mutex_lock(&mutex)
        results[index] = result
        if writerWaiting && index == nextTake { pthread_cond_signal(&readyCondition) }
        pthread_mutex_unlock(&mutex)
    }

    /// The result of the next item in order; waits for it. Throws the first failure reported.
    func take() throws -> Result {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while failure == nil, results[nextTake] == nil {
            writerWaiting = true
            pthread_cond_wait(&readyCondition, &mutex)
            writerWaiting = false
        }
        if let failure { throw failure }
        let result = results[nextTake]!
        results[nextTake] = nil
        nextTake += 1
        if readersWaiting > 0 { pthread_cond_broadcast(&spaceCondition) }
        return result
    }

    /// Stops everything: readers get no more work, the writer's `take` throws `error`.
    func fail(_ error: any Error) {
        pthread_mutex_lock(&mutex)
        if failure == nil { failure = error }
        pthread_cond_broadcast(&spaceCondition)
        pthread_cond_broadcast(&readyCondition)
        pthread_mutex_unlock(&mutex)
    }
}

/// Runs `body` on `count` new threads and waits for all of them.
func runThreads(_ count: Int, name: String, _ body: @escaping @Sendable (Int) -> Void) -> ThreadGroup {
    let group = ThreadGroup()
    for i in 0..<count {
        group.group.enter()
        let thread = Thread { [group] in
            body(i)
            group.group.leave()
        }
        thread.name = "\(name)-\(i)"
        thread.start()
    }
    return group
}

final class ThreadGroup: @unchecked Sendable {
    let group = DispatchGroup()
    func wait() { group.wait() }
}
