import Foundation

/// Constants and little-endian helpers for the ZIP format (PKWARE APPNOTE 6.3.x), the parts we use:
/// stored and deflated entries, UTF-8 names, ZIP64 sizes and offsets, Unix modes.
enum ZipFormat {
    static let localHeaderSignature: UInt32 = 0x0403_4b50
    static let centralHeaderSignature: UInt32 = 0x0201_4b50
    static let endOfCentralDirectorySignature: UInt32 = 0x0605_4b50
    static let zip64EndOfCentralDirectorySignature: UInt32 = 0x0606_4b50
    static let zip64LocatorSignature: UInt32 = 0x0706_4b50
    static let zip64ExtraID: UInt16 = 0x0001
    static let versionNeededZip64: UInt16 = 45
    static let versionMadeByUnix: UInt16 = (3 << 8) | 45
    static let flagUTF8: UInt16 = 1 << 11
    static let flagEncrypted: UInt16 = 1
    static let methodStored: UInt16 = 0
    static let methodDeflated: UInt16 = 8
    static let localHeaderSize = 30
    static let centralHeaderSize = 46
    static let endOfCentralDirectorySize = 22
    static let max16: UInt64 = 0xFFFF
    static let max32: UInt64 = 0xFFFF_FFFF

    /// MS-DOS date and time, which ZIP readers show; the exact time lives in the manifest.
    /// Integer arithmetic on the UTC calendar (`Calendar` costs more than the rest of a small entry).
    static func dosDateTime(_ date: Date) -> (time: UInt16, date: UInt16) {
        let seconds = Int64(date.timeIntervalSince1970.rounded(.down))
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = Int(seconds - days * 86_400)
        let (y, m, d) = FileTime.civil(fromDays: days)
        let year = Int(max(1980, min(2107, y)))
        let time = UInt16((secondOfDay / 3600) << 11 | (secondOfDay / 60 % 60) << 5 | (secondOfDay % 60) / 2)
        let day = UInt16((year - 1980) << 9 | Int(m) << 5 | Int(d))
        return (time, day)
    }
}

/// Appends little-endian integers to a byte array.
struct LittleEndianWriter {
    var bytes: [UInt8] = []
    mutating func u16(_ v: UInt16) { bytes.append(UInt8(v & 0xFF)); bytes.append(UInt8(v >> 8)) }
    mutating func u32(_ v: UInt32) { for s in stride(from: 0, to: 32, by: 8) { bytes.append(UInt8((v >> UInt32(s)) & 0xFF)) } }
    mutating func u64(_ v: UInt64) { for s in stride(from: 0, to: 64, by: 8) { bytes.append(UInt8((v >> UInt64(s)) & 0xFF)) } }
    mutating func raw(_ b: [UInt8]) { bytes += b }
}

/// Reads little-endian integers from a byte slice, failing instead of trapping on short input.
struct LittleEndianReader {
    let bytes: [UInt8]
    var position: Int

    init(_ bytes: [UInt8], at position: Int = 0) {
        self.bytes = bytes
        self.position = position
    }

    var remaining: Int { bytes.count - position }

    mutating func u16() throws -> UInt16 {
        try need(2)
        defer { position += 2 }
        return UInt16(bytes[position]) | UInt16(bytes[position + 1]) << 8
    }

    mutating func u32() throws -> UInt32 {
        try need(4)
        var v: UInt32 = 0
        for i in 0..<4 { v |= UInt32(bytes[position + i]) << UInt32(8 * i) }
        position += 4
        return v
    }

    mutating func u64() throws -> UInt64 {
        try need(8)
        var v: UInt64 = 0
        for i in 0..<8 { v |= UInt64(bytes[position + i]) << UInt64(8 * i) }
        position += 8
        return v
    }

    mutating func take(_ n: Int) throws -> [UInt8] {
        try need(n)
        defer { position += n }
        return Array(bytes[position..<position + n])
    }

    private func need(_ n: Int) throws {
        guard n >= 0, remaining >= n else {
            throw BackupError(.corruptArchive, "The archive is damaged or truncated.", detail: "ZIP structure ends early")
        }
    }
}
