import BackupCore
import Crypto
import Foundation

/// A folder as a destination: a second disk, a NAS mounted on the server. Objects are files under
/// the folder, named by their path (which is also their id); each has a `<name>.meta.json` beside it
/// with its labels and SHA-256. An upload is written to `<name>.partial` and renamed when complete, so
/// `list` and `stat` never see half an object; its session is the partial file's name, and a resumed
/// upload continues from the partial file's size. Everything is 0600 in 0700 folders.
public struct LocalFolderDestination: Destination {
    public let name: String
    public let root: URL
    static let partialSuffix = ".partial"
    static let metadataSuffix = ".meta.json"

    public init(name: String = "folder", root: URL) throws {
        self.name = name
        self.root = root.standardizedFileURL
        try POSIXFile.makePrivateDirectory(self.root)
    }

    private struct Metadata: Codable {
        var sha256: String
        var labels: [String: String]
    }

    public func put(_ request: UploadRequest, resuming session: String?, onSession: @escaping @Sendable (String) -> Void,
                    progress: @escaping @Sendable (UInt64) -> Void) async throws -> RemoteObject {
        let target = try location(of: request.name)
        try FileManager.default.createDirectory(at: target.deletingLastPathComponent(), withIntermediateDirectories: true,
                                                attributes: [.posixPermissions: 0o700])
        let partial = URL(fileURLWithPath: target.path + Self.partialSuffix)
        if session == nil || !POSIXFile.exists(partial) {
            try? FileManager.default.removeItem(at: partial)
            close(try POSIXFile.createPrivate(partial))
        }
        onSession(request.name)
        let out = try FileHandle(forWritingTo: partial)
        defer { try? out.close() }
        let input = try FileHandle(forReadingFrom: request.file)
        defer { try? input.close() }
        // Continue from what is on disk, not from what the caller thinks was sent.
        var offset = try out.seekToEnd()
        guard offset <= request.size else { throw DestinationError(.permanent, "The partial upload of \(request.name) is larger than the file.") }
        try input.seek(toOffset: offset)
        while offset < request.size {
            try Task.checkCancellation()
            let chunk = try input.read(upToCount: Int(min(4 << 20, request.size - offset))) ?? Data()
            guard !chunk.isEmpty else { throw DestinationError(.permanent, "\(request.file.path) is shorter than \(request.size) bytes.") }
            try out.write(contentsOf: chunk)
            offset += UInt64(chunk.count)
            progress(offset)
        }
        try out.synchronize()
        let sha256 = try Self.sha256(of: partial)
        let metadata = try JSONEncoder().encode(Metadata(sha256: sha256, labels: request.metadata))
        let metadataURL = URL(fileURLWithPath: target.path + Self.metadataSuffix)
        try metadata.write(to: metadataURL, options: .atomic)
        chmod(metadataURL.path, POSIXFile.privateFileMode)
        try POSIXFile.rename(partial, to: target)
        return RemoteObject(id: request.name, name: request.name, size: offset, checksum: Checksum(.sha256, sha256),
                            metadata: request.metadata, modifiedAt: Date())
    }

    public func list(prefix: String) async throws -> [RemoteObject] {
        guard let walker = FileManager.default.enumerator(atPath: root.path) else { return [] }
        var found: [RemoteObject] = []
        while let relative = walker.nextObject() as? String {
            guard relative.hasPrefix(prefix), !relative.hasSuffix(Self.partialSuffix), !relative.hasSuffix(Self.metadataSuffix),
                  let object = try await stat(relative) else { continue }
            found.append(object)
        }
        return found.sorted { $0.name < $1.name }
    }

    public func get(_ id: String, range: Range<UInt64>?, into sink: @escaping @Sendable ([UInt8]) throws -> Void) async throws {
        let file = try location(of: id)
        guard let size = try? POSIXFile.fileSize(file), POSIXFile.exists(URL(fileURLWithPath: file.path + Self.metadataSuffix)) else {
            throw DestinationError(.notFound, "There is no \(id) in \(root.path).")
        }
        let wanted = range.map { $0.clamped(to: 0..<size) } ?? 0..<size
        let input = try FileHandle(forReadingFrom: file)
        defer { try? input.close() }
        try input.seek(toOffset: wanted.lowerBound)
        var offset = wanted.lowerBound
        while offset < wanted.upperBound {
            try Task.checkCancellation()
            let chunk = try input.read(upToCount: Int(min(4 << 20, wanted.upperBound - offset))) ?? Data()
            guard !chunk.isEmpty else { break }
            try sink([UInt8](chunk))
            offset += UInt64(chunk.count)
        }
    }

    public func delete(_ id: String) async throws {
        let file = try location(of: id)
        for url in [file, URL(fileURLWithPath: file.path + Self.metadataSuffix), URL(fileURLWithPath: file.path + Self.partialSuffix)] {
            do { try FileManager.default.removeItem(at: url) } catch CocoaError.fileNoSuchFile {} catch {
                if POSIXFile.exists(url) { throw DestinationError(.permanent, "Could not delete \(url.path): \(error)") }
            }
        }
    }

    public func stat(_ id: String) async throws -> RemoteObject? {
        let file = try location(of: id)
        let metadataURL = URL(fileURLWithPath: file.path + Self.metadataSuffix)
        guard let size = try? POSIXFile.fileSize(file), let data = try? Data(contentsOf: metadataURL) else { return nil }
        guard let metadata = try? JSONDecoder().decode(Metadata.self, from: data) else {
            throw DestinationError(.permanent, "The labels of \(id) in \(root.path) are damaged.")
        }
        let modified = (try? FileManager.default.attributesOfItem(atPath: file.path)[.modificationDate]) as? Date
        return RemoteObject(id: id, name: id, size: size, checksum: Checksum(.sha256, metadata.sha256), metadata: metadata.labels,
                            modifiedAt: modified)
    }

    /// A name's file inside the folder; a name that would leave it (`..`, absolute) is refused.
    private func location(of name: String) throws -> URL {
        do { return try ArchivePath.resolve(name, under: root) } catch {
            throw DestinationError(.permanent, "\(name) is not a safe name for \(root.path).")
        }
    }

    static func sha256(of file: URL) throws -> String {
        let input = try FileHandle(forReadingFrom: file)
        defer { try? input.close() }
        var hasher = SHA256()
        while let chunk = try input.read(upToCount: 4 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}
