import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Writes `manifest.json` for archives with many entries (file and full backups).
///
/// `JSONEncoder` builds a tree of every value before it writes a byte: for 52,000 files that is
/// ~40 MB of dictionaries and a second or so. Here the entries are written by hand, one compact object
/// per line (which also makes `grep name manifest.json` show a file's whole record), and the rest of
/// the manifest by `Manifest.encoder` as usual. The result is ordinary JSON that `Manifest.decode`
/// reads; the keys of each entry are sorted like the encoder sorts them.
///
/// `encode` builds it in memory; a file backup instead spools the entries to a file as they are
/// archived (`ManifestSpool`), with the same bytes, so 200,000 entries never sit in memory.
enum ManifestWriter {
    static func encode(_ manifest: Manifest) throws -> [UInt8] {
        var rest = manifest
        rest.entries = []
        let (head, tail) = try outer(rest)
        var out: [UInt8] = []
        out.reserveCapacity(head.count + tail.count + manifest.entries.count * 230)
        out += head
        for (index, entry) in manifest.entries.enumerated() {
            out += index == 0 ? Array("\n    ".utf8) : Array(",\n    ".utf8)
            write(entry, into: &out)
        }
        out += tail
        return out
    }

    /// The manifest (its entries ignored) cut where the entries go: everything up to the array's `[`,
    /// and from the line break before its `]`.
    static func outer(_ manifest: Manifest) throws -> (head: [UInt8], tail: [UInt8]) {
        var rest = manifest
        rest.entries = []
        let outer = try rest.encoded()
        // With sorted keys and pretty printing, the empty array is `"entries" : [\n\n  ]` at depth 1;
        // strings escape their newlines, so this text cannot occur inside a value.
        let key = Array("\n  \"entries\" : [".utf8)
        guard let start = outer.withUnsafeBufferPointer({ find(key, in: $0, from: 0) }),
              let close = outer[start.upperBound...].firstIndex(of: UInt8(ascii: "]")) else {
            throw BackupError(.io, "Could not write the manifest.", detail: "entries key not found")
        }
        return (Array(outer[..<start.upperBound]), Array("\n  ".utf8) + outer[close...])
    }

    static func write(_ e: Manifest.Entry, into out: inout [UInt8]) {
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
        if let modified = e.modified {
            key("modified")
            out.append(UInt8(ascii: "\""))
            modified.appendDescription(to: &out)
            out.append(UInt8(ascii: "\""))
        }
        key("path"); string(e.path, into: &out)
        key("sha256"); string(e.sha256, into: &out)
        key("size"); number(e.size, into: &out)
        if let source = e.sourcePath { key("sourcePath"); string(source, into: &out) }
        out.append(UInt8(ascii: "}"))
    }

    /// A file entry, exactly as `write` writes the same `Manifest.Entry`.
    static func writeFile(name: UnsafeBufferPointer<UInt8>, size: UInt64, sha256: SHA256Bytes, mode: UInt16, modified: FileTime,
                          crc32: UInt32, into out: inout [UInt8]) {
        out.append(contentsOf: "{\"crc32\":".utf8)
        number(UInt64(crc32), into: &out)
        out.append(contentsOf: ",\"mode\":".utf8)
        number(UInt64(mode), into: &out)
        out.append(contentsOf: ",\"modified\":\"".utf8)
        modified.appendDescription(to: &out)
        out.append(contentsOf: "\",\"path\":".utf8)
        string(name, into: &out)
        out.append(contentsOf: ",\"sha256\":\"".utf8)
        sha256.appendHex(to: &out)
        out.append(contentsOf: "\",\"size\":".utf8)
        number(size, into: &out)
        out.append(UInt8(ascii: "}"))
    }

    static func number(_ value: UInt64, into out: inout [UInt8]) {
        if value == 0 { out.append(UInt8(ascii: "0")); return }
        var v = value
        var length = 0
        while v > 0 { length += 1; v /= 10 }
        let start = out.count
        for _ in 0..<length { out.append(0) }
        v = value
        for i in stride(from: start + length - 1, through: start, by: -1) {
            out[i] = UInt8(ascii: "0") + UInt8(v % 10)
            v /= 10
        }
    }

    /// A JSON string: quotes, backslashes and control characters escaped, everything else as UTF-8.
    static func string(_ text: String, into out: inout [UInt8]) {
        var text = text
        text.withUTF8 { string($0, into: &out) }
    }

    static func string(_ utf8: UnsafeBufferPointer<UInt8>, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in utf8 {
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
}

/// The entries of a manifest, written to a file in the job's work folder as they are produced (a
/// 256 KiB buffer in memory), then put together with the rest of the manifest: `ManifestText`.
/// The text is byte for byte what `ManifestWriter.encode` makes of the same manifest.
final class ManifestSpool {
    let url: URL
    private var fd: Int32
    private var buffer: [UInt8] = []
    private let bufferLimit = 256 << 10
    private(set) var count = 0
    private var written: UInt64 = 0

    init(creating url: URL) throws {
        self.url = url
        fd = try POSIXFile.createPrivate(url)
        buffer.reserveCapacity(bufferLimit + 4096)
    }

    deinit { if fd >= 0 { close(fd) } }

    func add(_ entry: Manifest.Entry) throws {
        separator()
        ManifestWriter.write(entry, into: &buffer)
        try flushIfFull()
    }

    func addFile(name: UnsafeBufferPointer<UInt8>, size: UInt64, sha256: SHA256Bytes, mode: UInt16, modified: FileTime, crc32: UInt32) throws {
        separator()
        ManifestWriter.writeFile(name: name, size: size, sha256: sha256, mode: mode, modified: modified, crc32: crc32, into: &buffer)
        try flushIfFull()
    }

    /// The whole manifest: `manifest`'s fields (its `entries` ignored) around the spooled entries.
    func finish(_ manifest: Manifest) throws -> ManifestText {
        try flush()
        let (head, tail) = try ManifestWriter.outer(manifest)
        return ManifestText(head: head, entries: url, entriesSize: written, tail: tail, entryCount: count)
    }

    private func separator() {
        buffer.append(contentsOf: count == 0 ? "\n    ".utf8 : ",\n    ".utf8)
        count += 1
    }

    private func flushIfFull() throws {
        if buffer.count >= bufferLimit { try flush() }
    }

    private func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { try POSIXFile.writeAll(fd, $0) }
        written += UInt64(buffer.count)
        buffer.removeAll(keepingCapacity: true)
    }
}

/// A manifest whose entries are in a file: head + entries + tail, read back a piece at a time.
struct ManifestText {
    var head: [UInt8]
    var entries: URL
    var entriesSize: UInt64
    var tail: [UInt8]
    var entryCount: Int

    var size: UInt64 { UInt64(head.count) + entriesSize + UInt64(tail.count) }

    /// Hands the text to `body` in order, in pieces of at most 1 MiB.
    func forEachPiece(_ body: (UnsafeRawBufferPointer) throws -> Void) throws {
        try head.withUnsafeBytes { try body($0) }
        let fd = try POSIXFile.openForReading(entries)
        defer { close(fd) }
        let chunk = 1 << 20
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buffer.deallocate() }
        var done: UInt64 = 0
        while done < entriesSize {
            let want = Int(min(UInt64(chunk), entriesSize - done))
            let got = try POSIXFile.pread(fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]), at: done)
            guard got > 0 else { throw BackupError(.io, "Could not read the manifest back.", detail: "\(entries.path): short read") }
            try body(UnsafeRawBufferPointer(rebasing: buffer[0..<got]))
            done += UInt64(got)
        }
        try tail.withUnsafeBytes { try body($0) }
    }
}
