import CLibDeflate
import Crypto
import Foundation

/// What the writer knows about an entry once it is complete.
public struct ZipEntryInfo: Sendable, Equatable {
    public var name: String
    public var size: UInt64
    public var crc32: UInt32
    public var sha256: String
}

/// A streaming ZIP64 writer for stored entries. Data is written once, sequentially, through a
/// 1 MiB buffer; a streamed entry's local header is patched in place when the entry ends, so
/// the archive needs no data descriptors and every `unzip` reads it. CRC-32 (libdeflate, with
/// PCLMUL) and SHA-256 of each entry are computed as the bytes go by.
///
/// The file is created 0600 with O_EXCL: a writer never overwrites anything.
public final class ZipWriter {
    public let url: URL
    private let fd: Int32
    private var buffer: [UInt8] = []
    private let bufferLimit = 1 << 20
    private var offset: UInt64 = 0
    private var central: [CentralRecord] = []
    private var open: OpenEntry?
    private var names = Set<String>()
    private var closed = false
    /// Bytes before this offset have been handed to the kernel's writeback (`writeBehind`).
    private var writtenBack: UInt64 = 0

    private struct CentralRecord {
        var name: [UInt8]
        var crc32: UInt32
        var size: UInt64
        var localOffset: UInt64
        var modified: Date
        var mode: UInt16
    }

    private struct OpenEntry {
        var record: CentralRecord
        var headerOffset: UInt64
        var crc: UInt32 = 0
        var size: UInt64 = 0
        var hasher = SHA256()
    }

    public init(creating url: URL) throws {
        self.url = url
        self.fd = try POSIXFile.createPrivate(url)
    }

    deinit {
        if !closed { close(fd) }
    }

    public var bytesWritten: UInt64 { offset + UInt64(buffer.count) }

    /// Starts an entry whose size is not known yet; its header is completed by `endEntry()`.
    public func beginEntry(_ name: String, modified: Date, mode: UInt16 = 0o600) throws {
        precondition(open == nil, "an entry is already open")
        let nameBytes = try checkedName(name)
        let record = CentralRecord(name: nameBytes, crc32: 0, size: 0, localOffset: bytesWritten, modified: modified, mode: mode)
        let headerOffset = bytesWritten
        append(localHeader(record, streamed: true))
        open = OpenEntry(record: record, headerOffset: headerOffset)
    }

    public func write(_ data: UnsafeRawBufferPointer) throws {
        guard var entry = open else { preconditionFailure("no open entry") }
        entry.crc = UInt32(libdeflate_crc32(entry.crc, data.baseAddress, data.count))
        entry.size += UInt64(data.count)
        entry.hasher.update(bufferPointer: data)
        open = entry
        try append(data)
    }

    @discardableResult
    public func endEntry() throws -> ZipEntryInfo {
        guard var entry = open else { preconditionFailure("no open entry") }
        open = nil
        entry.record.crc32 = entry.crc
        entry.record.size = entry.size
        try flush()
        // Patch crc and the ZIP64 sizes of the local header written by beginEntry.
        var patch = LittleEndianWriter()
        patch.u32(entry.crc)
        try patch.bytes.withUnsafeBytes { try POSIXFile.pwriteAll(fd, $0, at: entry.headerOffset + 14) }
        var sizes = LittleEndianWriter()
        sizes.u64(entry.size)
        sizes.u64(entry.size)
        let extraOffset = entry.headerOffset + UInt64(ZipFormat.localHeaderSize + entry.record.name.count) + 4
        try sizes.bytes.withUnsafeBytes { try POSIXFile.pwriteAll(fd, $0, at: extraOffset) }
        central.append(entry.record)
        return ZipEntryInfo(name: String(decoding: entry.record.name, as: UTF8.self), size: entry.size, crc32: entry.crc,
                            sha256: entry.hasher.finalize().hex)
    }

    /// Adds a small entry whose bytes are all at hand.
    @discardableResult
    public func addEntry(_ name: String, data: [UInt8], modified: Date, mode: UInt16 = 0o600) throws -> ZipEntryInfo {
        precondition(open == nil, "an entry is already open")
        let nameBytes = try checkedName(name)
        let crc = data.withUnsafeBytes { UInt32(libdeflate_crc32(0, $0.baseAddress, $0.count)) }
        let record = CentralRecord(name: nameBytes, crc32: crc, size: UInt64(data.count), localOffset: bytesWritten,
                                   modified: modified, mode: mode)
        append(localHeader(record, streamed: false))
        try data.withUnsafeBytes { try append($0) }
        central.append(record)
        return ZipEntryInfo(name: name, size: UInt64(data.count), crc32: crc, sha256: SHA256.hash(data: data).hex)
    }

    /// A stored entry whose bytes and CRC-32 the caller has at hand (computed on another thread).
    public struct PreparedEntry {
        public var name: String
        public var bytes: UnsafeRawBufferPointer
        public var crc32: UInt32
        public var modified: Date
        public var mode: UInt16
        public init(name: String, bytes: UnsafeRawBufferPointer, crc32: UInt32, modified: Date, mode: UInt16) {
            self.name = name
            self.bytes = bytes
            self.crc32 = crc32
            self.modified = modified
            self.mode = mode
        }
    }

    /// Adds prepared entries with one writev(2): headers and the caller's bytes go to the file
    /// without being copied into the writer's buffer first (the file backup's many small files).
    public func addEntries(_ entries: [PreparedEntry]) throws {
        precondition(open == nil, "an entry is already open")
        guard !entries.isEmpty else { return }
        try flush()
        var headers: [UInt8] = []
        var ranges: [Range<Int>] = []
        var records: [CentralRecord] = []
        var position = offset
        for entry in entries {
            let record = CentralRecord(name: try checkedName(entry.name), crc32: entry.crc32, size: UInt64(entry.bytes.count),
                                       localOffset: position, modified: entry.modified, mode: entry.mode)
            let start = headers.count
            headers += localHeader(record, streamed: false)
            ranges.append(start..<headers.count)
            records.append(record)
            position += UInt64(headers.count - start + entry.bytes.count)
        }
        try headers.withUnsafeBytes { blob in
            var vectors: [iovec] = []
            vectors.reserveCapacity(entries.count * 2)
            for (range, entry) in zip(ranges, entries) {
                vectors.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: blob.baseAddress! + range.lowerBound), iov_len: range.count))
                if entry.bytes.count > 0 { vectors.append(iovec(iov_base: UnsafeMutableRawPointer(mutating: entry.bytes.baseAddress!), iov_len: entry.bytes.count)) }
            }
            try Self.writevAll(fd, &vectors)
        }
        offset = position
        central += records
        writeBehind()
    }

    private static func writevAll(_ fd: Int32, _ vectors: inout [iovec]) throws {
        var first = 0
        while first < vectors.count {
            let count = min(vectors.count - first, 1024)  // IOV_MAX
            let n = vectors.withUnsafeBufferPointer { writev(fd, $0.baseAddress! + first, Int32(count)) }
            if n < 0 {
                if errno == EINTR { continue }
                if errno == ENOSPC { throw BackupError(.insufficientSpace, "The disk is full.", detail: "writev: ENOSPC") }
                throw BackupError(.io, "Could not write a file.", detail: "writev: \(String(cString: strerror(errno)))")
            }
            // Skip what was written; a partial write leaves the rest of one vector.
            var done = n
            while done > 0, first < vectors.count {
                if done >= vectors[first].iov_len {
                    done -= vectors[first].iov_len
                    first += 1
                } else {
                    vectors[first].iov_base += done
                    vectors[first].iov_len -= done
                    done = 0
                }
            }
        }
    }

    /// Drops the open streamed entry, as if `beginEntry` had not been called: the file is cut back
    /// to where its header began. For a source file that changed while it was being copied.
    public func discardEntry() throws {
        guard let entry = open else { preconditionFailure("no open entry") }
        open = nil
        try flush()
        guard ftruncate(fd, off_t(entry.headerOffset)) == 0, lseek(fd, off_t(entry.headerOffset), SEEK_SET) >= 0 else {
            throw BackupError(.io, "Could not write the archive.", detail: "ftruncate: \(String(cString: strerror(errno)))")
        }
        offset = entry.headerOffset
        names.remove(String(decoding: entry.record.name, as: UTF8.self))
    }

    /// Bytes before this offset are on the file and final (an open entry's header is patched later),
    /// so a reader may hash them while the archive is still being written.
    public var stableOffset: UInt64 { open?.headerOffset ?? offset }

    /// Writes the central directory, flushes the file to disk and closes it.
    public func finish() throws {
        precondition(open == nil, "an entry is still open")
        let centralStart = bytesWritten
        for record in central {
            append(centralHeader(record))
            if buffer.count >= bufferLimit { try flush() }  // a directory of 200,000 files is 15 MB
        }
        let centralSize = bytesWritten - centralStart
        let needsZip64 = UInt64(central.count) >= ZipFormat.max16 || centralStart >= ZipFormat.max32 || centralSize >= ZipFormat.max32
        var end = LittleEndianWriter()
        if needsZip64 {
            let zip64Start = bytesWritten
            end.u32(ZipFormat.zip64EndOfCentralDirectorySignature)
            end.u64(44)
            end.u16(ZipFormat.versionMadeByUnix)
            end.u16(ZipFormat.versionNeededZip64)
            end.u32(0)
            end.u32(0)
            end.u64(UInt64(central.count))
            end.u64(UInt64(central.count))
            end.u64(centralSize)
            end.u64(centralStart)
            end.u32(ZipFormat.zip64LocatorSignature)
            end.u32(0)
            end.u64(zip64Start)
            end.u32(1)
        }
        end.u32(ZipFormat.endOfCentralDirectorySignature)
        end.u16(0)
        end.u16(0)
        end.u16(UInt16(min(UInt64(central.count), ZipFormat.max16)))
        end.u16(UInt16(min(UInt64(central.count), ZipFormat.max16)))
        end.u32(UInt32(min(centralSize, ZipFormat.max32)))
        end.u32(UInt32(min(centralStart, ZipFormat.max32)))
        end.u16(0)
        append(end.bytes)
        try flush()
        try POSIXFile.fsyncFile(fd)
        closed = true
        close(fd)
        // The directory is on disk: its records (15 MB for 200,000 files) are not needed any more.
        central = []
        names = []
    }

    /// Closes without finishing; the caller decides what happens to the partial file.
    public func abandon() {
        if !closed {
            closed = true
            close(fd)
        }
    }

    // MARK: - Records

    private func checkedName(_ name: String) throws -> [UInt8] {
        try ArchivePath.validate(name)
        guard names.insert(name).inserted else {
            throw BackupError(.invalidInput, "Two archive entries would have the same name: \(name)")
        }
        return Array(name.utf8)
    }

    private func localHeader(_ r: CentralRecord, streamed: Bool) -> [UInt8] {
        // Streamed entries reserve a ZIP64 extra for sizes patched later; small ones need none.
        let zip64 = streamed || r.size >= ZipFormat.max32
        let (time, date) = ZipFormat.dosDateTime(r.modified)
        var w = LittleEndianWriter()
        w.u32(ZipFormat.localHeaderSignature)
        w.u16(zip64 ? ZipFormat.versionNeededZip64 : 20)
        w.u16(ZipFormat.flagUTF8)
        w.u16(ZipFormat.methodStored)
        w.u16(time)
        w.u16(date)
        w.u32(r.crc32)
        w.u32(zip64 ? UInt32(ZipFormat.max32) : UInt32(r.size))
        w.u32(zip64 ? UInt32(ZipFormat.max32) : UInt32(r.size))
        w.u16(UInt16(r.name.count))
        w.u16(zip64 ? 20 : 0)
        w.raw(r.name)
        if zip64 {
            w.u16(ZipFormat.zip64ExtraID)
            w.u16(16)
            w.u64(r.size)
            w.u64(r.size)
        }
        return w.bytes
    }

    private func centralHeader(_ r: CentralRecord) -> [UInt8] {
        var extra = LittleEndianWriter()
        let bigSize = r.size >= ZipFormat.max32
        let bigOffset = r.localOffset >= ZipFormat.max32
        if bigSize || bigOffset {
            var fields = LittleEndianWriter()
            if bigSize { fields.u64(r.size); fields.u64(r.size) }
            if bigOffset { fields.u64(r.localOffset) }
            extra.u16(ZipFormat.zip64ExtraID)
            extra.u16(UInt16(fields.bytes.count))
            extra.raw(fields.bytes)
        }
        let (time, date) = ZipFormat.dosDateTime(r.modified)
        var w = LittleEndianWriter()
        w.u32(ZipFormat.centralHeaderSignature)
        w.u16(ZipFormat.versionMadeByUnix)
        w.u16(ZipFormat.versionNeededZip64)
        w.u16(ZipFormat.flagUTF8)
        w.u16(ZipFormat.methodStored)
        w.u16(time)
        w.u16(date)
        w.u32(r.crc32)
        w.u32(bigSize ? UInt32(ZipFormat.max32) : UInt32(r.size))
        w.u32(bigSize ? UInt32(ZipFormat.max32) : UInt32(r.size))
        w.u16(UInt16(r.name.count))
        w.u16(UInt16(extra.bytes.count))
        w.u16(0)
        w.u16(0)
        w.u16(0)
        w.u32((0o100000 | UInt32(r.mode)) << 16)  // regular file with its Unix mode
        w.u32(bigOffset ? UInt32(ZipFormat.max32) : UInt32(r.localOffset))
        w.raw(r.name)
        w.raw(extra.bytes)
        return w.bytes
    }

    // MARK: - Buffered output

    private func append(_ bytes: [UInt8]) {
        buffer += bytes
    }

    private func append(_ data: UnsafeRawBufferPointer) throws {
        if buffer.count + data.count > bufferLimit { try flush() }
        if data.count >= bufferLimit {
            try POSIXFile.writeAll(fd, data)
            offset += UInt64(data.count)
            writeBehind()
        } else {
            buffer.append(contentsOf: data)
        }
    }

    private func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { try POSIXFile.writeAll(fd, $0) }
        offset += UInt64(buffer.count)
        buffer.removeAll(keepingCapacity: true)
        writeBehind()
    }

    /// Starts writing what is on the file to disk, 8 MiB at a time, without waiting. Left to the final
    /// fsync, a 300 MB archive went to disk in one burst, and the POS's own commits (an fsync each)
    /// waited behind it.
    private func writeBehind() {
        guard offset - writtenBack >= 8 << 20 else { return }
        GlibcExtras.startWriteback(fd, from: writtenBack, count: offset - writtenBack)
        writtenBack = offset
    }
}
