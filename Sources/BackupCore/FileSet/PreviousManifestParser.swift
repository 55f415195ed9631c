import Foundation
import GRDB
import GRDBSQLite

/// One entry of a manifest as `ManifestWriter` writes it (`{"crc32":…,"path":…}` on one line). The
/// buffers point into the scanner's memory and are valid only during the callback.
struct ScannedEntry {
    var path: UnsafeBufferPointer<UInt8>
    var sha256: UnsafeBufferPointer<UInt8>
    var size: UInt64
    var crc32: UInt32?
    var mode: UInt16?
    var modified: FileTime?
    var sourcePath: UnsafeBufferPointer<UInt8>?
}

/// Reads a manifest that `ManifestWriter` wrote, in pieces of any size, without `JSONDecoder` and
/// without holding it whole: each entry line is parsed as it comes and handed to a callback, and
/// only the rest (`outer`: the manifest with an empty `entries`, small) is kept, to be decoded as
/// usual. For 200,000 files `JSONDecoder` would need ~5 times the text's 42 MB.
///
/// Anything not in exactly that shape (another writer, pretty-printed entries) makes `feed` return
/// false; callers then decode the manifest the ordinary way, or refuse it.
struct ManifestScanner {
    private enum State { case head, entries, tail, failed }
    private var state = State.head
    /// The manifest without its entries: everything before them and everything after.
    private(set) var outer: [UInt8] = []
    private(set) var entryCount = 0
    private var partial: [UInt8] = []
    private var scratch = EntryScratch()

    private static let entriesLine = Array("  \"entries\" : [".utf8)

    /// Parses every complete line of `chunk`; false once the text is not in the expected shape.
    mutating func feed(_ chunk: UnsafeRawBufferPointer, _ onEntry: (ScannedEntry) throws -> Void) rethrows -> Bool {
        guard state != .failed else { return false }
        let bytes = chunk.bindMemory(to: UInt8.self)
        var start = 0
        while start < bytes.count {
            guard let newline = Self.newline(in: bytes, from: start) else {
                partial.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start...]))
                break
            }
            if partial.isEmpty {
                try line(UnsafeBufferPointer(rebasing: bytes[start..<newline]), onEntry)
            } else {
                partial.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<newline]))
                let whole = partial
                partial.removeAll(keepingCapacity: true)
                try whole.withUnsafeBufferPointer { try line($0, onEntry) }
            }
            start = newline + 1
            if state == .failed { return false }
        }
        return true
    }

    /// After the last piece: true if the whole manifest was in the expected shape.
    mutating func finish(_ onEntry: (ScannedEntry) throws -> Void) rethrows -> Bool {
        if !partial.isEmpty {
            let whole = partial
            partial = []
            try whole.withUnsafeBufferPointer { try line($0, onEntry) }
        }
        return state == .tail
    }

    /// The manifest's other fields (its `entries` empty).
    func decodeOuter() throws -> Manifest {
        try Manifest.decode(outer)
    }

    private mutating func line(_ text: UnsafeBufferPointer<UInt8>, _ onEntry: (ScannedEntry) throws -> Void) rethrows {
        switch state {
        case .head:
            outer.append(contentsOf: text)
            outer.append(UInt8(ascii: "\n"))
            if text.elementsEqual(Self.entriesLine) { state = .entries }
        case .entries:
            // "    {…}," or "    {…}"; the array ends with a line "  ]" or "  ],".
            var i = 0
            while i < text.count, text[i] == UInt8(ascii: " ") { i += 1 }
            if i == 2, i < text.count, text[i] == UInt8(ascii: "]") {
                outer.append(contentsOf: text)
                outer.append(UInt8(ascii: "\n"))
                state = .tail
                return
            }
            var end = text.count
            if end > i, text[end - 1] == UInt8(ascii: ",") { end -= 1 }
            guard i == 4, end - i >= 2, text[i] == UInt8(ascii: "{"), text[end - 1] == UInt8(ascii: "}"),
                  try scratch.parse(UnsafeBufferPointer(rebasing: text[(i + 1)..<(end - 1)]), onEntry) else {
                state = .failed
                return
            }
            entryCount += 1
        case .tail:
            outer.append(contentsOf: text)
            outer.append(UInt8(ascii: "\n"))
        case .failed:
            return
        }
    }

    private static func newline(in bytes: UnsafeBufferPointer<UInt8>, from: Int) -> Int? {
        guard from < bytes.count, let base = bytes.baseAddress,
              let found = memchr(base + from, 0x0A, bytes.count - from) else { return nil }
        return base.distance(to: found.assumingMemoryBound(to: UInt8.self))
    }
}

/// The parser of one entry's fields, with buffers kept from one entry to the next.
private struct EntryScratch {
    var path: [UInt8] = []
    var sha: [UInt8] = []
    var other: [UInt8] = []

    /// `"crc32":N,"mode":N,"modified":"…","path":"…","sha256":"…","size":N[,"sourcePath":"…"]`; the
    /// file fields are absent on database and config entries.
    mutating func parse(_ b: UnsafeBufferPointer<UInt8>, _ body: (ScannedEntry) throws -> Void) rethrows -> Bool {
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
            // JSON numbers have no leading zeros.
            guard i > from, i - from == 1 || b[from] != 48 else { return nil }
            return v
        }
        func comma() -> Bool {
            guard i < b.count, b[i] == UInt8(ascii: ",") else { return false }
            i += 1
            return true
        }
        var crc: UInt64?, mode: UInt64?, modified: FileTime?
        if key("crc32") { guard let v = number(), v <= UInt64(UInt32.max), comma() else { return false }; crc = v }
        if key("mode") { guard let v = number(), v <= UInt64(UInt16.max), comma() else { return false }; mode = v }
        if key("modified") {
            guard Self.string(b, &i, into: &other),
                  let t = other.withUnsafeBufferPointer({ FileTime(utf8: $0) }), comma() else { return false }
            modified = t
        }
        guard key("path"), Self.string(b, &i, into: &path), comma(),
              key("sha256"), Self.string(b, &i, into: &sha), comma(),
              key("size"), let size = number() else { return false }
        var hasSource = false
        if i < b.count {
            guard comma(), key("sourcePath"), Self.string(b, &i, into: &other), i == b.count else { return false }
            hasSource = true
        }
        // The three file fields come together or not at all.
        guard (crc == nil) == (mode == nil), (crc == nil) == (modified == nil) else { return false }
        try path.withUnsafeBufferPointer { p in
            try sha.withUnsafeBufferPointer { s in
                try other.withUnsafeBufferPointer { source in
                    try body(ScannedEntry(path: p, sha256: s, size: size, crc32: crc.map { UInt32($0) }, mode: mode.map { UInt16($0) },
                                          modified: modified, sourcePath: hasSource ? source : nil))
                }
            }
        }
        return true
    }

    /// A JSON string at `i`, its escapes resolved, into `out`. False if it is not one.
    static func string(_ b: UnsafeBufferPointer<UInt8>, _ i: inout Int, into out: inout [UInt8]) -> Bool {
        out.removeAll(keepingCapacity: true)
        guard i < b.count, b[i] == UInt8(ascii: "\"") else { return false }
        // Most strings have no escape: copied in one go.
        var end = i + 1
        while end < b.count, b[end] != UInt8(ascii: "\""), b[end] != UInt8(ascii: "\\"), b[end] >= 0x20 { end += 1 }
        if end < b.count, b[end] == UInt8(ascii: "\"") {
            out.append(contentsOf: UnsafeBufferPointer(rebasing: b[(i + 1)..<end]))
            i = end + 1
            return true
        }
        var j = i + 1
        while j < b.count {
            let c = b[j]
            if c == UInt8(ascii: "\"") {
                i = j + 1
                return true
            }
            if c < 0x20 { return false }
            if c != UInt8(ascii: "\\") {
                out.append(c)
                j += 1
                continue
            }
            guard j + 1 < b.count else { return false }
            let e = b[j + 1]
            j += 2
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                guard var scalar = hex4(b, j) else { return false }
                j += 4
                if (0xD800..<0xDC00).contains(scalar) {
                    guard j + 6 <= b.count, b[j] == UInt8(ascii: "\\"), b[j + 1] == UInt8(ascii: "u"),
                          let low = hex4(b, j + 2), (0xDC00..<0xE000).contains(low) else { return false }
                    scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    j += 6
                }
                guard let u = Unicode.Scalar(scalar) else { return false }
                out.append(contentsOf: UTF8.encode(u)!)
            default: return false
            }
        }
        return false
    }

    private static func hex4(_ b: UnsafeBufferPointer<UInt8>, _ at: Int) -> UInt32? {
        guard at + 4 <= b.count else { return nil }
        var v: UInt32 = 0
        for k in at..<at + 4 {
            let c = b[k]
            let d: UInt32
            switch c {
            case 48...57: d = UInt32(c - 48)
            case 97...102: d = UInt32(c - 87)
            case 65...70: d = UInt32(c - 55)
            default: return nil
            }
            v = v << 4 | d
        }
        return v
    }
}

/// The previous manifest's file entries, read with `ManifestScanner`.
enum PreviousManifestParser {
    struct Parsed {
        var summary: FileSetSummary
        var backupId: String
        var files: PreviousFileTable
    }

    /// Collects the entries under `prefix` that carry the file fields.
    private struct Collector {
        var scanner = ManifestScanner()
        var files = PreviousFileTable()
        let prefix: [UInt8]

        init(prefix: String) { self.prefix = Array(prefix.utf8) }

        mutating func feed(_ chunk: UnsafeRawBufferPointer) -> Bool {
            var files = PreviousFileTable()
            swap(&files, &self.files)
            defer { swap(&files, &self.files) }
            let prefix = self.prefix
            return scanner.feed(chunk) { Self.add($0, prefix: prefix, to: &files) }
        }

        mutating func finish() -> Parsed? {
            var files = PreviousFileTable()
            swap(&files, &self.files)
            let prefix = self.prefix
            guard scanner.finish({ Self.add($0, prefix: prefix, to: &files) }), let manifest = try? scanner.decodeOuter(),
                  let summary = manifest.files else { return nil }
            files.seal()
            return Parsed(summary: summary, backupId: manifest.backupId, files: files)
        }

        private static func add(_ entry: ScannedEntry, prefix: [UInt8], to files: inout PreviousFileTable) {
            guard let crc = entry.crc32, let modified = entry.modified, entry.path.starts(with: prefix) else { return }
            files.append(entry.path, PreviousFile(size: entry.size, modified: modified, crc32: crc, digest: SHA256Bytes(hex: entry.sha256)))
        }
    }

    /// The manifest of job `jobId` in the catalog, read from its row a piece at a time
    /// (`sqlite3_blob_read`); nil if it is not in the shape `ManifestWriter` writes.
    static func parse(manifestOf jobId: Int64, in db: Database, prefix: String) throws -> Parsed? {
        var collector = Collector(prefix: prefix)
        if let count = try Int.fetchOne(db, sql: "SELECT entry_count FROM backup_manifest WHERE job_id = ?", arguments: [jobId]) {
            collector.files.reserve(count)
        }
        guard try ManifestBlob.read(manifestOf: jobId, in: db, { collector.feed($0) }) else { return nil }
        return collector.finish()
    }

    /// The same from a manifest at hand.
    static func parse(_ json: String, prefix: String) -> Parsed? {
        var collector = Collector(prefix: prefix)
        var text = json
        guard text.withUTF8({ collector.feed(UnsafeRawBufferPointer($0)) }) else { return nil }
        return collector.finish()
    }
}
