import Foundation

/// An error with two audiences: `message` is what a store manager reads on the dashboard or terminal,
/// `detail` is for the technician's log. Every failure the product reports goes through this type.
public struct BackupError: Error, CustomStringConvertible, Sendable, Equatable {
    public enum Code: String, Sendable, Codable {
        case invalidInput = "invalid_input"
        case notFound = "not_found"
        case busy
        case insufficientSpace = "insufficient_space"
        case corruptArchive = "corrupt_archive"
        case checksumMismatch = "checksum_mismatch"
        case unsafeArchive = "unsafe_archive"
        case database
        case io
        case interrupted
        case configuration
    }

    /// What the reader can do about it, as a fact ("the pre-restore copy can be turned off"); the command
    /// line and the API each word it for their reader (a flag, a request parameter, a setting).
    public enum Remedy: String, Sendable, Codable {
        case configurePOSDatabase, configureUploadsFolder, skipPreRestoreCopy, chooseUploadsFolder
    }

    public var code: Code
    public var message: String
    public var detail: String?
    public var remedy: Remedy?

    public init(_ code: Code, _ message: String, detail: String? = nil, remedy: Remedy? = nil) {
        self.code = code
        self.message = message
        self.detail = detail
        self.remedy = remedy
    }

    public var description: String {
        if let detail { return "\(message) (\(detail))" }
        return message
    }

    /// Wraps any error as a `BackupError`, keeping one that already is.
    public static func wrap(_ error: any Error, _ message: String) -> BackupError {
        if let known = error as? BackupError { return known }
        return BackupError(.io, message, detail: String(describing: error))
    }
}
