import BackupCore
import Crypto
import Foundation
import NIOCore

/// One file through Drive's resumable protocol ("Manage uploads"): a session started with the file's
/// metadata, chunks of a multiple of 256 KiB read from the file one at a time (memory stays at one chunk
/// whatever the archive's size), each answered by `308` and the `Range` Drive holds. Drive's word is the
/// only truth about what arrived: a resumed upload first asks (`Content-Range: bytes */N`) and continues
/// from there; a session Drive no longer knows (404) starts over. Before the file counts as uploaded, Drive's
/// `size` and checksum are compared with ours (see `verify`).
struct DriveResumableUpload {
    let http: DriveHTTP
    let request: UploadRequest
    let folderId: String
    let chunkBytes: Int
    let onSession: @Sendable (String) -> Void
    let progress: @Sendable (UInt64) -> Void

    private static let fields = DriveFile.fields

    func run(resuming session: String?) async throws -> DriveFile {
        let file = try FileReader(request.file, size: request.size)
        var session = session
        var restarts = 0
        while true {
            do {
                let uploaded = try await upload(file, session: &session)
                try await verify(uploaded, file)
                return uploaded
            } catch let error as DestinationError where error.kind == .notFound && restarts < 2 {
                session = nil  // Drive lost the session (it expires after a week): start over.
                restarts += 1
            }
        }
    }

    private func upload(_ file: FileReader, session: inout String?) async throws -> DriveFile {
        var offset: UInt64 = 0
        if let known = session {
            switch try await status(known) {
            case .done(let uploaded): return uploaded
            case .holds(let held): offset = held
            }
            progress(offset)
        } else {
            let started = try await start()
            session = started
            onSession(started)
        }
        var stalled = 0
        while true {
            try Task.checkCancellation()
            let end = min(offset + UInt64(chunkBytes), request.size)
            let chunk = try file.read(offset..<end)
            switch try await put(chunk, at: offset, session: session!) {
            case .done(let uploaded):
                progress(request.size)
                return uploaded
            case .holds(let held):
                stalled = held > offset ? 0 : stalled + 1
                guard stalled < 3 else { throw DestinationError(.transient(retryAfter: nil), "Google Drive stopped taking bytes at \(held).") }
                offset = held
                progress(offset)
            }
        }
    }

    /// Starts a session: `POST /upload/drive/v3/files?uploadType=resumable` with the metadata; the
    /// session URI comes back in `Location`.
    private func start() async throws -> String {
        var properties = request.metadata
        properties[DriveFile.nameProperty] = request.name
        for (key, value) in properties where key.utf8.count + value.utf8.count > 124 {
            throw DestinationError(.permanent, "The label \(key) is too long for Google Drive (key and value together may have 124 bytes).")
        }
        let metadata: [String: Any] = [
            "name": DriveLayout.fileName(request.name), "parents": [folderId], "appProperties": properties,
            "mimeType": request.name.hasSuffix(".zip") ? "application/zip" : "application/octet-stream",
        ]
        let body = try JSONSerialization.data(withJSONObject: metadata, options: [.sortedKeys])
        let reply = try await http.send(.POST, http.url("/upload/drive/v3/files", [("uploadType", "resumable"), ("fields", Self.fields)]),
                                        headers: [("Content-Type", "application/json; charset=UTF-8"),
                                                  ("X-Upload-Content-Type", metadata["mimeType"] as! String),
                                                  ("X-Upload-Content-Length", String(request.size))],
                                        body: { .bytes(body) })
        guard let location = reply.headers.first(name: "Location") else {
            throw DestinationError(.transient(retryAfter: nil), "Google Drive started an upload without a session URI.")
        }
        return location
    }

    private enum ChunkAnswer { case done(DriveFile), holds(UInt64) }

    private func status(_ session: String) async throws -> ChunkAnswer {
        let reply = try await http.send(.PUT, session, headers: [("Content-Range", "bytes */\(request.size)")], accept: [200, 201, 308])
        return try answer(reply)
    }

    private func put(_ chunk: ByteBuffer, at offset: UInt64, session: String) async throws -> ChunkAnswer {
        let range = chunk.readableBytes == 0 ? "bytes */\(request.size)" : "bytes \(offset)-\(offset + UInt64(chunk.readableBytes) - 1)/\(request.size)"
        let reply = try await http.send(.PUT, session, headers: [("Content-Range", range), ("Content-Length", String(chunk.readableBytes))],
                                        body: { .bytes(chunk) }, accept: [200, 201, 308])
        return try answer(reply)
    }

    /// `308` with `Range: bytes=0-N` (N+1 bytes held) or no `Range` (none held); 200/201 with the file.
    private func answer(_ reply: DriveHTTP.Reply) throws -> ChunkAnswer {
        guard reply.status.code == 308 else { return .done(try DriveFolders.decode(DriveFile.self, reply)) }
        guard let range = reply.headers.first(name: "Range") else { return .holds(0) }
        guard range.hasPrefix("bytes=0-"), let last = UInt64(range.dropFirst("bytes=0-".count)) else {
            throw DestinationError(.transient(retryAfter: nil), "Google Drive reported an unreadable range: \(range)")
        }
        return .holds(last + 1)
    }

    /// Drive's size and checksum against ours; a copy that differs is deleted and the upload fails.
    /// Drive computes SHA-256 as the bytes arrive and reports it "if available": compared with the SHA-256
    /// the catalog recorded at publication, it proves the copy is the archive as published, and nothing is
    /// hashed here while the bytes go out (on two cores, hashing beside the send cost a third of the rate).
    /// Without it (no SHA-256 given, or none from Drive) the file's MD5 is computed once, after the send.
    private func verify(_ uploaded: DriveFile, _ file: FileReader) async throws {
        let algorithm: String, ours: String, theirs: String?
        if let expected = request.sha256, let reported = uploaded.sha256Checksum {
            (algorithm, ours, theirs) = ("sha256", expected.lowercased(), reported.lowercased())
        } else {
            (algorithm, ours, theirs) = ("md5", try file.md5Hex(size: request.size), uploaded.md5Checksum?.lowercased())
        }
        guard uploaded.size.flatMap(UInt64.init) == request.size, theirs == ours else {
            _ = try? await http.send(.DELETE, http.url("/drive/v3/files/\(DriveHTTP.encode(uploaded.id))"), accept: [204, 200, 404])
            throw DestinationError(.permanent, "The copy on Google Drive does not match the archive (Drive: \(uploaded.size ?? "?") bytes, \(algorithm) \(theirs ?? "none"); here: \(request.size) bytes, \(algorithm) \(ours)).")
        }
    }
}

/// Positioned reads of one file into buffers.
final class FileReader: @unchecked Sendable {
    private let descriptor: Int32

    init(_ url: URL, size: UInt64) throws {
        descriptor = open(url.path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw DestinationError(.permanent, "\(url.path) cannot be read: \(String(cString: strerror(errno))).") }
        var info = stat()
        guard fstat(descriptor, &info) == 0, UInt64(info.st_size) == size else {
            close(descriptor)
            throw DestinationError(.permanent, "\(url.path) is not \(size) bytes.")
        }
    }

    deinit { close(descriptor) }

    /// The MD5 of the first `size` bytes, read 8 MiB at a time.
    func md5Hex(size: UInt64) throws -> String {
        var md5 = Insecure.MD5()
        var offset: UInt64 = 0
        while offset < size {
            let piece = try read(offset..<min(size, offset + (8 << 20)))
            piece.withUnsafeReadableBytes { md5.update(bufferPointer: $0) }
            offset += UInt64(piece.readableBytes)
        }
        return md5.finalize().map { String(format: "%02x", $0) }.joined()
    }

    func read(_ range: Range<UInt64>) throws -> ByteBuffer {
        let count = Int(range.count)
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        var done = 0
        while done < count {
            let n = buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count - done) { space in
                max(0, pread(descriptor, space.baseAddress, count - done, off_t(range.lowerBound) + off_t(done)))
            }
            guard n > 0 else { throw DestinationError(.permanent, "The archive ended early while it was being uploaded.") }
            done += n
        }
        return buffer
    }
}
