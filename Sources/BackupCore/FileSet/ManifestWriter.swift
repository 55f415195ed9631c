import Foundation

/// Writes `manifest.json` for archives with many entries (file and full backups).
///
/// `JSONEncoder` builds a tree of every value before it writes a byte: for 52,000 files that is
/// ~40 MB of dictionaries and a second or so. Here the entries are written by hand, one compact object
/// per line (which also makes `grep name manifest.json` show a file's whole record), and the rest of
/// the manifest by `Manifest.encoder` as usual. The result is ordinary JSON that `Manifest.decode`
/// reads; the keys of each entry are sorted like the encoder sorts them.
enum ManifestWriter {
    static func encode(_ manifest: Manifest) throws -> [UInt8] {
        var rest = manifest
        rest.entries = []
        let outer = try rest.encoded()
        // With sorted keys and pretty printing, the empty array is `"entries" : [\n\n  ]` at depth 1;
        // strings escape their newlines, so this text cannot occur inside a value.
        let key = Array("\n  \"entries\" : [".utf8)
        guard let start = outer.withUnsafeBufferPointer({ PriorFileParser.find(key, in: $0, from: 0) }),
              let close = outer[start.upperBound...].firstIndex(of: UInt8(ascii: "]")) else {
            throw BackupError(.io, "Could not write the manifest.", detail: "entries key not found")
        }
        var out: [UInt8] = []
        out.reserveCapacity(outer.count + manifest.entries.count * 230)
        out += outer[..<start.upperBound]
        for (index, entry) in manifest.entries.enumerated() {
            out += index == 0 ? Array("\n    ".utf8) : Array(",\n    ".utf8)
            write(entry, into: &out)
        }
        out += Array("\n  ".utf8)
        out += outer[close...]
        return out
    }

    private static func write(_ e: Manifest.Entry, into out: inout [UInt8]) {
        var first = true
        func key(_ name: StaticString) {
            out.append(first ? UInt8(ascii: "{") : UInt8(ascii: ","))
            first = false
            out.append(UInt8(ascii: "\""))
            out.append(contentsOf: UnsafeBufferPointer(start: name.utf8Start, count: name.utf8CodeUnitCount))
            out.append(contentsOf: [UInt8(ascii: "\""), UInt8(ascii: ":")])
        }
        if let crc = e.crc32 { key("crc32"); number(UInt64(crc), into: &out) }
        if let mode = e.mode { key("mode"); number(UInt64(mode), into: &out) }
        if let modified = e.modified { key("modified"); string(modified.description, into: &out) }
        key("path"); string(e.path, into: &out)
        key("sha256"); string(e.sha256, into: &out)
        key("size"); number(e.size, into: &out)
        if let source = e.sourcePath { key("sourcePath"); string(source, into: &out) }
        out.append(UInt8(ascii: "}"))
    }

    private static func number(_ value: UInt64, into out: inout [UInt8]) {
        if value == 0 { out.append(UInt8(ascii: "0")); return }
        var digits: [UInt8] = []
        var v = value
        while v > 0 {
            digits.append(UInt8(ascii: "0") + UInt8(v % 10))
            v /= 10
        }
        out += digits.reversed()
    }

    /// A JSON string: quotes, backslashes and control characters escaped, everything else as UTF-8.
    static func string(_ text: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out += Array("\\u00".utf8) + [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
