import Foundation
import Testing

/// The `fake-google` process the benchmarks, the browser tests and the demo run: stopped with a signal, as
/// they stop it, it takes its uploaded files with it instead of leaving them in `$TMPDIR`.
@Suite("fake-google process")
struct FakeGoogleProcessTests {
    static let binary = URL(fileURLWithPath: CLI.binary).deletingLastPathComponent().appendingPathComponent("fake-google")

    @Test("SIGTERM or SIGINT: it exits 0 and its storage folder is gone", arguments: [SIGTERM, SIGINT])
    func signalRemovesStorage(_ signal: Int32) throws {
        let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("caps-fakegoogle-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: tmp, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: tmp) }
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = ["--port", "0"]
        process.environment = ProcessInfo.processInfo.environment.merging(["TMPDIR": tmp.path]) { $1 }
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL); process.waitUntilExit() } }

        // The first line (its base URL) comes once it serves: by then its storage folder exists.
        var first = Data()
        while !first.contains(0x0A) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            first.append(chunk)
        }
        #expect(String(decoding: first, as: UTF8.self).hasPrefix("http://127.0.0.1:"))
        let storage = { try FileManager.default.contentsOfDirectory(atPath: tmp.path).filter { $0.hasPrefix("fake-drive-") } }
        #expect(try storage().count == 1)

        kill(process.processIdentifier, signal)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit && process.terminationStatus == 0)
        let left = try storage()
        #expect(left.isEmpty, "left behind: \(left)")
    }
}
