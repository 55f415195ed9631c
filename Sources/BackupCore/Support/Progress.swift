import Foundation

/// One step of a long job, for the terminal's progress bar and (later) the dashboard's live view.
public struct ProgressEvent: Sendable, Codable, Equatable {
    public var phase: String
    public var bytesDone: UInt64
    public var bytesTotal: UInt64

    public init(phase: String, bytesDone: UInt64, bytesTotal: UInt64) {
        self.phase = phase
        self.bytesDone = bytesDone
        self.bytesTotal = bytesTotal
    }
}

public typealias ProgressHandler = @Sendable (ProgressEvent) -> Void
