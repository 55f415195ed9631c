import Foundation

/// Where a backup's archive is read from, so that no job needs to know where it lives: its file under
/// `archives/`, or, when that is gone (a dead disk, a fresh install, retention), a copy fetched from an
/// off-site destination that holds one, downloaded into the job's scratch folder (resuming a cut
/// download) and checked against the SHA-256 the catalog recorded before anyone reads it.
public struct ArchiveStore: Sendable {
    public let context: BackupContext

    public init(context: BackupContext) { self.context = context }

    /// `job`'s archive file on this disk; nil when it has none or the file is gone (retention, a dead disk,
    /// a fresh install). The one place that turns a record into a path: downloads and verification read here.
    public func localFile(of job: BackupRecord) -> URL? {
        guard job.status == .succeeded, let path = job.path else { return nil }
        let url = URL(fileURLWithPath: path)
        return POSIXFile.exists(url) ? url : nil
    }

    /// Whether `job`'s archive is on this disk, or has an off-site copy on a destination at hand.
    public func canRead(_ job: BackupRecord) throws -> Bool {
        guard job.path != nil else { return false }
        if localFile(of: job) != nil { return true }
        return try !remoteCopies(of: job).isEmpty
    }

    /// Whether `job` has an off-site copy recorded as uploaded (reachable or not from this process).
    public func hasOffsiteCopy(_ job: BackupRecord) throws -> Bool {
        try !uploadedCopies(of: job).isEmpty
    }

    /// The copies recorded as uploaded, with a remote id to fetch them by.
    private func uploadedCopies(of job: BackupRecord) throws -> [BackupDestObject] {
        guard let id = job.id else { return [] }
        return try context.catalog.offsiteCopies(of: id).filter { $0.status == .uploaded && $0.remoteId != nil }
    }

    /// Those whose destination this process can reach.
    private func remoteCopies(of job: BackupRecord) throws -> [(BackupDestObject, any Destination)] {
        try uploadedCopies(of: job).compactMap { copy in
            context.offsite.first(where: { $0.name == copy.destination }).map { (copy, $0) }
        }
    }

    /// The archive of `job` as a file on this disk.
    /// - Parameter scratch: where a fetched copy goes; it is removed with that folder.
    public func archive(of job: BackupRecord, scratch: URL, progress: ProgressHandler? = nil) throws -> URL {
        guard job.status == .succeeded, let path = job.path else {
            throw BackupError(.invalidInput, "Backup \(job.id ?? 0) is \(job.status.rawValue) and cannot be read.")
        }
        if let local = localFile(of: job) { return local }
        let local = URL(fileURLWithPath: path)
        if let (copy, destination) = try remoteCopies(of: job).first {
            return try fetch(job, copy: copy, from: destination, into: scratch.appendingPathComponent(local.lastPathComponent), progress: progress)
        }
        throw BackupError(.notFound, "The archive of backup \(job.id!) is missing from this server, and no off-site copy of it can be reached.",
                          detail: path)
    }

    /// The off-site copy of `job`, fetched into `scratch` and checked, whether or not the local archive is here
    /// (`caps-backup drive download`).
    public func fetchOffsiteCopy(of job: BackupRecord, scratch: URL, progress: ProgressHandler? = nil) throws -> URL {
        guard job.status == .succeeded, let path = job.path else {
            throw BackupError(.invalidInput, "Backup \(job.id ?? 0) is \(job.status.rawValue) and has no archive.")
        }
        guard let (copy, destination) = try remoteCopies(of: job).first else {
            throw BackupError(.notFound, "Backup \(job.id!) has no off-site copy that can be reached.")
        }
        return try fetch(job, copy: copy, from: destination, into: scratch.appendingPathComponent(URL(fileURLWithPath: path).lastPathComponent),
                         progress: progress)
    }

    private func fetch(_ job: BackupRecord, copy: BackupDestObject, from destination: any Destination, into file: URL,
                       progress: ProgressHandler?) throws -> URL {
        try POSIXFile.makePrivateDirectory(file.deletingLastPathComponent())
        if !POSIXFile.exists(file) { close(try POSIXFile.createPrivate(file)) }
        let handle = try FileHandle(forWritingTo: file)
        defer { try? handle.close() }
        let held = try handle.seekToEnd()
        let total = UInt64(job.size ?? 0)
        let written = ByteCounter(held)
        let sink = UnsafeSendable(handle)
        try Blocking.wait {
            try await destination.get(copy.remoteId!, range: held > 0 ? held..<UInt64.max : nil, into: { bytes in
                try sink.value.write(contentsOf: bytes)
                progress?(ProgressEvent(phase: .download, bytesDone: written.add(UInt64(bytes.count)), bytesTotal: total))
            })
        }
        try handle.synchronize()
        guard try Checksums.sha256(of: file) == job.sha256 else {
            try? FileManager.default.removeItem(at: file)
            throw BackupError(.checksumMismatch, "The off-site copy of backup \(job.id!) does not match the checksum recorded when it was made.",
                              detail: "\(copy.destination) \(copy.remoteId!)")
        }
        return file
    }
}

/// Runs async work to its end from a job's own thread (jobs are synchronous: they run on threads of their
/// own, never on Swift's cooperative pool, so waiting here blocks no task the work needs).
enum Blocking {
    static func wait<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) throws -> T {
        let result = Locked<Result<T, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Task {
            let outcome: Result<T, any Error>
            do { outcome = .success(try await work()) } catch { outcome = .failure(error) }
            result.withLock { $0 = outcome }
            done.signal()
        }
        done.wait()
        return try result.current!.get()
    }
}

private final class ByteCounter: @unchecked Sendable {
    private let lock = NSLock()
    private var total: UInt64
    init(_ start: UInt64) { total = start }
    func add(_ n: UInt64) -> UInt64 { lock.withLock { total += n; return total } }
}
