import BackupCore
import Foundation
import Hummingbird

/// An archive opened for one download. It is opened before the response starts, so a backup
/// deleted meanwhile still downloads whole (the open descriptor keeps the file), and closed when
/// the response is done with it.
final class OpenArchive: @unchecked Sendable {
    let fd: Int32
    let size: UInt64

    init(_ file: URL) throws {
        let fd = open(file.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            throw APIError(.notFound, "archive_missing", "The archive file of this backup is missing from the disk.")
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            close(fd)
            throw APIError.from(BackupError(.io, "The archive could not be read."))
        }
        self.fd = fd
        size = UInt64(info.st_size)
    }

    deinit { close(fd) }

    /// Reads `count` bytes at `offset` into a new buffer (blocking: call it through `Blocking`).
    func read(at offset: UInt64, count: Int) throws -> ByteBuffer {
        var buffer = ByteBufferAllocator().buffer(capacity: count)
        let n = try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { pointer in
            try POSIXFile.pread(fd, into: UnsafeMutableRawBufferPointer(rebasing: pointer[0..<count]), at: offset)
        }
        guard n == count else { throw BackupError(.io, "The archive ended early while it was being sent.", detail: "short read at \(offset)") }
        return buffer
    }
}

/// Sends a byte range of an archive in fixed-size chunks. Memory stays flat whatever the archive's
/// size: a chunk is read only when the previous one has been handed to the connection, and the
/// connection's writer waits while the client is slower than the disk (NIO back-pressure).
enum ArchiveStream {
    static let chunkSize = 256 << 10

    static func body(_ archive: OpenArchive, range: ClosedRange<UInt64>,
                     onEnd: @escaping @Sendable (_ sent: UInt64, _ error: (any Error)?) async -> Void) -> ResponseBody {
        let length = range.upperBound - range.lowerBound + 1
        return ResponseBody(contentLength: Int(length)) { writer in
            var offset = range.lowerBound
            do {
                while offset <= range.upperBound {
                    let count = Int(min(UInt64(chunkSize), range.upperBound - offset + 1))
                    let position = offset
                    let chunk = try await Blocking.run { try archive.read(at: position, count: count) }
                    try await writer.write(chunk)
                    offset += UInt64(count)
                }
                try await writer.finish(nil)
            } catch {
                await onEnd(offset - range.lowerBound, error)
                throw error
            }
            await onEnd(length, nil)
        }
    }
}
