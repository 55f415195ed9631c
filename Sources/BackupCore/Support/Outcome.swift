import Foundation

/// The result of work done on another thread, handed back once it has finished.
final class Outcome<Value>: @unchecked Sendable {
    private var result: Result<Value, any Error>?
    private let lock = NSLock()

    func set(_ work: () throws -> Value) {
        let value = Result(catching: work)
        lock.withLock { result = value }
    }

    func get() throws -> Value {
        guard let result = lock.withLock({ result }) else { throw BackupError(.io, "A step that ran on another core did not finish.") }
        return try result.get()
    }
}

/// Runs two pieces of blocking work at once, one core each, and waits for both; each outcome is
/// read (and its error thrown) when and in the order the caller chooses.
func inParallel<A, B>(_ first: @escaping () throws -> A, _ second: @escaping () throws -> B) -> (Outcome<A>, Outcome<B>) {
    let a = Outcome<A>(), b = Outcome<B>()
    let work = UnsafeSendable((first, second))
    DispatchQueue.concurrentPerform(iterations: 2) { task in
        if task == 0 { a.set(work.value.0) } else { b.set(work.value.1) }
    }
    return (a, b)
}

/// Blocking work on a thread of its own, for work that holds a core for seconds (a `VACUUM INTO`)
/// while the caller's thread does something else meanwhile and looks in now and then.
final class BackgroundWork<Value>: @unchecked Sendable {
    private let condition = NSCondition()
    private var result: Result<Value, any Error>?

    init(_ work: @escaping () throws -> Value) {
        let box = UnsafeSendable(work)
        let thread = Thread { [self] in
            let value = Result(catching: box.value)
            condition.withLock {
                result = value
                condition.broadcast()
            }
        }
        thread.stackSize = 8 << 20  // SQLite's recursion is shallow, but a GCD-sized stack is not much
        thread.start()
    }

    /// Whether the work has ended, waiting up to `seconds` for it to.
    func hasFinished(waitingUpTo seconds: TimeInterval = 0) -> Bool {
        condition.withLock {
            if result == nil, seconds > 0 { _ = condition.wait(until: Date(timeIntervalSinceNow: seconds)) }
            return result != nil
        }
    }

    /// Waits for the work to end and returns its value or throws its error.
    func value() throws -> Value {
        try condition.withLock {
            while result == nil { condition.wait() }
            return try result!.get()
        }
    }
}
