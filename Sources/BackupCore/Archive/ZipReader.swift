import CLibDeflate
import Crypto
import Foundation

/// One entry of the central directory, validated.
public struct ZipEntry: Sendable, Equatable {
    public var name: String
    public var method: UInt16
    public var crc32: UInt32
    public var compressedSize: UInt64
    public var size: UInt64
    public var localHeaderOffset: UInt64
    public var unixMode: UInt16
    /// Where the entry's bytes start; resolved from the local header when the reader opens.
    public var dataOffset: UInt64
}

/// Reads the ZIP archives we write (and ordinary ones): parses the central directory, refuses
/// anything unsafe or inconsistent before a single entry is read, and streams entries out
/// with their SHA-256. Never loads an archive into memory.
public final class ZipReader {
    public let url: URL
    public let fileSize: UInt64
    public private(set) var entries: [ZipEntry] = []
    private var fd: Int32

    public init(url: URL) throws {
        self.url = url
        fileSize = try POSIXFile.fileSize(url)
        fd = try POSIXFile.openForReading(url)
        do {
            entries = try readCentralDirectory()
        } catch {
            // Every stored property is set by now, so Swift runs deinit after this throw: it must not
            // close the descriptor a second time (by then the number may belong to another thread's file).
            close(fd)
            fd = -1
            throw error
        }
    }

    deinit { if fd >= 0 { close(fd) } }

    public func entry(named name: String) -> ZipEntry? {
        // An index, not a scan: verifying or restoring a 52,000-file archive looks up every entry.
        if byName == nil { byName = Dictionary(entries.enumerated().map { ($1.name, $0) }, uniquingKeysWith: { first, _ in first }) }
        return byName![name].map { entries[$0] }
    }
    private var byName: [String: Int]?

    /// The raw file descriptor, for readers (such as parallel gunzip) that read a stored entry's bytes in place.
    public var fileDescriptor: Int32 { fd }

    /// Streams a stored entry's bytes to `body` and returns their SHA-256; checks the CRC-32 too.
    @discardableResult
    public func read(_ entry: ZipEntry, chunkSize: Int = 4 << 20, into body: (UnsafeRawBufferPointer) throws -> Void = { _ in }) throws -> String {
        if entry.method == ZipFormat.methodDeflated {
            let data = try readDeflated(entry)
            try data.withUnsafeBytes { try body($0) }
            return SHA256.hash(data: data).hex
        }
        var hasher = SHA256()
        var crc: UInt32 = 0
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        var done: UInt64 = 0
        while done < entry.size {
            let want = Int(min(UInt64(chunkSize), entry.size - done))
            let got = try POSIXFile.pread(fd, into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<want]), at: entry.dataOffset + done)
            guard got == want else { throw truncated(entry) }
            let chunk = UnsafeRawBufferPointer(rebasing: buffer[0..<got])
            hasher.update(bufferPointer: chunk)
            crc = UInt32(libdeflate_crc32(crc, chunk.baseAddress, chunk.count))
            try body(chunk)
            done += UInt64(got)
        }
        guard crc == entry.crc32 else {
            throw BackupError(.corruptArchive, "The archive is damaged: entry \(entry.name) does not match its CRC-32.")
        }
        return hasher.finalize().hex
    }

    /// Reads a whole (small) entry; `limit` guards against an entry that claims to be huge.
    public func readData(_ entry: ZipEntry, limit: UInt64) throws -> [UInt8] {
        guard entry.size <= limit else {
            throw BackupError(.corruptArchive, "The archive entry \(entry.name) is larger than allowed (\(entry.size) bytes).")
        }
        var out: [UInt8] = []
        out.reserveCapacity(Int(entry.size))
        try read(entry) { out.append(contentsOf: $0) }
        return out
    }

    // MARK: - Parsing

    private func truncated(_ entry: ZipEntry) -> BackupError {
        BackupError(.corruptArchive, "The archive is truncated: entry \(entry.name) ends early.")
    }

    private func bytes(at position: UInt64, count: Int) throws -> [UInt8] {
        guard position <= fileSize, UInt64(count) <= fileSize - position else {
            throw BackupError(.corruptArchive, "The archive is damaged or truncated.", detail: "read past end at \(position)")
        }
        var out = [UInt8](repeating: 0, count: count)
        let got = try out.withUnsafeMutableBytes { try POSIXFile.pread(fd, into: $0, at: position) }
        guard got == count else { throw BackupError(.corruptArchive, "The archive is damaged or truncated.") }
        return out
    }

    private func readCentralDirectory() throws -> [ZipEntry] {
        let notZip = BackupError(.corruptArchive, "This file is not a caps-backup archive (not a ZIP file, or truncated).")
        guard fileSize >= UInt64(ZipFormat.endOfCentralDirectorySize) else { throw notZip }
        let tailSize = Int(min(fileSize, UInt64(ZipFormat.endOfCentralDirectorySize + 0xFFFF)))
        let tailStart = fileSize - UInt64(tailSize)
        let tail = try bytes(at: tailStart, count: tailSize)
        var eocdIndex: Int?
        var i = tail.count - ZipFormat.endOfCentralDirectorySize
        while i >= 0 {
            if tail[i] == 0x50, tail[i + 1] == 0x4b, tail[i + 2] == 0x05, tail[i + 3] == 0x06 { eocdIndex = i; break }
            i -= 1
        }
        guard let eocdIndex else { throw notZip }
        var r = LittleEndianReader(tail, at: eocdIndex + 4)
        let disk = try r.u16(), cdDisk = try r.u16()
        _ = try r.u16()
        var count = UInt64(try r.u16())
        var cdSize = UInt64(try r.u32())
        var cdOffset = UInt64(try r.u32())
        guard disk == 0, cdDisk == 0 else { throw BackupError(.corruptArchive, "Multi-part ZIP archives are not supported.") }
        let eocdPosition = tailStart + UInt64(eocdIndex)
        if count == ZipFormat.max16 || cdSize == ZipFormat.max32 || cdOffset == ZipFormat.max32 {
            guard eocdPosition >= 20 else { throw notZip }
            var loc = LittleEndianReader(try bytes(at: eocdPosition - 20, count: 20))
            guard try loc.u32() == ZipFormat.zip64LocatorSignature else { throw notZip }
            _ = try loc.u32()
            let zip64Position = try loc.u64()
            var z = LittleEndianReader(try bytes(at: zip64Position, count: 56))
            guard try z.u32() == ZipFormat.zip64EndOfCentralDirectorySignature else { throw notZip }
            _ = try z.take(20)  // record size, versions, disk numbers
            _ = try z.u64()     // entries on this disk; the total follows
            count = try z.u64()
            cdSize = try z.u64()
            cdOffset = try z.u64()
        }
        guard cdOffset <= eocdPosition, cdSize <= eocdPosition - cdOffset, cdSize <= 512 << 20 else {
            throw BackupError(.corruptArchive, "The archive is damaged: its directory points outside the file.")
        }
        guard count <= cdSize / UInt64(ZipFormat.centralHeaderSize) + 1 else { throw notZip }
        let directory = try bytes(at: cdOffset, count: Int(cdSize))
        var d = LittleEndianReader(directory)
        var result: [ZipEntry] = []
        var seen = Set<String>()
        result.reserveCapacity(Int(count))
        for _ in 0..<count {
            guard try d.u32() == ZipFormat.centralHeaderSignature else {
                throw BackupError(.corruptArchive, "The archive is damaged: bad directory record.")
            }
            _ = try d.u16()  // made by
            _ = try d.u16()  // needed
            let flags = try d.u16()
            let method = try d.u16()
            _ = try d.u32()  // time, date
            let crc = try d.u32()
            var compressed = UInt64(try d.u32())
            var size = UInt64(try d.u32())
            let nameLength = Int(try d.u16())
            let extraLength = Int(try d.u16())
            let commentLength = Int(try d.u16())
            _ = try d.u16()
            _ = try d.u16()
            let external = try d.u32()
            var localOffset = UInt64(try d.u32())
            let nameBytes = try d.take(nameLength)
            var extra = LittleEndianReader(try d.take(extraLength))
            _ = try d.take(commentLength)
            while extra.remaining >= 4 {
                let id = try extra.u16()
                let length = Int(try extra.u16())
                var field = LittleEndianReader(try extra.take(length))
                if id == ZipFormat.zip64ExtraID {
                    if size == ZipFormat.max32 { size = try field.u64() }
                    if compressed == ZipFormat.max32 { compressed = try field.u64() }
                    if localOffset == ZipFormat.max32 { localOffset = try field.u64() }
                }
            }
            guard let name = String(validating: nameBytes, as: UTF8.self) else {
                throw BackupError(.unsafeArchive, "The archive contains an entry name that is not valid UTF-8.")
            }
            try ArchivePath.validate(name)
            let fileType = (external >> 16) & 0o170000
            if fileType == 0o120000 {
                throw BackupError(.unsafeArchive, "The archive contains a symbolic link (\(name)) and was refused.")
            }
            if fileType != 0 && fileType != 0o100000 && !(fileType == 0o040000 && name.hasSuffix("/")) {
                throw BackupError(.unsafeArchive, "The archive contains a special file (\(name)) and was refused.")
            }
            guard flags & ZipFormat.flagEncrypted == 0 else {
                throw BackupError(.unsafeArchive, "The archive contains an encrypted entry (\(name)), which caps-backup never writes.")
            }
            guard method == ZipFormat.methodStored || method == ZipFormat.methodDeflated else {
                throw BackupError(.corruptArchive, "The archive uses an unsupported compression method for \(name).")
            }
            guard method != ZipFormat.methodStored || compressed == size else {
                throw BackupError(.corruptArchive, "The archive is damaged: entry \(name) has inconsistent sizes.")
            }
            guard seen.insert(name).inserted else {
                throw BackupError(.unsafeArchive, "The archive contains the entry \(name) twice and was refused.")
            }
            let dataOffset = try resolveDataOffset(localOffset: localOffset, nameBytes: nameBytes)
            guard dataOffset <= cdOffset, compressed <= cdOffset - dataOffset else {
                throw BackupError(.corruptArchive, "The archive is truncated or damaged: entry \(name) runs past its end.")
            }
            result.append(ZipEntry(name: name, method: method, crc32: crc, compressedSize: compressed, size: size,
                                   localHeaderOffset: localOffset, unixMode: UInt16((external >> 16) & 0o7777),
                                   dataOffset: dataOffset))
        }
        return result
    }

    private func resolveDataOffset(localOffset: UInt64, nameBytes: [UInt8]) throws -> UInt64 {
        var h = LittleEndianReader(try bytes(at: localOffset, count: ZipFormat.localHeaderSize))
        guard try h.u32() == ZipFormat.localHeaderSignature else {
            throw BackupError(.corruptArchive, "The archive is damaged: an entry's header is missing.")
        }
        h.position = 26
        let nameLength = Int(try h.u16())
        let extraLength = Int(try h.u16())
        let localName = try bytes(at: localOffset + UInt64(ZipFormat.localHeaderSize), count: nameLength)
        guard localName == nameBytes else {
            throw BackupError(.unsafeArchive, "The archive is inconsistent: an entry's name differs between its header and the directory.")
        }
        return localOffset + UInt64(ZipFormat.localHeaderSize + nameLength + extraLength)
    }

    private func readDeflated(_ entry: ZipEntry) throws -> [UInt8] {
        // Deflated entries are small text files (configs); the size cap keeps a zip bomb out.
        guard entry.size <= 256 << 20, entry.compressedSize <= 256 << 20,
              Gzip.plausible(plain: entry.size, compressed: entry.compressedSize) else {
            throw BackupError(.corruptArchive, "The archive entry \(entry.name) is too large to inflate.")
        }
        let input = try bytes(at: entry.dataOffset, count: Int(entry.compressedSize))
        var output = [UInt8](repeating: 0, count: Int(entry.size))
        let d = libdeflate_alloc_decompressor()
        defer { libdeflate_free_decompressor(d) }
        var actual = 0
        let rc = input.withUnsafeBytes { i in
            output.withUnsafeMutableBytes { o in
                libdeflate_deflate_decompress(d, i.baseAddress, i.count, o.baseAddress, o.count, &actual)
            }
        }
        guard rc == LIBDEFLATE_SUCCESS, actual == Int(entry.size) else {
            throw BackupError(.corruptArchive, "The archive is damaged: entry \(entry.name) does not decompress.")
        }
        let crc = output.withUnsafeBytes { UInt32(libdeflate_crc32(0, $0.baseAddress, $0.count)) }
        guard crc == entry.crc32 else {
            throw BackupError(.corruptArchive, "The archive is damaged: entry \(entry.name) does not match its CRC-32.")
        }
        return output
    }
}
