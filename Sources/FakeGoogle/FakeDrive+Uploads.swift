import Crypto
import Foundation
import HTTPTypes
import Hummingbird

/// Drive's resumable upload protocol ("Manage uploads: resumable upload"):
/// - `POST /upload/drive/v3/files?uploadType=resumable` with the file's metadata answers 200 and the
///   session URI in `Location`;
/// - `PUT <session>` with `Content-Range: bytes a-b/total` stores a chunk; a chunk that is not the last
///   must be a multiple of 256 KiB (else 400); answered `308` with `Range: bytes=0-N` (no `Range` when
///   nothing is stored), or 200 with the file resource after the last byte;
/// - `PUT <session>` with `Content-Range: bytes */total` and no body asks what is stored;
/// - a session that is unknown or older than a week answers 404.
/// A chunk cut off midway (the connection dropped) keeps what arrived rounded down to 256 KiB, as Drive
/// does: a client must ask, never assume.
extension FakeDrive {
    struct UploadSession: @unchecked Sendable {  // the hash states are plain values; kept under the state lock
        var template: StoredFile
        var total: UInt64?
        var received: UInt64 = 0
        var hashes = ContentHashes()
        var fields: String?
        var createdAt: Date
        var completed: String?
    }

    static let sessionLifetime: TimeInterval = 7 * 24 * 3600

    func startUpload(_ request: Request, _ account: String) async throws -> Response {
        guard request.uri.queryParameters["uploadType"] == "resumable" else {
            try await drain(request)
            throw Refusal(400, "invalid", "Only uploadType=resumable is served here (the fake does not implement media or multipart).")
        }
        var metadata = try await Self.metadata(request)
        if state.withLock({ $0.faults.quotaExceeded }) { throw Self.quotaRefusal }
        if metadata["mimeType"] == nil, let type = request.headers[HTTPField.Name("X-Upload-Content-Type")!] { metadata["mimeType"] = type }
        if metadata["mimeType"] as? String == Self.folderType { throw Refusal(400, "invalid", "A folder has no content to upload.") }
        let template = try newFile(metadata, account: account, size: 0, md5: "", sha256: "")
        let total = try request.headers[HTTPField.Name("X-Upload-Content-Length")!].map { text -> UInt64 in
            guard let total = UInt64(text) else { throw Refusal(400, "invalid", "Invalid X-Upload-Content-Length.") }
            return total
        }
        let id = UUID().uuidString.replacingOccurrences(of: "-", with: "")
        FileManager.default.createFile(atPath: sessionURL(id).path, contents: Data())
        let fields = request.uri.queryParameters["fields"].map(String.init)
        _ = try fields.map { try DriveFields.parse($0) }
        state.withLock { $0.sessions[id] = UploadSession(template: template, total: total, fields: fields, createdAt: clock()) }
        let authority = request.head.authority ?? "127.0.0.1"
        return Response(status: .ok, headers: [.location: "http://\(authority)/upload/drive/v3/files?uploadType=resumable&upload_id=\(id)",
                                               .contentLength: "0"])
    }

    func putChunk(_ request: Request) async throws -> Response {
        guard let id = request.uri.queryParameters["upload_id"].map(String.init),
              let session = state.withLock({ $0.sessions[id] }), session.createdAt.addingTimeInterval(Self.sessionLifetime) > clock() else {
            try await drain(request)
            throw Refusal(404, "notFound", "The upload session was not found or has expired.")
        }
        if let done = session.completed, let file = state.withLock({ $0.files[done] }) {
            try await drain(request)
            return Self.json(try resource(file, session.fields.map { try DriveFields.parse($0) }))
        }
        let declared = request.headers[.contentLength].flatMap { UInt64($0) }
        let range = try ContentRange(request.headers[.contentRange], contentLength: declared)
        if let total = range.total, let expected = session.total, total != expected {
            try await drain(request)
            throw Refusal(400, "badContentRange", "The total size \(total) differs from the size the upload was started with (\(expected)).")
        }
        guard let (first, last) = range.bytes else {
            // A status query, or the empty last request of an empty file.
            try await drain(request)
            if range.total == 0 && session.received == 0 { return try finish(id) }
            return incomplete(session.received)
        }
        let length = last - first + 1
        let isLast = range.total == last + 1
        guard isLast || length % UInt64(Self.chunkUnit) == 0 else {
            try await drain(request)
            throw Refusal(400, "badRequest", "Invalid request. The number of bytes uploaded is required to be a multiple of 262144 bytes, except for the last request.")
        }
        guard first <= session.received else {
            try await drain(request)
            throw Refusal(400, "badContentRange", "The range starts at \(first), past the \(session.received) bytes received.")
        }
        if state.withLock({ $0.faults.quotaExceeded }) {
            try await drain(request)
            throw Self.quotaRefusal
        }
        let kept = await receive(request, into: id, session: session, first: first, length: length)
        if kept.complete, isLast { return try finish(id) }
        return incomplete(kept.received)
    }

    /// Writes the body beyond what the session holds; a body that ends early keeps only whole 256 KiB units.
    private func receive(_ request: Request, into id: String, session: UploadSession, first: UInt64,
                         length: UInt64) async -> (received: UInt64, complete: Bool) {
        let fd = open(sessionURL(id).path, O_WRONLY)
        defer { close(fd) }
        let unit = UInt64(Self.chunkUnit)
        var position = first
        var hashes = session.hashes
        var aligned = (hashes: session.hashes, count: session.received)
        var tooLong = false
        do {
            for try await piece in request.body {
                state.withLock { $0.bytesReceived += UInt64(piece.readableBytes) }
                var piece = piece
                // Bytes the session holds already are not written twice.
                if position < session.received {
                    let skip = Int(min(UInt64(piece.readableBytes), session.received - position))
                    piece.moveReaderIndex(forwardBy: skip)
                    position += UInt64(skip)
                }
                while piece.readableBytes > 0 {
                    let toBoundary = Int((position / unit + 1) * unit - position)
                    var slice = piece.readSlice(length: min(toBoundary, piece.readableBytes))!
                    slice.withUnsafeReadableBytes { bytes in
                        _ = pwrite(fd, bytes.baseAddress, bytes.count, off_t(position))
                        hashes.update(bytes)
                    }
                    position += UInt64(slice.readableBytes)
                    slice.clear()
                    if position % unit == 0 { aligned = (hashes, position) }
                }
                if position > first + length { tooLong = true }
            }
        } catch {
            // The connection dropped mid-chunk.
        }
        let complete = position == first + length && !tooLong
        let final = complete ? (hashes, position) : aligned
        if !complete { _ = ftruncate(fd, off_t(final.1)) }
        state.withLock {
            $0.sessions[id]?.received = final.1
            $0.sessions[id]?.hashes = final.0
        }
        return (final.1, complete)
    }

    private func incomplete(_ received: UInt64) -> Response {
        var headers: HTTPFields = [.contentLength: "0"]
        if received > 0 { headers[.range] = "bytes=0-\(received - 1)" }
        return Response(status: HTTPResponse.Status(code: 308, reasonPhrase: "Resume Incomplete"), headers: headers)
    }

    private func finish(_ id: String) throws -> Response {
        guard var session = state.withLock({ $0.sessions[id] }) else { throw Refusal(404, "notFound", "The upload session was not found or has expired.") }
        var file = session.template
        file.size = session.received
        file.md5 = Self.hex(session.hashes.md5.finalize())
        file.sha256 = Self.hex(session.hashes.sha256.finalize())
        let now = clock()
        file.createdTime = now
        file.modifiedTime = now
        try FileManager.default.moveItem(at: sessionURL(id), to: contentURL(file.id))
        session.completed = file.id
        let done = session
        state.withLock {
            $0.files[file.id] = file
            $0.order.append(file.id)
            $0.sessions[id] = done
        }
        return Self.json(try resource(file, session.fields.map { try DriveFields.parse($0) }))
    }

    func sessionURL(_ id: String) -> URL { storage.appendingPathComponent("session-\(id)") }
}

/// The checksums Drive keeps of a file's content, computed as the bytes arrive.
struct ContentHashes {
    var md5 = Insecure.MD5()
    var sha256 = SHA256()

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        md5.update(bufferPointer: bytes)
        sha256.update(bufferPointer: bytes)
    }
}

/// `Content-Range: bytes a-b/total`, `bytes */total`, `bytes a-b/*`; none means the whole body at once.
struct ContentRange {
    var bytes: (UInt64, UInt64)?
    var total: UInt64?

    init(_ header: String?, contentLength: UInt64?) throws {
        guard let header else {
            let length = contentLength ?? 0
            bytes = length > 0 ? (0, length - 1) : nil
            total = length
            return
        }
        let invalid = FakeDrive.Refusal(400, "badContentRange", "Failed to parse Content-Range header.")
        guard header.hasPrefix("bytes "), let slash = header.firstIndex(of: "/") else { throw invalid }
        let span = header[header.index(header.startIndex, offsetBy: 6)..<slash]
        let totalText = header[header.index(after: slash)...]
        if totalText == "*" { total = nil } else {
            guard let value = UInt64(totalText) else { throw invalid }
            total = value
        }
        if span == "*" {
            bytes = nil
        } else {
            let parts = span.split(separator: "-")
            guard parts.count == 2, let first = UInt64(parts[0]), let last = UInt64(parts[1]), first <= last else { throw invalid }
            if let total, last >= total { throw invalid }
            if let contentLength, contentLength != last - first + 1 { throw invalid }
            bytes = (first, last)
        }
    }
}
