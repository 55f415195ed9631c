import Foundation

/// The steps of a job, in the words the terminal, the event stream and the dashboard use. The raw values
/// are the API's (`ProgressUpdate.phase` in the OpenAPI document): append new ones, never rename one.
public enum ProgressPhase: String, Sendable, Codable, CaseIterable {
    /// The job has its catalog record; the event carries its id (`ProgressEvent.recordId`).
    case started
    // Backups
    case snapshot
    case compare
    case compress
    case scan
    case archive
    case fsync
    case check
    case verify
    case publish
    case integrityCheck = "integrity-check"
    // Restores and verification
    /// An archive gone from this disk, fetched from an off-site copy.
    case download
    case checksum
    case extract
    case rebuild
    case copy
    case preRestoreSnapshot = "pre-restore-snapshot"
    case extractFiles = "extract-files"
    case apply
    case restoreFiles = "restore-files"
    // Off-site copies
    case upload
    /// A job seen from the catalog only (started by another process): no live steps.
    case running
    case done
}

/// One step of a long job, for the terminal's progress bar and the dashboard's live view.
public struct ProgressEvent: Sendable, Codable, Equatable {
    public var phase: ProgressPhase
    public var bytesDone: UInt64
    public var bytesTotal: UInt64
    /// With `.started`: the id of the job's record (a backup's or a restore's, as the caller started).
    public var recordId: Int64?

    public init(phase: ProgressPhase, bytesDone: UInt64 = 0, bytesTotal: UInt64 = 0) {
        self.phase = phase
        self.bytesDone = bytesDone
        self.bytesTotal = bytesTotal
    }

    /// The first event of every job that gets a record: the caller learns its id without a look-up.
    public static func started(recordId: Int64) -> ProgressEvent {
        var event = ProgressEvent(phase: .started)
        event.recordId = recordId
        return event
    }
}

public typealias ProgressHandler = @Sendable (ProgressEvent) -> Void
