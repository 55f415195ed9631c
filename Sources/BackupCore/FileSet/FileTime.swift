import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A file's modification time to the nanosecond, exactly as stat(2) reports it. `Date` (a Double)
/// cannot hold nanoseconds since 1970 exactly, and "same size and same mtime" is only a useful test
/// when the mtime is compared exactly. In JSON it is an ISO 8601 string with nine decimals in UTC,
/// e.g. "2026-11-26T23:00:00.123456789Z", which people can read and we parse back without loss.
public struct FileTime: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var seconds: Int64
    /// 0 ..< 1_000_000_000
    public var nanoseconds: Int32

    public init(seconds: Int64, nanoseconds: Int32) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    public init(_ ts: timespec) {
        self.init(seconds: Int64(ts.tv_sec), nanoseconds: Int32(ts.tv_nsec))
    }

    public var timespec: Glibc.timespec { Glibc.timespec(tv_sec: Int(seconds), tv_nsec: Int(nanoseconds)) }
    public var date: Date { Date(timeIntervalSince1970: Double(seconds) + Double(nanoseconds) / 1e9) }

    public static func < (a: FileTime, b: FileTime) -> Bool {
        (a.seconds, a.nanoseconds) < (b.seconds, b.nanoseconds)
    }

    public var description: String {
        var out = [UInt8]()
        out.reserveCapacity(30)
        appendDescription(to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Appends `description`'s UTF-8, built by hand: a manifest writes one per file, and String(format:) is slow.
    func appendDescription(to out: inout [UInt8]) {
        let days = seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400
        let secondOfDay = seconds - days * 86_400
        let (y, m, d) = Self.civil(fromDays: days)
        func digits(_ value: Int64, _ width: Int) {
            var v = max(0, value)
            let start = out.count
            for _ in 0..<width { out.append(48) }
            for i in stride(from: start + width - 1, through: start, by: -1) {
                out[i] = UInt8(48 + v % 10)
                v /= 10
            }
        }
        digits(y, 4); out.append(UInt8(ascii: "-")); digits(m, 2); out.append(UInt8(ascii: "-")); digits(d, 2)
        out.append(UInt8(ascii: "T"))
        digits(secondOfDay / 3600, 2); out.append(UInt8(ascii: ":")); digits(secondOfDay / 60 % 60, 2)
        out.append(UInt8(ascii: ":")); digits(secondOfDay % 60, 2)
        out.append(UInt8(ascii: ".")); digits(Int64(nanoseconds), 9); out.append(UInt8(ascii: "Z"))
    }

    /// Parses what `description` writes (1 to 9 decimals accepted); nil for anything else.
    public init?(_ text: String) {
        var text = text
        guard let time = text.withUTF8({ FileTime(utf8: $0) }) else { return nil }
        self = time
    }

    /// The same from UTF-8 bytes.
    init?(utf8 b: UnsafeBufferPointer<UInt8>) {
        func number(_ range: Range<Int>) -> Int64? {
            guard range.upperBound <= b.count, !range.isEmpty else { return nil }
            var v: Int64 = 0
            for i in range {
                guard b[i] >= 48, b[i] <= 57 else { return nil }
                v = v * 10 + Int64(b[i] - 48)
            }
            return v
        }
        guard b.count >= 20, b.last == UInt8(ascii: "Z"), b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-"),
              b[10] == UInt8(ascii: "T"), b[13] == UInt8(ascii: ":"), b[16] == UInt8(ascii: ":"),
              let y = number(0..<4), let mo = number(5..<7), let d = number(8..<10),
              let h = number(11..<13), let mi = number(14..<16), let s = number(17..<19),
              (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 61 else { return nil }
        var nanos: Int64 = 0
        if b.count > 20 {
            guard b[19] == UInt8(ascii: "."), b.count - 21 <= 9, let fraction = number(20..<(b.count - 1)) else { return nil }
            nanos = fraction
            for _ in 0..<(9 - (b.count - 21)) { nanos *= 10 }
        } else {
            guard b.count == 20 else { return nil }
        }
        let days = Self.days(fromCivil: y, mo, d)
        self.init(seconds: days * 86_400 + h * 3600 + mi * 60 + s, nanoseconds: Int32(nanos))
    }

    // Howard Hinnant's civil calendar algorithms (proleptic Gregorian, days since 1970-01-01).
    static func civil(fromDays z0: Int64) -> (Int64, Int64, Int64) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    static func days(fromCivil y0: Int64, _ m: Int64, _ d: Int64) -> Int64 {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}

extension FileTime: Codable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        let text = try c.decode(String.self)
        guard let value = FileTime(text) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "not a file time: \(text)")
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(description)
    }
}
