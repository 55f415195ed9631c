import CLibDeflate
import Foundation

/// Single-member gzip of a small in-memory buffer (maps, manifests).
enum Gzip {
    static func compress(_ bytes: [UInt8], level: Int32 = 6) throws -> [UInt8] {
        try bytes.withUnsafeBytes { try compress($0, level: level) }
    }

    static func compress(_ bytes: UnsafeRawBufferPointer, level: Int32 = 6) throws -> [UInt8] {
        guard let c = libdeflate_alloc_compressor(level) else { throw BackupError(.io, "Out of memory.") }
        defer { libdeflate_free_compressor(c) }
        // Uninitialized: a large bound is mmap'd, and only the pages the output reaches become resident
        // (an hourly's 4 MiB page map at 4 GiB compresses to a few KiB).
        let bound = libdeflate_gzip_compress_bound(c, bytes.count)
        let out = [UInt8](unsafeUninitializedCapacity: bound) { o, count in
            count = libdeflate_gzip_compress(c, bytes.baseAddress, bytes.count, o.baseAddress, o.count)
        }
        guard !out.isEmpty else { throw BackupError(.io, "Compression failed.") }
        return Array(out[...])  // a buffer of its own size, not the bound
    }

    /// Deflate codes at most 258 bytes in about 2 bits: no stream inflates more than ~1032 times its size.
    static let maxInflationRatio = 1032

    /// Whether `plain` bytes can come out of `compressed` bytes of deflate at all (checked before a
    /// buffer of the declared size is allocated).
    static func plausible(plain: UInt64, compressed: UInt64) -> Bool {
        let (bound, overflow) = compressed.multipliedReportingOverflow(by: UInt64(maxInflationRatio))
        return overflow || plain <= bound + 1024
    }

    /// Decompresses, refusing anything that would exceed `expectedSize` bytes or is damaged.
    static func decompress(_ bytes: [UInt8], expectedSize: Int) throws -> [UInt8] {
        guard expectedSize >= 0, plausible(plain: UInt64(expectedSize), compressed: UInt64(bytes.count)) else {
            throw BackupError(.corruptArchive, "The archive is damaged: a compressed entry does not check out.",
                              detail: "\(bytes.count) bytes cannot inflate to \(expectedSize)")
        }
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
