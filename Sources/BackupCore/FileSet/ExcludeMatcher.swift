import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The exclude patterns of the file backup (settings `files.excludes`), relative to the uploads folder.
///
/// - `*` and `?` match within one path component, `[a-z]` / `[!x]` are character classes (fnmatch(3));
/// - `**` as a whole component matches any number of components, including none;
/// - a pattern with a `/` is anchored at the uploads folder (`paint-swatches/**`); one without matches
///   a name at any depth, like `.gitignore` (`*.tmp`, `Thumbs.db`);
/// - a directory that matches, or whose contents all match (`dir/**`), is not descended into.
public struct ExcludeMatcher: Sendable {
    private struct Pattern: Sendable {
        var components: [String]
        var anchored: Bool
    }

    public let patterns: [String]
    private let compiled: [Pattern]

    public init(_ patterns: [String]) {
        self.patterns = patterns
        compiled = patterns.compactMap { raw in
            var text = raw.hasPrefix("./") ? String(raw.dropFirst(2)) : raw
            while text.hasSuffix("/") { text.removeLast() }
            let components = PathBytes.components(text)
            guard !components.isEmpty else { return nil }
            return Pattern(components: components, anchored: components.count > 1)
        }
    }

    /// Whether the file at `path` (relative, `/`-separated) is excluded.
    public func excludes(file path: String) -> Bool {
        let parts = PathBytes.components(path)  // at the `/` byte, as the kernel splits it
        return compiled.contains { matches($0, parts) }
    }

    /// Whether the whole directory at `path` is excluded: it matches a pattern, or a `dir/**` pattern.
    public func excludes(directory path: String) -> Bool {
        let parts = PathBytes.components(path)
        return compiled.contains { pattern in
            if matches(pattern, parts) { return true }
            guard pattern.components.count > 1, pattern.components.last == "**" else { return false }
            return matches(Pattern(components: Array(pattern.components.dropLast()), anchored: true), parts)
        }
    }

    private func matches(_ pattern: Pattern, _ parts: [String]) -> Bool {
        if pattern.anchored { return match(pattern.components[...], parts[...]) }
        // An unanchored single-component pattern tests the last name only.
        guard let last = parts.last else { return false }
        return matchComponent(pattern.components[0], last)
    }

    private func match(_ pattern: ArraySlice<String>, _ parts: ArraySlice<String>) -> Bool {
        guard let head = pattern.first else { return parts.isEmpty }
        if head == "**" {
            let rest = pattern.dropFirst()
            var tail = parts
            while true {
                if match(rest, tail) { return true }
                guard !tail.isEmpty else { return false }
                tail = tail.dropFirst()
            }
        }
        guard let part = parts.first, matchComponent(head, part) else { return false }
        return match(pattern.dropFirst(), parts.dropFirst())
    }

    private func matchComponent(_ pattern: String, _ name: String) -> Bool {
        if pattern == "*" { return true }
        return fnmatch(pattern, name, 0) == 0
    }
}
