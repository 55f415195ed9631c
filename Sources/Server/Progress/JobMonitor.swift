import BackupCore
import Foundation

/// Identifies a job across the API: backups and restores are numbered separately in the catalog.
public enum JobKey: Hashable, Sendable, CustomStringConvertible {
    case backup(Int64)
    case restore(Int64)

    public var description: String {
        switch self {
        case .backup(let id): "backup \(id)"
        case .restore(let id): "restore \(id)"
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

/// One line of a job's structured log (R9.6).
public struct JobLogLine: Codable, Sendable, Equatable {
    public var at: Date
    public var level: String
    public var message: String
    public var phase: ProgressPhase?
    public var bytesDone: UInt64?
    public var bytesTotal: UInt64?
}

/// How a job ended: its final record (and, for a failed restore, the way back; for a restore of
/// files or config files, what was put back).
public enum JobOutcome: Sendable {
    case backup(BackupJob)
    case restore(RestoreJob, recoverySteps: [String]?, files: FileRestoreOutcome? = nil)
}

/// What a progress subscriber receives.
enum JobStreamItem: Sendable {
    case progress(ProgressUpdate)
    case finished(JobOutcome)
    case heartbeat
}

/// The live state of one job started by this process: progress, log lines and, at the end, the
/// final record. The job's thread reports into it; any number of SSE clients subscribe, each
/// getting what happened so far (the latest step of every phase, in order) and then every step.
///
/// Jobs report progress very often (every 4 MiB block, every read while verifying); updates
/// within one phase are passed on at most every `minimumInterval`, phase changes and the end always.
public final class JobMonitor: @unchecked Sendable {
    static let minimumInterval: TimeInterval = 0.1
    static let maxLogLines = 500

    private let lock = NSLock()
    private let now: @Sendable () -> Date
    private let startedAt: Date
    private var phases: [ProgressUpdate] = []
    private var phaseStartedAt: Date
    private var lastPassedOn = Date.distantPast
    private var seq = 0
    private var log: [JobLogLine] = []
    private var outcome: JobOutcome?
    private var subscribers: [UUID: AsyncStream<JobStreamItem>.Continuation] = [:]
    private let finishedSignal = OnceSignal()

    init(now: @escaping @Sendable () -> Date = { Date() }, firstLine: String) {
        self.now = now
        startedAt = now()
        phaseStartedAt = startedAt
        log.append(JobLogLine(at: startedAt, level: "info", message: firstLine))
    }

    // MARK: Reporting (from the job's thread)

    func record(_ event: ProgressEvent) {
        guard event.phase != .started else { return }  // the job's record id, for the coordinator: not a step
        let at = now()
        lock.lock()
        defer { lock.unlock() }
        let newPhase = phases.last?.phase != event.phase
        if newPhase {
            if let previous = phases.last {
                appendLog(JobLogLine(at: at, level: "info", message: "\(previous.phase.rawValue) finished in \(Self.seconds(at.timeIntervalSince(phaseStartedAt)))",
                                     phase: previous.phase, bytesDone: previous.bytesDone, bytesTotal: previous.bytesTotal))
            }
            phaseStartedAt = at
            appendLog(JobLogLine(at: at, level: "info", message: "\(event.phase.rawValue) started", phase: event.phase,
                                 bytesDone: event.bytesDone, bytesTotal: event.bytesTotal))
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
        let at = now()
        lock.lock()
        if let phase = phases.last {
            appendLog(JobLogLine(at: at, level: "info", message: "\(phase.phase.rawValue) finished in \(Self.seconds(at.timeIntervalSince(phaseStartedAt)))",
                                 phase: phase.phase, bytesDone: phase.bytesDone, bytesTotal: phase.bytesTotal))
        }
        appendLog(Self.finalLine(outcome, at: at, took: at.timeIntervalSince(startedAt)))
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
        let at = now()
        lock.withLock { appendLog(JobLogLine(at: at, level: level, message: message)) }
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
    var logLines: [JobLogLine] { lock.withLock { log } }
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

    private func appendLog(_ line: JobLogLine) {
        log.append(line)
        if log.count > Self.maxLogLines { log.removeSubrange(1...(log.count - Self.maxLogLines)) }
    }

    static func finalLine(_ outcome: JobOutcome, at: Date, took: TimeInterval) -> JobLogLine {
        switch outcome {
        case .backup(let job) where job.status == .succeeded:
            return JobLogLine(at: at, level: "info",
                              message: "Backup \(job.id ?? 0) succeeded in \(seconds(took)): \(ByteCount.format(job.size ?? 0)), sha256 \(job.sha256 ?? "-")"
                                  + (job.integrityCheck.map { ", database integrity check: \($0)" } ?? ""))
        case .backup(let job):
            return JobLogLine(at: at, level: "error",
                              message: "Backup \(job.id ?? 0) \(job.status.rawValue): \(job.error ?? "no error recorded")" + (job.errorDetail.map { " (\($0))" } ?? ""))
        case .restore(let restore, _, let files) where restore.status == .succeeded:
            var message = "Restore \(restore.id ?? 0) succeeded in \(seconds(took)): \(restore.targetPath) now holds \(restore.sourcePath)"
            if let files, !files.root.isEmpty {
                message += "; \(files.restored) files (\(ByteCount.format(files.bytes))) restored into \(files.root), \(files.removed) removed"
            }
            if let files, !files.configFiles.isEmpty { message += "; config files restored: \(files.configFiles.joined(separator: ", "))" }
            return JobLogLine(at: at, level: "info", message: message)
        case .restore(let restore, let steps, _):
            return JobLogLine(at: at, level: "error",
                              message: "Restore \(restore.id ?? 0) failed: \(restore.error ?? "no error recorded")" + (restore.errorDetail.map { " (\($0))" } ?? "")
                                  + ((steps ?? []).isEmpty ? "" : " What now: " + steps!.joined(separator: " ")))
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
/// are forgotten (their records stay in the catalog, and their logs are rebuilt from it).
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
