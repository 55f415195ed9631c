/// Writes truecolour PNG files without any image library.
///
/// The zlib stream inside IDAT uses *stored* (uncompressed) deflate blocks: the demo images are
/// noise, which would not compress anyway, and real product photos are just as incompressible
/// to a backup tool. Format: PNG spec (ISO/IEC 15948), zlib RFC 1950, deflate RFC 1951 §3.2.4.
enum PNGWriter {
    static let signature: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]

    /// Bytes of raw (filtered) image data for an 8-bit RGB image: one filter byte per row.
    static func rawSize(width: Int, height: Int) -> Int { height * (1 + width * 3) }

    /// A complete PNG file whose pixels come from `fill`, which receives each row's RGB bytes.
    static func png(width: Int, height: Int, fill: (UnsafeMutableRawBufferPointer) -> Void) -> [UInt8] {
        precondition(width > 0 && height > 0)
        let rowBytes = 1 + width * 3
        var raw = [UInt8](repeating: 0, count: rawSize(width: width, height: height))
        raw.withUnsafeMutableBytes { buffer in
            for row in 0..<height {
                // Filter type 0 (None) stays in the first byte; pixels follow.
                fill(UnsafeMutableRawBufferPointer(rebasing: buffer[(row * rowBytes + 1)..<((row + 1) * rowBytes)]))
            }
        }
        let zlib = storedZlib(raw)

        var out: [UInt8] = signature
        out.reserveCapacity(zlib.count + zlib.count / 65_536 * 12 + 64)
        var header: [UInt8] = []
        header.appendBigEndian(UInt32(width))
        header.appendBigEndian(UInt32(height))
        header += [8, 2, 0, 0, 0]  // bit depth 8, colour type 2 (RGB), deflate, adaptive filters, no interlace
        appendChunk("IHDR", header[...], to: &out)
        // Encoders split IDAT into chunks; 64 KiB is a common choice.
        var offset = 0
        while offset < zlib.count {
            let end = min(zlib.count, offset + 65_536)
            appendChunk("IDAT", zlib[offset..<end], to: &out)
            offset = end
        }
        appendChunk("IEND", [][...], to: &out)
        return out
    }

    /// A zlib stream (RFC 1950) of stored deflate blocks, each at most 65,535 bytes.
    static func storedZlib(_ data: [UInt8]) -> [UInt8] {
        var out: [UInt8] = [0x78, 0x01]  // CM=8, CINFO=7, FLEVEL=0; 0x7801 is a multiple of 31
        out.reserveCapacity(data.count + data.count / 65_535 * 5 + 16)
        var offset = 0
        repeat {
            let length = min(65_535, data.count - offset)
            let final = offset + length == data.count
            out.append(final ? 1 : 0)  // BFINAL, BTYPE=00 (stored); the rest of the byte is padding
            out.append(UInt8(length & 0xFF)); out.append(UInt8(length >> 8))
            out.append(UInt8(~length & 0xFF)); out.append(UInt8((~length >> 8) & 0xFF))
            out.append(contentsOf: data[offset..<(offset + length)])
            offset += length
        } while offset < data.count
        out.appendBigEndian(adler32(data))
        return out
    }

    static func appendChunk(_ type: String, _ data: ArraySlice<UInt8>, to out: inout [UInt8]) {
        let typeBytes = Array(type.utf8)
        out.appendBigEndian(UInt32(data.count))
        out.append(contentsOf: typeBytes)
        out.append(contentsOf: data)
        out.appendBigEndian(CRC32.checksum(data, seed: CRC32.checksum(typeBytes[...])))
    }

    static func adler32(_ data: [UInt8]) -> UInt32 {
        var a: UInt32 = 1, b: UInt32 = 0
        data.withUnsafeBufferPointer { bytes in
            var index = 0
            // 5552 is the longest run before the sums can overflow 32 bits (zlib's NMAX).
            while index < bytes.count {
                let end = min(bytes.count, index + 5552)
                while index < end {
                    a &+= UInt32(bytes[index])
                    b &+= a
                    index += 1
                }
                a %= 65_521
                b %= 65_521
            }
        }
        return b << 16 | a
    }
}

/// CRC-32 as used by PNG, gzip and ZIP (reflected polynomial 0xEDB88320).
enum CRC32 {
    static let table: [UInt32] = (0..<256).map { n in
        var c = UInt32(n)
        for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
        return c
    }

    /// `seed` is the CRC of preceding bytes, so a checksum can be computed in pieces.
    static func checksum(_ data: ArraySlice<UInt8>, seed: UInt32 = 0) -> UInt32 {
        var crc = ~seed
        data.withUnsafeBufferPointer { bytes in
            table.withUnsafeBufferPointer { table in
                for byte in bytes { crc = table[Int((crc ^ UInt32(byte)) & 0xFF)] ^ (crc >> 8) }
            }
        }
        return ~crc
    }
}

extension Array where Element == UInt8 {
    mutating func appendBigEndian(_ value: UInt32) {
        append(UInt8(value >> 24)); append(UInt8((value >> 16) & 0xFF))
        append(UInt8((value >> 8) & 0xFF)); append(UInt8(value & 0xFF))
    }
}
