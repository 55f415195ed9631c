import ArgumentParser
import BackupCore
import Foundation

/// Progress on stderr: a one-line bar (phase, bar, percent, bytes, ETA) when stderr is a terminal,
/// nothing in scripts and logs, or one JSON object per event with `--progress json` for wrappers.
final class TerminalProgress: @unchecked Sendable {
    enum Style: String, ExpressibleByArgument { case auto, json, none }

    private let lock = NSLock()
    private let style: Style
    private var phase: ProgressPhase?
    private var phaseStarted = Date()
    private var lastDraw = Date.distantPast

    init(_ style: Style = .auto) {
        self.style = style == .auto ? (isatty(STDERR_FILENO) == 1 ? .auto : .none) : style
    }

    var handler: ProgressHandler? {
        switch style {
        case .none: return nil
        case .json: return { [self] event in self.emitJSON(event) }
        case .auto: return { [self] event in self.draw(event) }
        }
    }

    func finish() {
        guard style == .auto else { return }
        FileHandle.standardError.write(Data("\r\u{1B}[K".utf8))
    }

    private func emitJSON(_ event: ProgressEvent) {
        lock.lock()
        defer { lock.unlock() }
        guard var line = try? JSONEncoder().encode(event) else { return }
        line.append(0x0A)
        FileHandle.standardError.write(line)
    }

    private func draw(_ event: ProgressEvent) {
        lock.lock()
        defer { lock.unlock() }
        guard event.phase != .started else { return }
        let now = Date()
        if event.phase != phase {
            phase = event.phase
            phaseStarted = now
        } else if now.timeIntervalSince(lastDraw) < 0.1 {
            return
        }
        lastDraw = now
        var line = "\r\u{1B}[K" + event.phase.rawValue.padding(toLength: 20, withPad: " ", startingAt: 0)
        let elapsed = now.timeIntervalSince(phaseStarted)
        if event.bytesTotal > 0 {
            let fraction = min(1, Double(event.bytesDone) / Double(event.bytesTotal))
            let width = 30
            let filled = Int(fraction * Double(width))
            line += "[" + String(repeating: "#", count: filled) + String(repeating: " ", count: width - filled) + "]"
            line += String(format: " %3.0f%% ", fraction * 100)
            line += "\(ByteCount.format(event.bytesDone))/\(ByteCount.format(event.bytesTotal))"
            if fraction > 0.02, elapsed > 0.5 {
                let remaining = Int(elapsed / fraction - elapsed)
                line += String(format: " ETA %d:%02d", remaining / 60, remaining % 60)
            }
        }
        // Every phase shows a sign of life, with or without a total.
        line += String(format: " %d:%02d", Int(elapsed) / 60, Int(elapsed) % 60)
        FileHandle.standardError.write(Data(line.utf8))
    }
}
