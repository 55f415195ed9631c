import Foundation

/// ISO 8601 with milliseconds in UTC: the one time format of manifests, the catalog and JSON output.
public enum Timestamp {
    private static let style = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

    public static func iso8601(_ date: Date) -> String { style.format(date) }

    public static func parse(_ text: String) -> Date? {
        if let d = try? style.parse(text) { return d }
        return try? Date(text, strategy: .iso8601)
    }

    /// Millisecond bounds that still contain `date` once written with millisecond precision:
    /// a snapshot's start rounds down and its end rounds up, so "committed before start" and
    /// "begun after end" stay true statements after a round trip through JSON.
    /// (The 0.4 ms nudge keeps binary floating point from landing a hair below the intended millisecond,
    /// whether the formatter truncates or rounds.)
    public static func floorMillisecond(_ date: Date) -> Date {
        Date(timeIntervalSince1970: ((date.timeIntervalSince1970 * 1000).rounded(.down) + 0.4) / 1000)
    }

    public static func ceilMillisecond(_ date: Date) -> Date {
        Date(timeIntervalSince1970: ((date.timeIntervalSince1970 * 1000).rounded(.up) + 0.4) / 1000)
    }

    /// A compact stamp for file names: 20261126T205100Z.
    public static func fileStamp(_ date: Date) -> String {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let c = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        return String(format: "%04d%02d%02dT%02d%02d%02dZ", c.year!, c.month!, c.day!, c.hour!, c.minute!, c.second!)
    }
}
