import BackupCore
import Foundation

/// A Drive file resource, with the fields we ask for (Drive returns only `kind,id,name,mimeType` unless
/// `fields` names more).
struct DriveFile: Decodable, Sendable {
    var id: String
    var name: String
    var mimeType: String?
    /// Drive sends int64 values as JSON strings.
    var size: String?
    var md5Checksum: String?
    /// Filled by Drive "if available" (not for files stored before it computed SHA-256).
    var sha256Checksum: String?
    var appProperties: [String: String]?
    var modifiedTime: String?
    var trashed: Bool?

    static let folderType = "application/vnd.google-apps.folder"
    /// Everything a `RemoteObject` needs, asked for on every call that returns a file.
    static let fields = "id,name,mimeType,size,md5Checksum,sha256Checksum,appProperties,modifiedTime,trashed"

    /// The `appProperties` key that keeps the destination-level name (`db-full/db-full-….zip`), since the
    /// Drive folder (`db/`) holds two kinds; it is ours, not the caller's metadata.
    static let nameProperty = "capsName"

    func remoteObject(folder: String) -> RemoteObject {
        var metadata = appProperties ?? [:]
        let logical = metadata.removeValue(forKey: Self.nameProperty) ?? "\(folder)/\(name)"
        return RemoteObject(id: id, name: logical, size: size.flatMap(UInt64.init) ?? 0,
                            checksum: sha256Checksum.map { Checksum(.sha256, $0) } ?? md5Checksum.map { Checksum(.md5, $0) }, metadata: metadata,
                            modifiedAt: modifiedTime.flatMap(Self.date))
    }
}

extension DriveFile {
    /// RFC 3339 as Drive writes it (`2026-12-02T13:00:00.000Z`).
    static func date(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}

struct DriveFileList: Decodable, Sendable {
    var files: [DriveFile]
    var nextPageToken: String?
}

/// The folder layout: `<folder>/<store_name>/{db,files,full}/`. A destination name's first component is
/// the kind (`db-full/…`), and both database kinds share `db/`.
enum DriveLayout {
    static func folder(forName name: String) -> String {
        let first = name.split(separator: "/", maxSplits: 1).first.map(String.init) ?? ""
        switch first {
        case BackupKind.dbFull.rawValue, BackupKind.dbIncremental.rawValue: return "db"
        case "": return "other"
        default: return first
        }
    }

    static func fileName(_ name: String) -> String { name.split(separator: "/").last.map(String.init) ?? name }

    /// A string literal for a `files.list` query: backslash and quote escaped, as Drive's search terms say.
    static func literal(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
    }
}
