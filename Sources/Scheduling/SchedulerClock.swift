import Foundation

/// The scheduler's view of time, injected so that tests simulate a year without sleeping.
public protocol SchedulerClock: Sendable {
    func now() -> Date
    /// Returns at `deadline` (or at once if it has passed); throws `CancellationError` when the task is cancelled.
    func sleep(until deadline: Date) async throws
}

/// Wall-clock time from `Date`, sleeping on `ContinuousClock` (`Task.sleep`). The scheduler never
/// sleeps longer than its poll interval, so a wall-clock jump (NTP, suspend) is noticed within it.
public struct SystemClock: SchedulerClock {
    public init() {}
    public func now() -> Date { Date() }
    public func sleep(until deadline: Date) async throws {
        let seconds = deadline.timeIntervalSinceNow
        if seconds > 0 { try await Task.sleep(for: .seconds(seconds)) } else { try Task.checkCancellation() }
    }
}
