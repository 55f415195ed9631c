import Foundation

/// Reads the file entries of a manifest that `ManifestWriter` wrote (one compact object per line)
/// without `JSONDecoder`, which for 52,000 entries takes a quarter of a second and several times the
/// text's size in memory. Anything not in exactly that shape (another writer, an escaped character)
/// makes it return nil, and the caller decodes the manifest the ordinary way.
enum PriorFileParser {
    struct Parsed {
        var summary: FileSetSummary
        var backupId: String
        var files: [String: PriorFile]
    }

    static func parse(_ json: String, prefix: String) -> Parsed? {
        var text = json
        return text.withUTF8 { bytes -> Parsed? in
            let open = Array("\n  \"entries\" : [".utf8)
            guard let start = find(open, in: bytes, from: 0) else { return nil }
            guard let end = find(Array("\n  ]".utf8), in: bytes, from: start.upperBound) else { return nil }
            // Everything but the entries, decoded as usual: it is small.
            let outer = Array(bytes[..<start.upperBound]) + Array(bytes[end.lowerBound...])
            guard let manifest = try? Manifest.decode(outer), let summary = manifest.files else { return nil }
            var files: [String: PriorFile] = [:]
            var line = start.upperBound
            let prefixBytes = Array(prefix.utf8)
            while line < end.lowerBound {
                // Each entry: "\n    {...}" followed by "," or the closing bracket.
                guard let braceOpen = bytes[line..<end.lowerBound].firstIndex(of: UInt8(ascii: "{")),
                      let braceClose = bytes[braceOpen..<end.lowerBound].firstIndex(of: UInt8(ascii: "}")) else { return nil }
                guard let entry = parseEntry(UnsafeBufferPointer(rebasing: bytes[(braceOpen + 1)..<braceClose])) else { return nil }
                if let file = entry.file, entry.path.starts(with: prefixBytes) {
                    files[String(decoding: entry.path, as: UTF8.self)] = file
                }
                line = braceClose + 1
            }
            return Parsed(summary: summary, backupId: manifest.backupId, files: files)
        }
    }

    /// The first occurrence of `needle` at or after `from` (Foundation's `firstRange(of:)` on a buffer is
    /// generic and unspecialised here: a thousand times slower on 10 MB).
    static func find(_ needle: [UInt8], in bytes: UnsafeBufferPointer<UInt8>, from: Int) -> Range<Int>? {
        guard let first = needle.first, needle.count <= bytes.count else { return nil }
        var i = from
        while i + needle.count <= bytes.count {
            if bytes[i] == first {
                var j = 1
                while j < needle.count, bytes[i + j] == needle[j] { j += 1 }
                if j == needle.count { return i..<i + needle.count }
            }
            i += 1
        }
        return nil
    }

    /// `"crc32":N,"mode":N,"modified":"…","path":"…","sha256":"…","size":N[,"sourcePath":"…"]`; the
    /// file fields are absent on database and config entries (then `file` is nil).
    private static func parseEntry(_ b: UnsafeBufferPointer<UInt8>) -> (path: ArraySlice<UInt8>, file: PriorFile?)? {
        var i = 0
        func key(_ name: StaticString) -> Bool {
            // "name":
            let n = name.utf8CodeUnitCount
            guard b.count - i >= n + 3, b[i] == UInt8(ascii: "\""), b[i + n + 1] == UInt8(ascii: "\""), b[i + n + 2] == UInt8(ascii: ":"),
                  memcmp(b.baseAddress! + i + 1, name.utf8Start, n) == 0 else { return false }
            i += n + 3
            return true
        }
        func number() -> UInt64? {
            var v: UInt64 = 0
            let from = i
            while i < b.count, b[i] >= 48, b[i] <= 57 {
                let (m, o1) = v.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(UInt64(b[i] - 48))
                guard !o1, !o2 else { return nil }
                v = a
                i += 1
            }
            return i > from ? v : nil
        }
        func string() -> Range<Int>? {
            guard i < b.count, b[i] == UInt8(ascii: "\"") else { return nil }
            let from = i + 1
            var j = from
            while j < b.count, b[j] != UInt8(ascii: "\"") {
                if b[j] == UInt8(ascii: "\\") { return nil }  // escapes: leave them to JSONDecoder
                j += 1
            }
            guard j < b.count else { return nil }
            i = j + 1
            return from..<j
        }
        func comma() -> Bool {
            guard i < b.count, b[i] == UInt8(ascii: ",") else { return false }
            i += 1
            return true
        }
        var crc: UInt64?, mode: UInt64?, modified: FileTime?
        if key("crc32") { guard let v = number(), v <= UInt64(UInt32.max), comma() else { return nil }; crc = v }
        if key("mode") { guard let v = number(), v <= UInt64(UInt16.max), comma() else { return nil }; mode = v }
        if key("modified") {
            guard let r = string(), let t = FileTime(String(decoding: UnsafeBufferPointer(rebasing: b[r]), as: UTF8.self)), comma() else { return nil }
            modified = t
        }
        guard key("path"), let path = string(), comma(), key("sha256"), let sha = string(), comma(), key("size"), let size = number() else { return nil }
        if i < b.count {
            guard comma(), key("sourcePath"), string() != nil, i == b.count else { return nil }
        }
        let pathBytes = ArraySlice(UnsafeBufferPointer(rebasing: b[path]))
        guard let crc, mode != nil, let modified else { return (pathBytes, nil) }
        return (pathBytes, PriorFile(size: size, modified: modified, crc32: UInt32(crc),
                                     sha256: String(decoding: UnsafeBufferPointer(rebasing: b[sha]), as: UTF8.self)))
    }
}
