import CLibDeflate
import Foundation

/// Single-member gzip of a small in-memory buffer (maps, manifests).
enum Gzip {
    static func compress(_ bytes: [UInt8], level: Int32 = 6) throws -> [UInt8] {
        guard let c = libdeflate_alloc_compressor(level) else { throw BackupError(.io, "Out of memory.") }
        defer { libdeflate_free_compressor(c) }
        var out = [UInt8](repeating: 0, count: libdeflate_gzip_compress_bound(c, bytes.count))
        let n = bytes.withUnsafeBytes { i in out.withUnsafeMutableBytes { o in
            libdeflate_gzip_compress(c, i.baseAddress, i.count, o.baseAddress, o.count) } }
        guard n > 0 else { throw BackupError(.io, "Compression failed.") }
        return Array(out[0..<n])
    }

    /// Decompresses, refusing anything that would exceed `expectedSize` bytes or is damaged.
    static func decompress(_ bytes: [UInt8], expectedSize: Int) throws -> [UInt8] {
        guard let d = libdeflate_alloc_decompressor() else { throw BackupError(.io, "Out of memory.") }
        defer { libdeflate_free_decompressor(d) }
        var out = [UInt8](repeating: 0, count: expectedSize)
        var actual = 0
        let rc = bytes.withUnsafeBytes { i in out.withUnsafeMutableBytes { o in
            libdeflate_gzip_decompress(d, i.baseAddress, i.count, o.baseAddress, o.count, &actual) } }
        guard rc == LIBDEFLATE_SUCCESS, actual == expectedSize else {
            throw BackupError(.corruptArchive, "The archive is damaged: a compressed entry does not check out.")
        }
        return out
    }
}
