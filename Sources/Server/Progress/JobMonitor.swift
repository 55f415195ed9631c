import BackupCore
import Foundation

/// Identifies a job across the API: backups and restores are numbered separately in the catalog.
public enum JobKey: Hashable, Sendable, CustomStringConvertible {
    case backup(Int64)
    case restore(Int64)
    /// The off-site copy of backup `id` that `serve`'s uploader is making (its latest attempt).
    case upload(Int64)

    public var description: String {
        switch self {
        case .backup(let id): "backup \(id)"
        case .restore(let id): "restore \(id)"
        case .upload(let id): "off-site copy of backup \(id)"
        }
    }
}

/// One progress step as the dashboard shows it (and as Server-Sent Events carry it).
public struct ProgressUpdate: Codable, Sendable, Equatable {
    /// Increases by one with every update of the job: a client sees them in order.
    public var seq: Int
    public var phase: ProgressPhase
    public var bytesDone: UInt64
    public var bytesTotal: UInt64
    /// Seconds left in this phase, from its pace so far; absent while it cannot be estimated.
    public var etaSeconds: Double?
    /// Seconds since the job started.
    public var elapsedSeconds: Double
    public var at: Date
}

/// How a job ended: its final record (and, for a failed restore, the way back; for a restore of
/// files or config files, what was put back).
enum JobOutcome: Sendable {
    case backup(BackupRecord)
    case restore(RestoreRecord, recoverySteps: [String]?, files: FileRestoreOutcome? = nil)
    /// An off-site copy's attempt, as recorded (nil: none made by this server is known), and its backup
    /// as GET returns it (with every copy's state).
    case upload(BackupDestObject?, backup: BackupView)
}

/// What a progress subscriber receives.
enum JobStreamItem: Sendable {
    case progress(ProgressUpdate)
    case finished(JobOutcome)
    case heartbeat
}

/// The live state of one job started by this process: progress and, at the end, the final record
/// (its log lines go to the catalog through its `JobLogBook`). The job's thread reports into it; any
/// number of SSE clients subscribe, each
/// getting what happened so far (the latest step of every phase, in order) and then every step.
///
/// Jobs report progress very often (every 4 MiB block, every read while verifying); updates
/// within one phase are passed on at most every `minimumInterval`, phase changes and the end always.
public final class JobMonitor: @unchecked Sendable {
    static let minimumInterval: TimeInterval = 0.1

    private let lock = NSLock()
    private let now: @Sendable () -> Date
    private let startedAt: Date
    private var phases: [ProgressUpdate] = []
    private var phaseStartedAt: Date
    private var lastPassedOn = Date.distantPast
    private var seq = 0
    private let log: JobLogBook
    private var outcome: JobOutcome?
    private var subscribers: [UUID: AsyncStream<JobStreamItem>.Continuation] = [:]
    private let finishedSignal = OnceSignal()

    init(now: @escaping @Sendable () -> Date = { Date() }, log: JobLogBook) {
        self.now = now
        self.log = log
        startedAt = now()
        phaseStartedAt = startedAt
    }

    // MARK: Reporting (from the job's thread)

    func record(_ event: ProgressEvent) {
        log.record(event)
        guard event.phase != .started else { return }  // the job's record id, for the coordinator: not a step
        let at = now()
        lock.lock()
        defer { lock.unlock() }
        let newPhase = phases.last?.phase != event.phase
        if newPhase {
            phaseStartedAt = at
        } else if at.timeIntervalSince(lastPassedOn) < Self.minimumInterval, event.bytesDone < event.bytesTotal {
            phases[phases.count - 1].bytesDone = event.bytesDone
            phases[phases.count - 1].bytesTotal = event.bytesTotal
            return
        }
        seq += 1
        lastPassedOn = at
        let elapsedInPhase = at.timeIntervalSince(phaseStartedAt)
        var eta: Double?
        if event.bytesTotal > 0, event.bytesDone > 0, elapsedInPhase > 0.2 {
            let fraction = min(1, Double(event.bytesDone) / Double(event.bytesTotal))
            eta = (elapsedInPhase / fraction - elapsedInPhase).rounded(toPlaces: 1)
        }
        let update = ProgressUpdate(seq: seq, phase: event.phase, bytesDone: event.bytesDone, bytesTotal: event.bytesTotal,
                                    etaSeconds: eta, elapsedSeconds: at.timeIntervalSince(startedAt).rounded(toPlaces: 3), at: at)
        if newPhase { phases.append(update) } else { phases[phases.count - 1] = update }
        for continuation in subscribers.values { continuation.yield(.progress(update)) }
    }

    func finish(_ outcome: JobOutcome) {
        log.finish(Self.finalLine(outcome, at: now()))
        lock.lock()
        self.outcome = outcome
        let current = subscribers
        subscribers = [:]
        lock.unlock()
        for continuation in current.values {
            continuation.yield(.finished(outcome))
            continuation.finish()
        }
        finishedSignal.fire()
    }

    /// A line of the job's own (e.g. what retention did after the backup).
    func note(_ message: String, level: String = "info") {
        log.note(message, level: level)
    }

    /// A job that ended before it had a record (e.g. another process held the job lock).
    func abandon() {
        lock.lock()
        let current = subscribers
        subscribers = [:]
        lock.unlock()
        current.values.forEach { $0.finish() }
        finishedSignal.fire()
    }

    // MARK: Reading

    var latest: ProgressUpdate? { lock.withLock { phases.last } }
    var finalOutcome: JobOutcome? { lock.withLock { outcome } }
    var isFinished: Bool { lock.withLock { outcome != nil } }

    func waitUntilFinished() async { await finishedSignal.wait() }

    /// What happened so far, then every update live, then the final record; a heartbeat every
    /// `heartbeat` keeps proxies from closing a quiet stream (an integrity check reports nothing for a while).
    func subscribe(heartbeat: Duration = .seconds(15)) -> AsyncStream<JobStreamItem> {
        let (stream, continuation) = AsyncStream.makeStream(of: JobStreamItem.self, bufferingPolicy: .bufferingNewest(256))
        let id = UUID()
        lock.lock()
        for update in phases { continuation.yield(.progress(update)) }
        if let outcome {
            lock.unlock()
            continuation.yield(.finished(outcome))
            continuation.finish()
            return stream
        }
        subscribers[id] = continuation
        lock.unlock()
        let beat = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: heartbeat)
                if Task.isCancelled { break }
                continuation.yield(.heartbeat)
            }
        }
        continuation.onTermination = { [weak self] _ in
            beat.cancel()
            self?.lock.withLock { _ = self?.subscribers.removeValue(forKey: id) }
        }
        return stream
    }

    // MARK: Helpers

    static func finalLine(_ outcome: JobOutcome, at: Date) -> JobLogLine {
        switch outcome {
        case .backup(let job): JobLogLine.ended(job, at: at)
        case .restore(let restore, let steps, let files): JobLogLine.ended(restore, recoverySteps: steps, files: files, at: at)
        case .upload(let copy?, _): JobLogLine.ended(copy, at: at)
        case .upload(nil, let backup): JobLogLine(at: at, level: "info", message: "Backup \(backup.id): no off-site copy was attempted")
        }
    }

    static func seconds(_ t: TimeInterval) -> String { String(format: "%.1f s", t) }
}

extension Double {
    func rounded(toPlaces places: Int) -> Double {
        let scale = Foundation.pow(10, Double(places))  // qualified: swift-numerics (via Destinations) adds a static Double.pow
        return (self * scale).rounded() / scale
    }
}

/// The monitors of recent jobs started by this process, by job. Bounded: the oldest finished ones
/// are forgotten (their records and logs stay in the catalog).
public final class ProgressHub: Sendable {
    static let capacity = 64
    private let monitors = Locked<(byKey: [JobKey: JobMonitor], order: [JobKey])>(([:], []))

    public init() {}

    func register(_ monitor: JobMonitor, for key: JobKey) {
        monitors.withLock { state in
            if state.byKey.updateValue(monitor, forKey: key) == nil { state.order.append(key) }
            while state.order.count > Self.capacity,
                  let index = state.order.firstIndex(where: { state.byKey[$0]?.isFinished ?? true }) {
                state.byKey.removeValue(forKey: state.order.remove(at: index))
            }
        }
    }

    func monitor(for key: JobKey) -> JobMonitor? { monitors.withLock { $0.byKey[key] } }
}
