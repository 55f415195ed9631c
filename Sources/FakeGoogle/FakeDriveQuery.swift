import Foundation

/// Drive's `files.list` search query language, the part a client of ours may use ("Search query terms"):
/// `name = 'x'`, `name != 'x'`, `name contains 'x'`, `mimeType = 'x'`, `mimeType != 'x'`, `trashed = false`,
/// `'<id>' in parents`, `appProperties has { key='k' and value='v' }`, joined by `and`, `or`, `not` and
/// parentheses. Strings are single-quoted with `\'` and `\\` escapes. Anything else is refused (400), as
/// Drive refuses it.
indirect enum DriveQuery: Sendable {
    case all
    case and(DriveQuery, DriveQuery)
    case or(DriveQuery, DriveQuery)
    case not(DriveQuery)
    case name(op: String, String)
    case mimeType(op: String, String)
    case trashed(op: String, Bool)
    case inParents(String)
    case appProperty(key: String, value: String)

    struct Invalid: Error { var message: String }

    static func parse(_ text: String?) throws -> DriveQuery {
        guard let text, !text.trimmingCharacters(in: .whitespaces).isEmpty else { return .all }
        var parser = Parser(tokens: try tokenize(text))
        let query = try parser.or()
        guard parser.at == parser.tokens.count else { throw Invalid(message: "Invalid Value") }
        return query
    }

    func matches(_ file: FakeDrive.StoredFile) -> Bool {
        switch self {
        case .all: return true
        case .and(let a, let b): return a.matches(file) && b.matches(file)
        case .or(let a, let b): return a.matches(file) || b.matches(file)
        case .not(let a): return !a.matches(file)
        case .name(let op, let value):
            switch op {
            case "=": return file.name == value
            case "!=": return file.name != value
            default: return file.name.localizedCaseInsensitiveContains(value)
            }
        case .mimeType(let op, let value): return op == "=" ? file.mimeType == value : file.mimeType != value
        case .trashed(let op, let value): return op == "=" ? file.trashed == value : file.trashed != value
        case .inParents(let id): return file.parents.contains(id)
        case .appProperty(let key, let value): return file.appProperties[key] == value
        }
    }

    enum Token: Equatable { case word(String), string(String), symbol(String) }

    static func tokenize(_ text: String) throws -> [Token] {
        var tokens: [Token] = []
        var chars = Array(text)[...]
        while let c = chars.first {
            if c.isWhitespace { chars.removeFirst(); continue }
            if c == "'" {
                chars.removeFirst()
                var value = ""
                var closed = false
                while let d = chars.popFirst() {
                    if d == "\\" {
                        guard let escaped = chars.popFirst() else { break }
                        value.append(escaped)
                    } else if d == "'" {
                        closed = true
                        break
                    } else {
                        value.append(d)
                    }
                }
                guard closed else { throw Invalid(message: "Invalid Value: unterminated string") }
                tokens.append(.string(value))
            } else if c == "!" {
                chars.removeFirst()
                guard chars.popFirst() == "=" else { throw Invalid(message: "Invalid Value") }
                tokens.append(.symbol("!="))
            } else if "={}()".contains(c) {
                chars.removeFirst()
                tokens.append(.symbol(String(c)))
            } else if c.isLetter {
                var word = ""
                while let d = chars.first, d.isLetter || d.isNumber { word.append(d); chars.removeFirst() }
                tokens.append(.word(word))
            } else {
                throw Invalid(message: "Invalid Value")
            }
        }
        return tokens
    }

    struct Parser {
        let tokens: [Token]
        var at = 0

        init(tokens: [Token]) { self.tokens = tokens }

        mutating func next() -> Token? {
            guard at < tokens.count else { return nil }
            defer { at += 1 }
            return tokens[at]
        }
        func peek() -> Token? { at < tokens.count ? tokens[at] : nil }
        mutating func expect(_ token: Token) throws {
            guard next() == token else { throw Invalid(message: "Invalid Value") }
        }
        mutating func string() throws -> String {
            guard case .string(let value) = next() else { throw Invalid(message: "Invalid Value") }
            return value
        }

        mutating func or() throws -> DriveQuery {
            var query = try and()
            while peek() == .word("or") { at += 1; query = .or(query, try and()) }
            return query
        }

        mutating func and() throws -> DriveQuery {
            var query = try term()
            while peek() == .word("and") { at += 1; query = .and(query, try term()) }
            return query
        }

        mutating func term() throws -> DriveQuery {
            switch next() {
            case .symbol("("):
                let query = try or()
                try expect(.symbol(")"))
                return query
            case .word("not"): return .not(try term())
            case .string(let id):
                try expect(.word("in"))
                try expect(.word("parents"))
                return .inParents(id)
            case .word("name"):
                let op = try op(["=", "!=", "contains"])
                return .name(op: op, try string())
            case .word("mimeType"):
                let op = try op(["=", "!="])
                return .mimeType(op: op, try string())
            case .word("trashed"):
                let op = try op(["=", "!="])
                switch next() {
                case .word("true"): return .trashed(op: op, true)
                case .word("false"): return .trashed(op: op, false)
                default: throw Invalid(message: "Invalid Value")
                }
            case .word("appProperties"):
                try expect(.word("has"))
                try expect(.symbol("{"))
                try expect(.word("key"))
                try expect(.symbol("="))
                let key = try string()
                try expect(.word("and"))
                try expect(.word("value"))
                try expect(.symbol("="))
                let value = try string()
                try expect(.symbol("}"))
                return .appProperty(key: key, value: value)
            default: throw Invalid(message: "Invalid Value")
            }
        }

        mutating func op(_ allowed: [String]) throws -> String {
            switch next() {
            case .symbol(let s) where allowed.contains(s): return s
            case .word("contains") where allowed.contains("contains"): return "contains"
            default: throw Invalid(message: "Invalid Value")
            }
        }
    }
}

/// The `fields` parameter ("Return specific fields"): `a,b,files(c,d)`, or `*`. Nil means the method's default.
struct DriveFields: Sendable {
    /// Sub-selection by field name; an empty selection means the whole field.
    var selected: [String: DriveFields]
    var everything: Bool

    static let all = DriveFields(selected: [:], everything: true)

    static func parse(_ text: String) throws -> DriveFields {
        var chars = Array(text.replacingOccurrences(of: " ", with: ""))[...]
        let fields = try parseList(&chars)
        guard chars.isEmpty else { throw DriveQuery.Invalid(message: "Invalid field selection \(text)") }
        return fields
    }

    private static func parseList(_ chars: inout ArraySlice<Character>) throws -> DriveFields {
        var fields = DriveFields(selected: [:], everything: false)
        while let c = chars.first, c != ")" {
            if c == "," { chars.removeFirst(); continue }
            if c == "*" {
                chars.removeFirst()
                fields.everything = true
                continue
            }
            var name = ""
            while let d = chars.first, d.isLetter || d.isNumber || d == "/" { name.append(d); chars.removeFirst() }
            guard !name.isEmpty else { throw DriveQuery.Invalid(message: "Invalid field selection") }
            // `files/id` is `files(id)`.
            let parts = name.split(separator: "/").map(String.init)
            var sub = DriveFields.all
            if chars.first == "(" {
                chars.removeFirst()
                sub = try parseList(&chars)
                guard chars.popFirst() == ")" else { throw DriveQuery.Invalid(message: "Invalid field selection") }
            }
            for part in parts.dropFirst().reversed() { sub = DriveFields(selected: [part: sub], everything: false) }
            fields.selected[parts[0]] = sub
        }
        return fields
    }

    /// `object` cut down to the selection; unknown names are refused, as Drive refuses them.
    func apply(_ object: [String: Any], known: Set<String>, nested: [String: Set<String>] = [:]) throws -> [String: Any] {
        if everything && selected.isEmpty { return object }
        var result: [String: Any] = [:]
        for (name, sub) in selected {
            guard known.contains(name) else { throw DriveQuery.Invalid(message: "Invalid field selection \(name)") }
            guard let value = object[name] else { continue }
            if let inner = nested[name], let list = value as? [[String: Any]] {
                result[name] = try list.map { try sub.apply($0, known: inner) }
            } else {
                result[name] = value
            }
        }
        return result
    }
}
