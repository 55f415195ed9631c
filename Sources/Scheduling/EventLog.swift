import BackupCore
import Foundation

/// One structured log line: `{"at":…,"level":…,"event":…, fields…}`.
public struct LogRecord: Sendable, Equatable {
    public enum Level: String, Sendable { case info, warning, error }
    public var at: Date
    public var level: Level
    public var event: String
    public var fields: [String: String]

    public init(at: Date, level: Level, event: String, fields: [String: String] = [:]) {
        self.at = at
        self.level = level
        self.event = event
        self.fields = fields
    }

    /// The JSON line, keys sorted, for a technician's `grep` and `jq`.
    public var jsonLine: String {
        var object = fields
        object["at"] = Timestamp.iso8601(at)
        object["level"] = level.rawValue
        object["event"] = event
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

/// Where the scheduler's structured logs go: JSON lines on stderr by default, a collector in tests.
/// (swift-log is not a dependency of this target; this is all the scheduler needs.)
public struct EventLog: Sendable {
    public let write: @Sendable (LogRecord) -> Void

    public init(_ write: @escaping @Sendable (LogRecord) -> Void) { self.write = write }

    public static let standardError = EventLog { record in
        FileHandle.standardError.write(Data((record.jsonLine + "\n").utf8))
    }

    public func callAsFunction(_ level: LogRecord.Level, _ event: String, at: Date, _ fields: [String: String] = [:]) {
        write(LogRecord(at: at, level: level, event: event, fields: fields))
    }
}
