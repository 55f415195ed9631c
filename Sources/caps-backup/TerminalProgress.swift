import BackupCore
import Foundation

/// A one-line progress bar on stderr (phase, bar, percent, bytes, ETA), only when stderr is a
/// terminal: scripts and logs get no carriage-return noise.
final class TerminalProgress: @unchecked Sendable {
    private let lock = NSLock()
    private let enabled: Bool
    private var phase = ""
    private var phaseStarted = Date()
    private var lastDraw = Date.distantPast

    init(enabled: Bool = isatty(STDERR_FILENO) == 1) { self.enabled = enabled }

    var handler: ProgressHandler? {
        guard enabled else { return nil }
        return { [self] event in self.draw(event) }
    }

    func finish() {
        guard enabled else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }

    private func draw(_ event: ProgressEvent) {
        lock.lock()
        defer { lock.unlock() }
        let now = Date()
        if event.phase != phase {
            phase = event.phase
            phaseStarted = now
        } else if now.timeIntervalSince(lastDraw) < 0.1 {
            return
        }
        lastDraw = now
        var line = "\r\u{1B}[K" + event.phase.padding(toLength: 20, withPad: " ", startingAt: 0)
        if event.bytesTotal > 0 {
            let fraction = min(1, Double(event.bytesDone) / Double(event.bytesTotal))
            let width = 30
            let filled = Int(fraction * Double(width))
            line += "[" + String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled) + "]"
            line += String(format: " %3.0f%% ", fraction * 100)
            line += "\(ByteCount.format(event.bytesDone))/\(ByteCount.format(event.bytesTotal))"
            let elapsed = now.timeIntervalSince(phaseStarted)
            if fraction > 0.02, elapsed > 0.5 {
                let remaining = Int(elapsed / fraction - elapsed)
                line += String(format: " ETA %d:%02d", remaining / 60, remaining % 60)
            }
        }
        FileHandle.standardError.write(Data(line.utf8))
    }
}
