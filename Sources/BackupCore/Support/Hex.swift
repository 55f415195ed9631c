import Crypto
import Foundation

/// SHA-256 as lowercase hex, without `String(format:)` (which costs more than the hash of a small file).
enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    static func sha256(_ bytes: UnsafeRawBufferPointer) -> String {
        var hasher = SHA256()
        hasher.update(bufferPointer: bytes)
        return string(hasher.finalize())
    }

    static func string<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        var out = [UInt8]()
        out.reserveCapacity(64)
        for byte in digest {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
