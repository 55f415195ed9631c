import BackupCore
import Crypto
import Foundation
import Hummingbird
import Logging

/// Receives an archive to restore from: uploaded in a request (streamed to a private file in
/// `data-dir/received/`, never held in memory) or fetched from an off-site copy, refused past the
/// size cap or when the disk cannot hold it. Nothing else is touched: the caller verifies the file
/// before any restore may start, and removes it afterwards. (Not "uploads": that is the POS's image folder.)
///
/// The disk is checked before the first byte (against `Content-Length` when there is one) and
/// again before every batch is written, so a chunked upload, which declares no length, stops with
/// 507 while `reserve` is still free rather than fill the disk the POS writes to. Without an
/// explicit cap (`serve --max-upload-mb`) an upload may take half the free space (after `reserve`):
/// the restore needs about as much again to extract it.
///
/// Not under `tmp/`: start-up recovery files away whatever it finds there. Leftovers of a crash
/// (`received-*.zip`) are removed when the server starts (`sweepLeftovers`).
struct ArchiveReceiver {
    /// Received archives wait here (0700) until their restore has used them.
    static func directory(_ context: BackupContext) -> URL { context.dataDirectory.root.appendingPathComponent("received") }
    /// Where versions before 2026-12 kept them (`uploads/`, `upload-*.zip`): swept too, then removed when empty.
    static let legacyFolder = (name: "uploads", prefix: "upload-")

    let directory: URL
    /// `serve --max-upload-mb`; nil: `defaultCap(free:)`.
    let maxBytes: Int64?
    /// The free-space probe (`BackupContext.availableBytes`; tests give it a small disk).
    let availableBytes: @Sendable (URL) throws -> UInt64
    /// Room left on the disk besides the upload (the restore extracts the database next to it).
    static let reserve: Int64 = 64 << 20
    static let writeBatch = 1 << 20
    static let fileNamePrefix = "received-"

    /// Half of what is free beyond `reserve`.
    static func defaultCap(free: Int64) -> Int64 { max(0, free - reserve) / 2 }

    func receive(_ body: RequestBody, declaredLength: Int64?) async throws -> URL {
        let (url, fd, free, cap) = try start(declaredLength)
        // Closed once, here. It was closed before the empty-upload check and again in `catch`: the second
        // close hit whatever descriptor another thread had opened under that number meanwhile (NIO's
        // freshly accepted socket: EBADF in getsockname, a crash of the whole process).
        defer { close(fd) }
        do {
            var received: Int64 = 0
            var written: Int64 = 0
            var pending = ByteBuffer()
            func flush() async throws {
                // Whatever the client declared: the disk as it is now, for the bytes about to land.
                if let free = self.free(), Int64(pending.readableBytes) + Self.reserve > free {
                    throw noSpace(received: written, incoming: Int64(pending.readableBytes), free: free)
                }
                try await Self.write(pending, to: fd)
                written += Int64(pending.readableBytes)
                pending.clear()
            }
            for try await chunk in body {
                received += Int64(chunk.readableBytes)
                if received > cap { throw tooLarge(cap, free: free) }
                var chunk = chunk
                pending.writeBuffer(&chunk)
                if pending.readableBytes >= Self.writeBatch { try await flush() }
            }
            if pending.readableBytes > 0 { try await flush() }
            try await Blocking.run { try POSIXFile.fsyncFile(fd) }
            guard received > 0 else { throw APIError(.badRequest, "empty_upload", "The upload is empty; send the archive file as the request body.") }
            return url
        } catch {
            try? FileManager.default.removeItem(at: url)
            throw error
        }
    }

    /// Receives an archive from an off-site destination instead of a request (the wizard's restore from
    /// Google Drive), with the same caps, and checks it against the size and SHA-256 it was labelled with.
    func fetch(_ object: RemoteObject, from destination: any Destination) async throws -> URL {
        let (url, fd, _, _) = try start(Int64(clamping: object.size))
        defer { close(fd) }
        do {
            let hasher = Locked(SHA256())
            let received = Locked<UInt64>(0)
            try await destination.get(object.id, range: nil) { bytes in
                let total = received.withLock { $0 += UInt64(bytes.count); return $0 }
                // A copy larger than it said it was would otherwise fill the disk the POS writes to.
                guard total <= object.size else { throw DestinationError(.permanent, "The copy on \(destination.name) is larger than its \(object.size) bytes.") }
                hasher.withLock { $0.update(data: bytes) }
                try bytes.withUnsafeBytes { try POSIXFile.writeAll(fd, $0) }
            }
            try await Blocking.run { try POSIXFile.fsyncFile(fd) }
            let sha256 = hasher.withLock { $0.finalize().hex }
            guard received.current == object.size, object.metadata["sha256"].map({ $0.lowercased() == sha256 }) ?? true else {
                throw APIError(.unprocessableContent, "archive_refused",
                               "The copy on \(destination.name) does not match the size and checksum it was stored with (\(received.current) bytes, sha256 \(sha256)); nothing was changed.")
            }
            return url
        } catch {
            try? FileManager.default.removeItem(at: url)
            if let failure = error as? DestinationError {
                throw APIError(.badGateway, "offsite_unavailable", "The backup could not be fetched from \(destination.name): \(failure.message) Nothing was changed.")
            }
            throw error
        }
    }

    /// The new private file, after the caps and the free space allow `declaredLength` bytes.
    private func start(_ declaredLength: Int64?) throws -> (url: URL, fd: Int32, free: Int64?, cap: Int64) {
        try POSIXFile.makePrivateDirectory(directory)
        let free = self.free()
        let cap = maxBytes ?? free.map(Self.defaultCap) ?? Int64.max
        if let declaredLength, declaredLength > cap { throw tooLarge(cap, free: free) }
        if let declaredLength, let free, declaredLength + Self.reserve > free { throw noSpace(received: 0, incoming: declaredLength, free: free) }
        let url = directory.appendingPathComponent("\(Self.fileNamePrefix)\(Timestamp.fileStamp(Date()))-\(UUID().uuidString.lowercased().prefix(8)).zip")
        return (url, try POSIXFile.createPrivate(url), free, cap)
    }

    /// At start-up: removes the archives a crash left behind (a restore removes its file when it ends;
    /// nothing else may use them). Skipped while another process holds the job lock.
    static func sweepLeftovers(_ context: BackupContext, logger: Logger) {
        guard let lock = try? JobLock.tryAcquire(context.dataDirectory) else { return }
        defer { withExtendedLifetime(lock) {} }
        let legacy = context.dataDirectory.root.appendingPathComponent(legacyFolder.name)
        for (directory, prefix) in [(directory(context), fileNamePrefix), (legacy, legacyFolder.prefix)] {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
            for name in names where name.hasPrefix(prefix) && name.hasSuffix(".zip") {
                do {
                    try FileManager.default.removeItem(at: directory.appendingPathComponent(name))
                    logger.notice("removed a received archive left by an earlier run", metadata: ["file": "\(name)"])
                } catch {
                    logger.error("could not remove a received archive left by an earlier run", metadata: ["file": "\(name)", "error": "\(error)"])
                }
            }
        }
        // rmdir: only when nothing else is in it.
        _ = legacy.withUnsafeFileSystemRepresentation { $0.map { rmdir($0) } }
    }

    /// Free bytes on the upload folder's disk; nil when the probe fails (the restore checks again).
    private func free() -> Int64? {
        (try? availableBytes(directory)).map { Int64(clamping: $0) }
    }

    private static func write(_ buffer: ByteBuffer, to fd: Int32) async throws {
        guard buffer.readableBytes > 0 else { return }
        try await Blocking.run { try buffer.withUnsafeReadableBytes { try POSIXFile.writeAll(fd, $0) } }
    }

    private func tooLarge(_ cap: Int64, free: Int64?) -> APIError {
        if maxBytes != nil {
            return APIError(.contentTooLarge, "payload_too_large",
                            "The archive is larger than the \(ByteCount.format(cap)) this server accepts (serve --max-upload-mb).")
        }
        return APIError(.contentTooLarge, "payload_too_large",
                        "The archive is larger than the \(ByteCount.format(cap)) this server accepts: half the free disk space (\(ByteCount.format(free ?? 0)) free), so that the restore has room to extract it. Free some space, or set serve --max-upload-mb.")
    }

    private func noSpace(received: Int64, incoming: Int64, free: Int64) -> APIError {
        let sent = received == 0 ? "\(ByteCount.format(incoming)) sent" : "stopped after \(ByteCount.format(received))"
        return APIError.from(BackupError(.insufficientSpace,
            "Not enough free disk space for this upload (\(sent), \(ByteCount.format(free)) free, \(ByteCount.format(Self.reserve)) kept free for the POS); nothing was changed."))
    }
}
