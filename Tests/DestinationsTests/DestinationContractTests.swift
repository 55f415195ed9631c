import BackupCore
import Crypto
import Destinations
import Foundation
import Testing

/// The contract every destination meets (see `Destination`), run against each implementation. A new
/// backend (Google Drive against its fake server, S3) joins by adding a case to `Backend`.
enum Backend: String, CaseIterable, CustomStringConvertible {
    case localFolder, inMemory, googleDrive
    var description: String { rawValue }

    func make(in folder: URL) async throws -> any Destination {
        switch self {
        case .localFolder: return try LocalFolderDestination(name: "folder", root: folder.appendingPathComponent("remote"))
        case .inMemory: return InMemoryDestination()
        case .googleDrive:
            // One fake for the process; each test its own store folder (its scratch folder's name).
            let shared = SharedFakeGoogle.instance
            return GoogleDriveDestination(config: driveConfig(await shared.url()), storeName: folder.lastPathComponent,
                                          tokens: TestTokens(shared.google))
        }
    }
}

/// A scratch folder with a file of `size` pseudo-random bytes in it.
struct Scratch {
    let folder: URL
    let file: URL
    let bytes: [UInt8]

    init(size: Int, seed: UInt64 = 1) throws {
        folder = FileManager.default.temporaryDirectory.appendingPathComponent("caps-dest-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        var state = seed
        bytes = (0..<size).map { _ in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return UInt8(truncatingIfNeeded: state >> 33)
        }
        file = folder.appendingPathComponent("archive.zip")
        try Data(bytes).write(to: file)
    }

    func request(_ name: String = "db-full/db-full-1.zip", metadata: [String: String] = ["backupId": "b-1", "kind": "db-full"]) -> UploadRequest {
        UploadRequest(name: name, file: file, size: UInt64(bytes.count), metadata: metadata)
    }

    func remove() { try? FileManager.default.removeItem(at: folder) }
}

final class Collected: @unchecked Sendable {
    private let lock = NSLock()
    private var bytes: [UInt8] = []
    private var reports: [UInt64] = []
    func append(_ chunk: [UInt8]) { lock.withLock { bytes += chunk } }
    func report(_ value: UInt64) { lock.withLock { reports.append(value) } }
    var all: [UInt8] { lock.withLock { bytes } }
    var progress: [UInt64] { lock.withLock { reports } }
}

func checksum(_ bytes: [UInt8], _ algorithm: Checksum.Algorithm) -> String {
    switch algorithm {
    case .md5: Insecure.MD5.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    case .sha256, .etag: SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
    }
}

func read(_ destination: any Destination, _ id: String, range: Range<UInt64>? = nil) async throws -> [UInt8] {
    let sink = Collected()
    try await destination.get(id, range: range, into: { sink.append($0) })
    return sink.all
}

@Suite("Destination contract")
struct DestinationContractTests {
    @Test("put, then stat, list and get give back the same bytes, size, checksum and labels", arguments: Backend.allCases)
    func roundTrip(_ backend: Backend) async throws {
        let scratch = try Scratch(size: 5 << 20 | 123)
        defer { scratch.remove() }
        let destination = try await backend.make(in: scratch.folder)
        let put = try await destination.put(scratch.request(), resuming: nil, onSession: { _ in }, progress: { _ in })
        #expect(put.size == UInt64(scratch.bytes.count))
        let sum = try #require(put.checksum)
        #expect(sum.value == checksum(scratch.bytes, sum.algorithm))
        let stat = try #require(try await destination.stat(put.id))
        #expect(stat.size == put.size && stat.checksum == put.checksum && stat.metadata == ["backupId": "b-1", "kind": "db-full"])
        #expect(try await destination.list(prefix: "db-full/").map(\.id) == [put.id])
        #expect(try await destination.list(prefix: "files/").isEmpty)
        #expect(try await read(destination, put.id) == scratch.bytes)
    }

    @Test("get of a byte range gives exactly those bytes", arguments: Backend.allCases)
    func rangedGet(_ backend: Backend) async throws {
        let scratch = try Scratch(size: 300_000)
        defer { scratch.remove() }
        let destination = try await backend.make(in: scratch.folder)
        let put = try await destination.put(scratch.request(), resuming: nil, onSession: { _ in }, progress: { _ in })
        #expect(try await read(destination, put.id, range: 1000..<263_144) == Array(scratch.bytes[1000..<263_144]))
        #expect(try await read(destination, put.id, range: 299_990..<400_000) == Array(scratch.bytes[299_990...]))
    }

    @Test("an upload cut midway leaves nothing visible, and resumes from what the destination holds", arguments: Backend.allCases)
    func resumedUpload(_ backend: Backend) async throws {
        let scratch = try Scratch(size: 10 << 20)
        defer { scratch.remove() }
        let destination = try await backend.make(in: scratch.folder)
        let session = Collected()
        let first = Collected()
        var sessionName: String?
        let cut = Task {
            try await destination.put(scratch.request(), resuming: nil, onSession: { name in session.append(Array(name.utf8)) },
                                      progress: { done in
                                          first.report(done)
                                          withUnsafeCurrentTask { $0?.cancel() }  // the connection drops after the first chunk
                                      })
        }
        await #expect(throws: (any Error).self) { try await cut.value }
        sessionName = String(decoding: session.all, as: UTF8.self)
        #expect(sessionName?.isEmpty == false)
        #expect(try await destination.list(prefix: "").isEmpty, "half an object is visible")

        let second = Collected()
        let put = try await destination.put(scratch.request(), resuming: sessionName, onSession: { _ in },
                                            progress: { second.report($0) })
        #expect(try await read(destination, put.id) == scratch.bytes)
        #expect(second.progress.first ?? 0 >= first.progress.first ?? .max, "the resumed upload started again from zero")
    }

    @Test("delete removes an object, and deleting it again succeeds", arguments: Backend.allCases)
    func deletion(_ backend: Backend) async throws {
        let scratch = try Scratch(size: 4096)
        defer { scratch.remove() }
        let destination = try await backend.make(in: scratch.folder)
        let put = try await destination.put(scratch.request(), resuming: nil, onSession: { _ in }, progress: { _ in })
        try await destination.delete(put.id)
        #expect(try await destination.stat(put.id) == nil)
        #expect(try await destination.list(prefix: "").isEmpty)
        try await destination.delete(put.id)
    }

    @Test("an unknown object: stat is nil, get is notFound", arguments: Backend.allCases)
    func unknownObject(_ backend: Backend) async throws {
        let scratch = try Scratch(size: 16)
        defer { scratch.remove() }
        let destination = try await backend.make(in: scratch.folder)
        #expect(try await destination.stat("db-full/nothing.zip") == nil)
        do {
            _ = try await read(destination, "db-full/nothing.zip")
            Issue.record("get of an unknown object succeeded")
        } catch let error as DestinationError {
            #expect(error.kind == .notFound)
        }
    }

    @Test("a second put under the same name is found by its id, with its own labels", arguments: Backend.allCases)
    func sameName(_ backend: Backend) async throws {
        let scratch = try Scratch(size: 2048)
        defer { scratch.remove() }
        let destination = try await backend.make(in: scratch.folder)
        _ = try await destination.put(scratch.request(metadata: ["backupId": "old"]), resuming: nil, onSession: { _ in }, progress: { _ in })
        let newer = try await destination.put(scratch.request(metadata: ["backupId": "new"]), resuming: nil, onSession: { _ in }, progress: { _ in })
        #expect(try await destination.stat(newer.id)?.metadata["backupId"] == "new")
        let listed = try await destination.list(prefix: "db-full/")
        #expect(listed.contains { $0.id == newer.id && $0.metadata["backupId"] == "new" })
    }
}
