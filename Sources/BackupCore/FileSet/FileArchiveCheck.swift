import CLibDeflate
import Crypto
import Foundation

/// The read-back check of a freshly written file (or full) archive before it is published.
///
/// The archive is parsed again by `ZipReader` (which refuses anything unsafe), its `manifest.json` must be
/// the one we wrote, the ZIP directory and the manifest must list the same entries in the same order with
/// the same sizes and CRC-32s, and every entry's bytes are read back from the file: file entries against their CRC-32,
/// the others (database, config, manifest) against their SHA-256. Together with the archive's SHA-256,
/// read back by `TrailingHasher`, that proves the file on disk holds exactly the bytes that were hashed
/// from the sources. File entries are checked by CRC-32 rather than SHA-256 because both were computed
/// from the same bytes in memory; hashing 2 GB a third time would add seconds and prove nothing more.
/// `caps-backup verify` recomputes every SHA-256.
struct FileArchiveCheck {
    var threads = max(2, ProcessInfo.processInfo.activeProcessorCount)
    var regionBytes = 2 << 20

    func check(_ url: URL, manifest: Manifest, manifestBytes: [UInt8], progress: ProgressHandler? = nil) throws {
        let reader = try ZipReader(url: url)
        guard let manifestEntry = reader.entry(named: Manifest.entryName), manifestEntry.size == UInt64(manifestBytes.count) else {
            throw BackupError(.corruptArchive, "The new archive's manifest does not read back as written.")
        }
        var position = 0
        try reader.read(manifestEntry, chunkSize: 1 << 20) { chunk in
            guard manifestBytes[position..<position + chunk.count].elementsEqual(chunk) else {
                throw BackupError(.corruptArchive, "The new archive's manifest does not read back as written.")
            }
            position += chunk.count
        }
        // We wrote both in the same order (the manifest last): compare them pair by pair.
        let entries = reader.entries
        guard entries.count == manifest.entries.count + 1, entries.last?.name == Manifest.entryName else {
            throw BackupError(.corruptArchive, "The new archive's directory and manifest list different entries.",
                              detail: "directory \(entries.count - 1), manifest \(manifest.entries.count)")
        }
        var crcChecked: [Int] = []
        crcChecked.reserveCapacity(entries.count)
        for (index, item) in manifest.entries.enumerated() {
            let entry = entries[index]
            guard entry.name == item.path, entry.size == item.size else {
                throw BackupError(.corruptArchive, "The new archive's directory and manifest disagree on \(entry.name).")
            }
            if let crc = item.crc32 {
                guard crc == entry.crc32, entry.method == ZipFormat.methodStored else {
                    throw BackupError(.corruptArchive, "The new archive's directory and manifest disagree on the CRC-32 of \(entry.name).")
                }
                crcChecked.append(index)
            } else {
                guard try reader.read(entry) == item.sha256 else {
                    throw BackupError(.checksumMismatch, "The new archive's entry \(entry.name) does not read back as written.")
                }
            }
        }
        try checkCRCs(crcChecked.map { entries[$0] }, fd: reader.fileDescriptor, total: reader.fileSize, progress: progress)
    }

    /// Reads the file entries back in regions of consecutive entries, on all cores, and checks each CRC-32.
    private func checkCRCs(_ entries: [ZipEntry], fd: Int32, total: UInt64, progress: ProgressHandler?) throws {
        var regions: [Range<Int>] = []
        var start = 0
        for i in entries.indices {
            let span = entries[i].dataOffset + entries[i].size - entries[start].dataOffset
            if i > start, span > UInt64(regionBytes) || entries[i].dataOffset < entries[i - 1].dataOffset {
                regions.append(start..<i)
                start = i
            }
        }
        if start < entries.count { regions.append(start..<entries.count) }

        let next = Counter()
        let failure = FirstError()
        let shared = UnsafeSendable(entries)
        let regionList = UnsafeSendable(regions)
        let regionBytes = regionBytes
        runThreads(threads, name: "archive-check") { _ in
            let entries = shared.value
            while failure.error == nil, let r = next.take(below: regionList.value.count) {
                let range = regionList.value[r]
                let first = entries[range.lowerBound], last = entries[range.upperBound - 1]
                do {
                    // Mapped in windows of at most `regionBytes`: one large entry is CRC'd window by window.
                    var crc: UInt32 = 0
                    var entryIndex = range.lowerBound
                    var position = first.dataOffset
                    let end = last.dataOffset + last.size
                    while position < end {
                        let count = Int(min(UInt64(regionBytes), end - position))
                        try MappedFile.withBytes(fd, at: position, count: count) { window in
                            // Walk the entries (or the part of one) inside this window.
                            var at = position
                            while entryIndex < range.upperBound, at < position + UInt64(count) {
                                let entry = entries[entryIndex]
                                if at < entry.dataOffset { at = entry.dataOffset; continue }
                                let stop = min(entry.dataOffset + entry.size, position + UInt64(count))
                                let slice = UnsafeRawBufferPointer(rebasing: window[Int(at - position)..<Int(stop - position)])
                                crc = UInt32(truncatingIfNeeded: libdeflate_crc32(crc, slice.baseAddress, slice.count))
                                at = stop
                                if stop == entry.dataOffset + entry.size {
                                    guard crc == entry.crc32 else {
                                        throw BackupError(.checksumMismatch, "The new archive's entry \(entry.name) does not read back as written.")
                                    }
                                    crc = 0
                                    entryIndex += 1
                                }
                            }
                        }
                        position += UInt64(count)
                    }
                } catch {
                    failure.record(error)
                }
            }
        }.wait()
        if let error = failure.error { throw error }
        progress?(ProgressEvent(phase: "check", bytesDone: total, bytesTotal: total))
    }
}

/// Hands out 0, 1, 2, … to whichever thread asks first.
final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func take(below limit: Int) -> Int? {
        lock.withLock {
            guard value < limit else { return nil }
            defer { value += 1 }
            return value
        }
    }
}

/// The first error any thread reported.
final class FirstError: @unchecked Sendable {
    private let lock = NSLock()
    private var first: (any Error)?
    var error: (any Error)? { lock.withLock { first } }
    func record(_ error: any Error) { lock.withLock { if first == nil { first = error } } }
}
