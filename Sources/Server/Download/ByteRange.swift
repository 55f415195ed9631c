import Foundation

/// One `Range: bytes=…` request (RFC 9110 §14). Multiple ranges are not served: the header is then
/// ignored and the whole archive sent, as the RFC allows; a download manager resuming a transfer
/// asks for one range.
enum ByteRange: Equatable {
    /// Serve the whole file (no header, or one we ignore).
    case whole
    /// Serve `lower...upper` (inclusive), clamped to the file.
    case partial(ClosedRange<UInt64>)
    /// 416: the range starts beyond the end.
    case unsatisfiable

    static func parse(_ header: String?, size: UInt64) -> ByteRange {
        guard let header else { return .whole }
        let trimmed = header.trimmingCharacters(in: .whitespaces)
        guard trimmed.lowercased().hasPrefix("bytes=") else { return .whole }
        let spec = trimmed.dropFirst("bytes=".count).trimmingCharacters(in: .whitespaces)
        guard !spec.contains(","), let dash = spec.firstIndex(of: "-") else { return .whole }
        let first = spec[..<dash].trimmingCharacters(in: .whitespaces)
        let last = spec[spec.index(after: dash)...].trimmingCharacters(in: .whitespaces)
        if first.isEmpty {
            // Suffix: the last N bytes.
            guard let n = UInt64(last) else { return .whole }
            guard n > 0, size > 0 else { return .unsatisfiable }
            return .partial((size - min(n, size))...(size - 1))
        }
        guard let start = UInt64(first) else { return .whole }
        var end = size == 0 ? 0 : size - 1
        if !last.isEmpty {
            guard let requested = UInt64(last), requested >= start else { return .whole }
            end = min(requested, end)
        }
        guard start < size else { return .unsatisfiable }
        return .partial(start...end)
    }
}

