import ArgumentParser
import BackupCore
import Destinations
import Foundation

/// `caps-backup bench-drive-upload`: hidden; `bench/drive_upload_bench.py` runs it against the `fake-google`
/// executable, beside curl, and reports throughput and peak memory.
struct BenchDriveUploadCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench-drive-upload", abstract: "Upload one file to a (fake) Google Drive by the resumable protocol and time it.",
        shouldDisplay: false)

    @Option(help: "Drive API base URL (the fake's).")
    var driveURL: String

    @Option(help: "A bearer token the server accepts.")
    var token: String

    @Option(help: "The file to upload.")
    var file: String

    @Option(help: "Chunk size in MiB (a multiple of 0.25).")
    var chunkMib: Double = 8

    @Option(help: "The file's SHA-256, as the catalog knows an archive's; without it the copy is checked by MD5 after the send.")
    var sha256: String?

    /// A fixed token: the benchmark measures the upload, not OAuth.
    struct FixedToken: GoogleAccessTokens {
        let token: String
        func accessToken(rejected: String?) async throws -> String {
            if rejected != nil { throw DestinationError(.unauthorized, "The benchmark's token was refused.") }
            return token
        }
    }

    func run() async throws {
        guard let base = URL(string: driveURL) else { throw ValidationError("--drive-url is not a URL.") }
        var config = GoogleConfig()
        config.driveAPIBase = base
        config.chunkMiB = chunkMib
        let url = URL(fileURLWithPath: file)
        let size = (try FileManager.default.attributesOfItem(atPath: url.path)[.size] as? NSNumber)?.uint64Value ?? 0
        let drive = GoogleDriveDestination(config: config, storeName: "bench", tokens: FixedToken(token: token))
        let idle = Self.memory("VmRSS")
        let started = Date()
        let object = try await drive.put(UploadRequest(name: "full/\(url.lastPathComponent)", file: url, size: size, sha256: sha256),
                                         resuming: nil, onSession: { _ in }, progress: { _ in })
        let seconds = Date().timeIntervalSince(started)
        let result: [String: Any] = ["bytes": size, "seconds": seconds, "mib_per_s": Double(size) / 1_048_576 / seconds,
                                     "checksum": object.checksum.map { "\($0.algorithm.rawValue):\($0.value)" } ?? "", "idle_rss_kib": idle, "peak_rss_kib": Self.memory("VmHWM")]
        print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
    }

    /// A line of /proc/self/status, in KiB (Linux).
    static func memory(_ field: String) -> Int {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8) else { return 0 }
        for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
            return Int(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        }
        return 0
    }
}
