import Foundation

/// Keeps named secrets out of the config files in an archive (settings `[store] config_redact_keys`),
/// and puts the live values back when such a file is restored.
///
/// A JSON file (its first non-blank byte is `{` or `[`): the value of every member `"key": value`, at any
/// depth. Any other file (TOML, INI, `.env`): the value of every line `key = value` (the key bare or
/// quoted, or the last part of a dotted key; the value a string of any TOML kind, an array or inline table
/// over several lines, or a bare word up to a comment). The value becomes `"REDACTED by caps-backup"` (a
/// string, so the file still parses); the rest of the file is kept byte for byte. Works on bytes: a file
/// need not be UTF-8.
public enum ConfigRedaction {
    public static let marker = "REDACTED by caps-backup"
    static var markerLiteral: [UInt8] { Array("\"\(marker)\"".utf8) }

    /// Whether `key` can be named in `config_redact_keys`: what a bare TOML key or a plain JSON member name holds.
    public static func isValidKey(_ key: String) -> Bool {
        !key.isEmpty && key.utf8.allSatisfy { c in
            (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || c == 0x2D
        }
    }

    /// `bytes` with the values of `keys` replaced by the marker, and the keys that were found.
    static func redact(_ bytes: [UInt8], keys: [String]) -> (bytes: [UInt8], redacted: [String]) {
        guard !keys.isEmpty else { return (bytes, []) }
        let wanted = Set(keys)
        // In order; a value inside one already redacted (a JSON object under a redacted key) goes with it.
        var values: [Value] = []
        for value in Self.values(in: bytes) where wanted.contains(value.key) {
            if let last = values.last, value.range.lowerBound < last.range.upperBound { continue }
            values.append(value)
        }
        var out = bytes
        for value in values.reversed() { out.replaceSubrange(value.range, with: markerLiteral) }
        var found: [String] = []
        for value in values where !found.contains(value.key) { found.append(value.key) }
        return (out, found)
    }

    /// The archived file `stored` with every redacted value replaced by the value of the same key (its
    /// n-th occurrence for the n-th) in `live`, the file now on disk. Throws when a value is not there to
    /// keep: restoring the marker as a secret would silently break the program, or make its key public.
    static func restore(_ stored: [UInt8], live: [UInt8]?, file: String) throws -> [UInt8] {
        let redacted = values(in: stored).filter { stored[$0.range].elementsEqual(markerLiteral) }
        guard !redacted.isEmpty else { return stored }
        let liveValues = live.map { values(in: $0) } ?? []
        var seen: [String: Int] = [:]
        var replacements: [(Range<Int>, ArraySlice<UInt8>)] = []
        for value in redacted {
            let n = seen[value.key, default: 0]
            seen[value.key] = n + 1
            let matches = liveValues.filter { $0.key == value.key }
            guard let live, n < matches.count, !live[matches[n].range].elementsEqual(markerLiteral) else {
                throw BackupError(
                    .invalidInput,
                    "The config file \(file) was backed up with the value of \(value.key) left out (config_redact_keys), and the file on this server has no value for it to keep; nothing was restored. Restore that file by hand (unzip) and fill in the value.")
            }
            replacements.append((value.range, live[matches[n].range]))
        }
        var out = stored
        for (range, bytes) in replacements.reversed() { out.replaceSubrange(range, with: bytes) }
        return out
    }

    struct Value {
        var key: String
        var range: Range<Int>
    }

    /// Every key's value in the file, in order (see the type's comment for the two syntaxes).
    static func values(in bytes: [UInt8]) -> [Value] {
        let first = bytes.first { ![0x20, 0x09, 0x0A, 0x0D, 0xEF, 0xBB, 0xBF].contains($0) }
        return first == UInt8(ascii: "{") || first == UInt8(ascii: "[") ? jsonValues(bytes) : lineValues(bytes)
    }

    // MARK: key = value lines

    private static func lineValues(_ b: [UInt8]) -> [Value] {
        var result: [Value] = []
        var i = 0
        while i < b.count {
            // At the start of a line.
            var p = skipBlanks(b, i)
            if let (key, afterKey) = lineKey(b, p) {
                p = skipBlanks(b, afterKey)
                if p < b.count, b[p] == UInt8(ascii: "=") {
                    let start = skipBlanks(b, p + 1)
                    let end = tomlValueEnd(b, start)
                    if end > start {
                        result.append(Value(key: key, range: start..<end))
                        i = end
                    }
                }
            }
            while i < b.count, b[i] != 0x0A { i += 1 }
            i += 1
        }
        return result
    }

    /// A key at `p`: bare (letters, digits, `_`, `-`, dotted) or quoted; for a dotted key, its last part.
    private static func lineKey(_ b: [UInt8], _ p: Int) -> (String, Int)? {
        var parts: [String] = []
        var i = p
        while i < b.count {
            if b[i] == UInt8(ascii: "\"") || b[i] == UInt8(ascii: "'") {
                let quote = b[i]
                var j = i + 1
                while j < b.count, b[j] != quote, b[j] != 0x0A { j += 1 }
                guard j < b.count, b[j] == quote else { return nil }
                parts.append(String(decoding: b[(i + 1)..<j], as: UTF8.self))
                i = j + 1
            } else {
                var j = i
                while j < b.count, isBareKeyByte(b[j]) { j += 1 }
                guard j > i else { return nil }
                parts.append(String(decoding: b[i..<j], as: UTF8.self))
                i = j
            }
            let k = skipBlanks(b, i)
            guard k < b.count, b[k] == UInt8(ascii: ".") else { break }
            i = skipBlanks(b, k + 1)
        }
        guard let last = parts.last else { return nil }
        return (last, i)
    }

    private static func isBareKeyByte(_ c: UInt8) -> Bool {
        (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F || c == 0x2D
    }

    private static func skipBlanks(_ b: [UInt8], _ p: Int) -> Int {
        var i = p
        while i < b.count, b[i] == 0x20 || b[i] == 0x09 { i += 1 }
        return i
    }

    private static func starts(_ b: [UInt8], _ p: Int, _ s: String) -> Bool {
        let t = Array(s.utf8)
        return p + t.count <= b.count && b[p..<(p + t.count)].elementsEqual(t)
    }

    /// Where a TOML value starting at `p` ends (exclusive).
    private static func tomlValueEnd(_ b: [UInt8], _ p: Int) -> Int {
        guard p < b.count else { return p }
        for triple in ["\"\"\"", "'''"] where starts(b, p, triple) {
            var i = p + 3
            while i < b.count {
                if triple == "\"\"\"", b[i] == UInt8(ascii: "\\") { i += 2; continue }
                if starts(b, i, triple) {
                    i += 3
                    while i < b.count, b[i] == Array(triple.utf8)[0] { i += 1 }  // up to two quotes may close the content
                    return i
                }
                i += 1
            }
            return b.count
        }
        switch b[p] {
        case UInt8(ascii: "\""), UInt8(ascii: "'"):
            return stringEnd(b, p, escapes: b[p] == UInt8(ascii: "\""), singleLine: true)
        case UInt8(ascii: "["), UInt8(ascii: "{"):
            return bracketEnd(b, p, comments: true)
        default:
            var i = p
            while i < b.count, b[i] != 0x0A, b[i] != 0x0D, b[i] != UInt8(ascii: "#") { i += 1 }
            while i > p, b[i - 1] == 0x20 || b[i - 1] == 0x09 { i -= 1 }
            return i
        }
    }

    /// The end of a string starting with the quote at `p`.
    private static func stringEnd(_ b: [UInt8], _ p: Int, escapes: Bool, singleLine: Bool) -> Int {
        let quote = b[p]
        var i = p + 1
        while i < b.count {
            if escapes, b[i] == UInt8(ascii: "\\") { i += 2; continue }
            if b[i] == quote { return i + 1 }
            if singleLine, b[i] == 0x0A { return i }
            i += 1
        }
        return b.count
    }

    /// The end of an array or table starting at `p`, strings (and, in TOML, comments) skipped.
    private static func bracketEnd(_ b: [UInt8], _ p: Int, comments: Bool) -> Int {
        var depth = 0
        var i = p
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") || (comments && c == UInt8(ascii: "'")) {
                if comments, starts(b, i, "\"\"\"") || starts(b, i, "'''") { i = tomlValueEnd(b, i); continue }
                i = stringEnd(b, i, escapes: c == UInt8(ascii: "\""), singleLine: false)
                continue
            }
            if comments, c == UInt8(ascii: "#") {
                while i < b.count, b[i] != 0x0A { i += 1 }
                continue
            }
            if c == UInt8(ascii: "[") || c == UInt8(ascii: "{") { depth += 1 }
            if c == UInt8(ascii: "]") || c == UInt8(ascii: "}") {
                depth -= 1
                if depth == 0 { return i + 1 }
            }
            i += 1
        }
        return b.count
    }

    // MARK: JSON members

    private static func jsonValues(_ b: [UInt8]) -> [Value] {
        var result: [Value] = []
        var i = 0
        while i < b.count {
            guard b[i] == UInt8(ascii: "\"") else { i += 1; continue }
            let end = stringEnd(b, i, escapes: true, singleLine: false)
            var p = end
            while p < b.count, [0x20, 0x09, 0x0A, 0x0D].contains(b[p]) { p += 1 }
            guard p < b.count, b[p] == UInt8(ascii: ":") else { i = end; continue }
            let key = String(decoding: b[(i + 1)..<max(i + 1, end - 1)], as: UTF8.self)
            p += 1
            while p < b.count, [0x20, 0x09, 0x0A, 0x0D].contains(b[p]) { p += 1 }
            guard p < b.count else { break }
            let valueEnd: Int
            switch b[p] {
            case UInt8(ascii: "\""): valueEnd = stringEnd(b, p, escapes: true, singleLine: false)
            case UInt8(ascii: "["), UInt8(ascii: "{"): valueEnd = bracketEnd(b, p, comments: false)
            default:
                var e = p
                while e < b.count, ![UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x09, 0x0A, 0x0D].contains(b[e]) { e += 1 }
                valueEnd = e
            }
            result.append(Value(key: key, range: p..<valueEnd))
            // Members inside an object or array value are found too: continue inside it, not after it.
            i = b[p] == UInt8(ascii: "{") || b[p] == UInt8(ascii: "[") ? p + 1 : valueEnd
        }
        return result
    }
}
