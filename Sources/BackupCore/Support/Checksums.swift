import Crypto
import Foundation

extension Digest {
    /// Lowercase hex. By hand: `String(format:)` per byte cost more than hashing a small file, and a
    /// file archive's verification formats 52,000 of these.
    public var hex: String { Hex.string(self) }
}

public enum Checksums {
    /// SHA-256 of a whole file, streamed in 4 MiB reads (BoringSSL uses the CPU's SHA extensions).
    public static func sha256(of url: URL, progress: ((UInt64) -> Void)? = nil) throws -> String {
        let fd = try POSIXFile.openForReading(url)
        defer { close(fd) }
        var hasher = SHA256()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 4 << 20, alignment: 16)
        defer { buffer.deallocate() }
        var position: UInt64 = 0
        while true {
            let n = try POSIXFile.pread(fd, into: buffer, at: position)
            if n == 0 { break }
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<n]))
            position += UInt64(n)
            progress?(position)
        }
        return hasher.finalize().hex
    }

    /// The `sha256sum`-compatible sidecar line: `<hex>  <file name>\n`.
    public static func sidecarLine(sha256: String, fileName: String) -> String {
        "\(sha256)  \(fileName)\n"
    }

    /// Parses a sidecar written by us or by `sha256sum`; nil when it is not one.
    public static func parseSidecar(_ text: String) -> String? {
        let first = text.split(separator: "\n").first.map(String.init) ?? ""
        let hex = first.prefix(while: { !$0.isWhitespace })
        guard hex.count == 64, hex.allSatisfy({ $0.isHexDigit }) else { return nil }
        return hex.lowercased()
    }

    public static func sidecarURL(for archive: URL) -> URL {
        archive.appendingPathExtension("sha256")
    }
}

/// A SHA-256 in progress that one worker of a parallel loop feeds (one at a time, in order).
final class StreamingSHA256: @unchecked Sendable {
    private var hasher = SHA256()
    func update(_ buffer: UnsafeRawBufferPointer) { hasher.update(bufferPointer: buffer) }
    func finish() -> String { hasher.finalize().hex }
}
