import BackupCore
import Foundation
import Hummingbird

/// Receives an uploaded archive: streamed to a private file in `data-dir/uploads/` (never held in
/// memory), refused past the size cap or when the disk cannot hold it. Nothing else is touched:
/// the caller verifies the file before any restore may start, and removes it afterwards.
///
/// Not under `tmp/`: start-up recovery files away whatever it finds there.
struct UploadReceiver {
    let directory: URL
    let maxBytes: Int64
    let availableBytes: @Sendable (URL) throws -> UInt64
    /// Room left on the disk besides the upload (the restore extracts the database next to it).
    static let reserve: Int64 = 64 << 20
    static let writeBatch = 1 << 20

    func receive(_ body: RequestBody, declaredLength: Int64?) async throws -> URL {
        if let declaredLength, declaredLength > maxBytes { throw tooLarge() }
        try POSIXFile.makePrivateDirectory(directory)
        if let declaredLength {
            let free = Int64(clamping: (try? availableBytes(directory)) ?? UInt64.max)
            guard declaredLength + Self.reserve <= free else {
                throw APIError.from(BackupError(.insufficientSpace,
                    "Not enough free disk space for this upload: \(ByteCount.format(declaredLength)) sent, \(ByteCount.format(free)) free."))
            }
        }
        let url = directory.appendingPathComponent("upload-\(Timestamp.fileStamp(Date()))-\(UUID().uuidString.lowercased().prefix(8)).zip")
        let fd = try POSIXFile.createPrivate(url)
        do {
            var received: Int64 = 0
            var pending = ByteBuffer()
            for try await chunk in body {
                received += Int64(chunk.readableBytes)
                if received > maxBytes { throw tooLarge() }
                var chunk = chunk
                pending.writeBuffer(&chunk)
                if pending.readableBytes >= Self.writeBatch {
                    try await Self.write(pending, to: fd)
                    pending.clear()
                }
            }
            try await Self.write(pending, to: fd)
            try await Blocking.run { try POSIXFile.fsyncFile(fd) }
            close(fd)
            guard received > 0 else { throw APIError(.badRequest, "empty_upload", "The upload is empty; send the archive file as the request body.") }
            return url
        } catch {
            close(fd)
            try? FileManager.default.removeItem(at: url)
            throw error
        }
    }

    private static func write(_ buffer: ByteBuffer, to fd: Int32) async throws {
        guard buffer.readableBytes > 0 else { return }
        try await Blocking.run { try buffer.withUnsafeReadableBytes { try POSIXFile.writeAll(fd, $0) } }
    }

    private func tooLarge() -> APIError {
        APIError(.contentTooLarge, "payload_too_large", "The archive is larger than the \(ByteCount.format(maxBytes)) this server accepts (serve --max-upload-mb).")
    }
}
