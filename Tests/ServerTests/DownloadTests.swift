import BackupCore
import Crypto
import Foundation
@testable import Server
import Testing

@Suite("Download: streamed, Range, audited", .serialized)
struct DownloadTests {
    @Test func rangesReturnTheRightBytes() async throws {
        let store = try TestStore()
        let job = try store.backup()
        let archive = try Data(contentsOf: URL(fileURLWithPath: job.path!))
        let size = archive.count
        try await store.run { http in
            let path = "/api/v1/backups/\(job.id!)/download"
            let whole = try await http.get(path, token: Tokens.admin)
            #expect(whole.status == 200)
            #expect(whole.body == archive)
            #expect(sha256Hex(whole.body) == job.sha256)
            #expect(whole.header("Content-Type") == "application/zip")
            #expect(whole.header("Accept-Ranges") == "bytes")
            #expect(whole.header("Content-Disposition") == "attachment; filename=\"\(URL(fileURLWithPath: job.path!).lastPathComponent)\"")
            #expect(whole.header("ETag") == "\"\(job.sha256!)\"")

            let cases: [(String, Range<Int>)] = [
                ("bytes=100-1099", 100..<1100),
                ("bytes=\(size - 10)-", (size - 10)..<size),
                ("bytes=-64", (size - 64)..<size),
                ("bytes=0-0", 0..<1),
                ("bytes=\(size - 5)-\(size + 1000)", (size - 5)..<size),
            ]
            for (header, expected) in cases {
                let part = try await http.get(path, token: Tokens.admin, headers: ["Range": header])
                #expect(part.status == 206, "\(header)")
                #expect(part.body == archive[expected], "\(header)")
                #expect(part.header("Content-Range") == "bytes \(expected.lowerBound)-\(expected.upperBound - 1)/\(size)", "\(header)")
                #expect(part.header("Content-Length") == String(expected.count))
            }
            let beyond = try await http.get(path, token: Tokens.admin, headers: ["Range": "bytes=\(size)-"])
            #expect(beyond.status == 416)
            #expect(beyond.header("Content-Range") == "bytes */\(size)")
            // Several ranges, or a unit we do not know: the header is ignored and the whole archive sent.
            for header in ["bytes=0-1,5-9", "items=0-1", "bytes=9-3"] {
                let ignored = try await http.get(path, token: Tokens.admin, headers: ["Range": header])
                #expect(ignored.status == 200 && ignored.body.count == size, "\(header)")
            }
            // If-Range with another archive's tag: the whole (current) archive.
            let stale = try await http.get(path, token: Tokens.admin, headers: ["Range": "bytes=0-9", "If-Range": "\"other\""])
            #expect(stale.status == 200 && stale.body.count == size)
            let fresh = try await http.get(path, token: Tokens.admin, headers: ["Range": "bytes=0-9", "If-Range": "\"\(job.sha256!)\""])
            #expect(fresh.status == 206 && fresh.body == archive[0..<10])
        }
        // One audit row per download, each with who, where from and what was sent.
        let downloads = try store.auditRows().filter { $0.action == "backup.download" }
        #expect(downloads.count == 12)
        #expect(downloads.allSatisfy { $0.userId == "admin" && $0.stationId == "office-pc" && $0.client == "127.0.0.1" })
        #expect(downloads.filter { $0.outcome == "succeeded" }.count == 11)
        #expect(downloads.filter { $0.outcome == "rejected" }.count == 1)  // the 416
    }

    @Test func deletedFailedAndMissingArchivesAreNotServed() async throws {
        let store = try TestStore()
        let deleted = try store.backup()
        let missing = try store.backup()
        _ = try BackupDeletion(context: store.context).delete(deleted, reason: "test")
        try FileManager.default.removeItem(atPath: missing.path!)
        try await store.run { http in
            #expect(try await http.get("/api/v1/backups/\(deleted.id!)/download", token: Tokens.admin).status == 410)
            let gone = try await http.get("/api/v1/backups/\(missing.id!)/download", token: Tokens.admin)
            #expect(gone.status == 404 && gone.errorCode == "archive_missing")
            #expect(gone.text.contains("no longer on this server's disk, and it has no off-site copy"), "\(gone.text)")
            #expect(try await http.get("/api/v1/backups/999/download", token: Tokens.admin).status == 404)
            #expect(try await http.get("/api/v1/backups/abc/download", token: Tokens.admin).status == 400)
        }
    }

    /// The real `caps-backup serve` in a child process sends a 256 MiB archive; its resident memory,
    /// sampled all along, stays within a small bound of where it started.
    @Test func aLargeArchiveStreamsWithFlatMemory() async throws {
        let dir = TemporaryDirectory()
        let data = DataDirectory(dir.path("data"))
        try data.prepare()
        let catalog = try Catalog(url: data.catalog)
        let file = data.archives(.dbFull).appendingPathComponent("db-full-large.zip")
        let size = 256 << 20
        let digest = try writePseudoRandomFile(file, size: size)
        var job = BackupRecord(kind: .dbFull, trigger: .manual, startedAt: Date())
        job.status = .succeeded
        job.finishedAt = Date()
        job.path = file.path
        job.size = Int64(size)
        job.sha256 = digest
        job = try catalog.insert(job)

        let server = try ChildServer(arguments: ["--data-dir", data.root.path])
        defer { server.stop() }
        let http = HTTP(port: server.port)
        let path = "/api/v1/backups/\(job.id!)/download"
        // Warm up the server's buffers and thread pools with a small range first.
        #expect(try await http.get(path, token: Tokens.admin, headers: ["Range": "bytes=0-1048575"]).status == 206)
        let baseline = try server.residentBytes()

        let sampler = MemorySampler(server)
        let received = HashingSink()
        let response = try await http.request("GET", path, token: Tokens.admin) { received.add($0) }
        let peak = sampler.stop()
        #expect(response.status == 200)
        #expect(received.count == size)
        #expect(received.hex() == digest)
        let growth = peak - baseline
        // Streaming, not buffering: a server holding the archive would grow by its 256 MiB. The bound
        // leaves room for allocator high-water marks, which stayed under 48 MiB on a quiet machine but
        // reached 52 MiB under load (a full test run beside a build).
        #expect(growth < size * 3 / 8, "RSS grew by \(growth >> 20) MiB while sending \(size >> 20) MiB (baseline \(baseline >> 20) MiB)")

        // A range deep inside the large file.
        let offset = 200_000_123
        let part = try await http.get(path, token: Tokens.admin, headers: ["Range": "bytes=\(offset)-\(offset + 4095)"])
        let handle = try FileHandle(forReadingFrom: file)
        try handle.seek(toOffset: UInt64(offset))
        let expected = try handle.read(upToCount: 4096)
        #expect(part.status == 206 && part.body == expected)
        try handle.close()
        #expect(server.stop() == 0, "graceful shutdown")
    }

    /// Writes `size` bytes that do not compress or repeat in any useful way; returns their SHA-256.
    private func writePseudoRandomFile(_ url: URL, size: Int) throws -> String {
        _ = FileManager.default.createFile(atPath: url.path, contents: nil)
        let handle = try FileHandle(forWritingTo: url)
        defer { try? handle.close() }
        var hasher = SHA256()
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        var block = [UInt64](repeating: 0, count: (1 << 20) / 8)
        for _ in 0..<(size >> 20) {
            for i in block.indices {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17
                block[i] = state
            }
            let bytes = block.withUnsafeBytes { Data($0) }
            hasher.update(data: bytes)
            try handle.write(contentsOf: bytes)
        }
        return hasher.finalize().hex
    }
}

final class HashingSink: @unchecked Sendable {
    private let lock = NSLock()
    private var hasher = SHA256()
    private(set) var count = 0
    func add(_ data: Data) { lock.withLock { hasher.update(data: data); count += data.count } }
    func hex() -> String { lock.withLock { hasher.finalize().hex } }
}

/// Samples a process's resident set size every 10 ms on a thread of its own.
final class MemorySampler: @unchecked Sendable {
    private let lock = NSLock()
    private var peak = 0
    private var running = true
    private let done = DispatchSemaphore(value: 0)

    init(_ server: ChildServer) {
        Thread { [self] in
            while lock.withLock({ running }) {
                if let rss = try? server.residentBytes() { lock.withLock { peak = max(peak, rss) } }
                usleep(10_000)
            }
            done.signal()
        }.start()
    }

    func stop() -> Int {
        lock.withLock { running = false }
        done.wait()
        return lock.withLock { peak }
    }
}

/// `caps-backup serve` in a child process on a free loopback port (the binary next to this test
/// bundle, or `CAPS_BACKUP_BIN`).
final class ChildServer: @unchecked Sendable {
    let process = Process()
    let port: Int
    private var stopped: Int32?

    static var binary: String {
        if let path = ProcessInfo.processInfo.environment["CAPS_BACKUP_BIN"] { return path }
        return URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("caps-backup").path
    }

    init(arguments: [String]) throws {
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["serve", "--listen", "127.0.0.1:0", "--no-scheduler"] + arguments
        var environment = ProcessInfo.processInfo.environment
        environment["CAPS_JWT_SECRET"] = testSecret
        process.environment = environment
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        // The one line `serve` prints on stdout once it listens.
        var line = Data()
        while !line.contains(0x0A) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { throw TestFailure("caps-backup serve exited before listening") }
            line.append(chunk)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard let port = text.split(separator: ":").last.flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) }) else {
            throw TestFailure("unexpected first line: \(text)")
        }
        self.port = port
    }

    func residentBytes() throws -> Int {
        let status = try String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kib = Int(line.split(separator: " ", omittingEmptySubsequences: true)[1]) else { throw TestFailure("no VmRSS") }
        return kib * 1024
    }

    /// SIGTERM, then the exit status (graceful shutdown exits 0).
    @discardableResult
    func stop() -> Int32 {
        if let stopped { return stopped }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        stopped = process.terminationStatus
        return stopped!
    }
}
