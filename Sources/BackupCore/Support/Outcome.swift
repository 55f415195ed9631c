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
