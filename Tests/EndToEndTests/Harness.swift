import BackupCore
import DemoStore
import Foundation

/// Drives the real `caps-backup` binary in child processes, as a technician or a script would.
enum CLI {
    /// `CAPS_BACKUP_BIN` from the Makefile, else the debug build next to this package.
    static let binary: String = {
        if let path = ProcessInfo.processInfo.environment["CAPS_BACKUP_BIN"] { return path }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/caps-backup").path
    }()

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        func json<T: Decodable>(_ type: T.Type) throws -> T {
            try Manifest.decoder.decode(T.self, from: Data(stdout.utf8))
        }
    }

    @discardableResult
    static func run(_ arguments: [String]) throws -> Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        // Read both pipes concurrently so a chatty child never blocks on a full pipe.
        let errData = LockedData()
        let reader = Thread { errData.set(err.fileHandleForReading.readDataToEndOfFile()) }
        reader.start()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while !errData.done { usleep(1000) }
        return Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData.value, as: UTF8.self))
    }

    static func start(_ arguments: [String], stdout: Any? = nil, stderr: Any? = nil) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.standardOutput = stdout ?? FileHandle.nullDevice
        process.standardError = stderr ?? FileHandle.nullDevice
        try process.run()
        return process
    }
}

final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data = Data()
    private var finished = false
    func set(_ d: Data) { lock.withLock { data = d; finished = true } }
    var done: Bool { lock.withLock { finished } }
    var value: Data { lock.withLock { data } }
}

/// A seeded demo store in a temporary folder, with its own data directory.
final class DemoFixture {
    let root: URL
    let layout: DemoStoreLayout
    let dataDir: URL

    init(sizeMB: Int, seed: Int = 7, name: String = #function) throws {
        root = FileManager.default.temporaryDirectory.appendingPathComponent(
            "caps-e2e-\(name.filter { $0.isLetter })-\(UUID().uuidString.prefix(6))")
        layout = DemoStoreLayout(root: root.appendingPathComponent("store"))
        dataDir = root.appendingPathComponent("data")
        let seeded = try CLI.run(["demo", "seed", "--dir", layout.root.path, "--size-mb", "\(sizeMB)", "--seed", "\(seed)", "--images", "5"])
        guard seeded.status == 0 else { throw BackupError(.io, "seed failed: \(seeded.stderr)") }
    }

    deinit { try? FileManager.default.removeItem(at: root) }

    var storeArguments: [String] {
        ["--pos-db", layout.posDatabase.path, "--data-dir", dataDir.path,
         "--config-files", layout.configFiles.map(\.path).joined(separator: ","),
         // The demo's pos.toml holds the POS's signing secret: it stays out of the archives.
         "--config-redact-keys", "jwt_hs256_secret"]
    }

    /// Starts the POS simulator writing at `tps`, with its ledger.
    func startSimulator(tps: Int = 20) throws -> Process {
        try CLI.start(["demo", "simulate", "--dir", layout.root.path, "--tps", "\(tps)", "--ledger", layout.ledger.path, "--json"])
    }

    func ledgerCount() -> Int {
        (try? DemoSimulator.readLedger(layout.ledger).count) ?? 0
    }

    /// Waits (polling, bounded) until the simulator has committed `count` more sales than `base`.
    func waitForSales(after base: Int, count: Int, timeout: TimeInterval = 60) throws {
        let deadline = ContinuousClock.now + .seconds(timeout)
        while ledgerCount() < base + count {
            guard ContinuousClock.now < deadline else { throw BackupError(.io, "the simulator stopped committing sales") }
            usleep(20_000)
        }
    }

    func catalog() throws -> Catalog { try Catalog(url: DataDirectory(dataDir).catalog) }
}

/// Stops a child with SIGTERM and waits for it.
func stop(_ process: Process) {
    if process.isRunning { kill(process.processIdentifier, SIGTERM) }
    process.waitUntilExit()
}

/// Reads a child's stderr line by line (the `--progress json` events) and calls `onLine` for each.
final class LineReader: @unchecked Sendable {
    private var buffer = Data()
    func feed(_ data: Data, _ onLine: (String) -> Void) {
        buffer.append(data)
        while let newline = buffer.firstIndex(of: 0x0A) {
            onLine(String(decoding: buffer[buffer.startIndex..<newline], as: UTF8.self))
            buffer.removeSubrange(buffer.startIndex...newline)
        }
    }
}

/// Runs `arguments` with `--progress json`, and `kill -9`s the process right after its `killAfter`-th
/// progress event (counting only events of `phase` when given) (plus `jitterMicros`, so kills also land inside long steps such as VACUUM INTO or
/// the restore's single write transaction). Returns the number of events seen and whether it was killed.
func runAndKill(_ arguments: [String], killAfter: Int, atPhase phase: String? = nil, jitterMicros: UInt32) throws -> (events: Int, killed: Bool) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: CLI.binary)
    process.arguments = arguments + ["--progress", "json"]
    let err = Pipe()
    process.standardError = err
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let handle = err.fileHandleForReading
    let lines = LineReader()
    var events = 0
    var killed = false
    while true {
        let data = handle.availableData
        if data.isEmpty { break }
        lines.feed(data) { line in
            guard line.hasPrefix("{") else { return }
            if let phase, !line.contains("\"phase\":\"\(phase)\"") { return }
            events += 1
            if events == killAfter, !killed {
                if jitterMicros > 0 { usleep(jitterMicros) }  // picks the kill point; waits for nothing
                kill(process.processIdentifier, SIGKILL)
                killed = true
            }
        }
        if killed { break }
    }
    process.waitUntilExit()
    return (events, killed && process.terminationReason == .uncaughtSignal)
}
