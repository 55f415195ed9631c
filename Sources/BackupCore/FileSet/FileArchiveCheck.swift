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
        try check(url, manifestSize: UInt64(manifestBytes.count), manifestSHA256: SHA256.hash(data: manifestBytes).hex,
                  entryCount: manifest.entries.count, progress: progress)
    }

    /// - Parameters:
    ///   - manifestSize, manifestSHA256: of the manifest as it was written.
    ///   - entryCount: the entries it lists.
    func check(_ url: URL, manifestSize: UInt64, manifestSHA256: String, entryCount: Int, progress: ProgressHandler? = nil) throws {
        let reader = try ZipReader(url: url)
        let notAsWritten = BackupError(.corruptArchive, "The new archive's manifest does not read back as written.")
        // We wrote the manifest last, and its entries in the same order as the archive's.
        let entries = reader.entries
        guard let manifestEntry = entries.last, manifestEntry.name == Manifest.entryName else { throw notAsWritten }
        guard manifestEntry.size == manifestSize else { throw notAsWritten }
        guard entries.count == entryCount + 1 else {
            throw BackupError(.corruptArchive, "The new archive's directory and manifest list different entries.",
                              detail: "directory \(entries.count - 1), manifest \(entryCount)")
        }
        // The manifest is read back from the archive a piece at a time; each entry it lists is compared
        // with the directory's entry at the same place as it goes by.
        var crcChecked: [Int32] = []
        crcChecked.reserveCapacity(entryCount)
        var shaChecked: [(index: Int, sha256: String)] = []
        var index = 0
        func compare(_ item: ScannedEntry) throws {
            guard index < entryCount else {
                throw BackupError(.corruptArchive, "The new archive's directory and manifest list different entries.",
                                  detail: "directory \(entryCount), manifest more")
            }
            let entry = entries[index]
            var name = entry.name
            guard name.withUTF8({ $0.elementsEqual(item.path) }), entry.size == item.size else {
                throw BackupError(.corruptArchive, "The new archive's directory and manifest disagree on \(entry.name).")
            }
            if let crc = item.crc32 {
                guard crc == entry.crc32, entry.method == ZipFormat.methodStored else {
                    throw BackupError(.corruptArchive, "The new archive's directory and manifest disagree on the CRC-32 of \(entry.name).")
                }
                crcChecked.append(Int32(index))
            } else {
                shaChecked.append((index, String(decoding: item.sha256, as: UTF8.self)))
            }
            index += 1
        }
        var scanner = ManifestScanner()
        let sha256 = try reader.read(manifestEntry, chunkSize: 1 << 20) { chunk in
            guard try scanner.feed(chunk, compare) else { throw notAsWritten }
        }
        guard sha256 == manifestSHA256, try scanner.finish(compare), (try? scanner.decodeOuter()) != nil else { throw notAsWritten }
        guard index == entryCount else {
            throw BackupError(.corruptArchive, "The new archive's directory and manifest list different entries.",
                              detail: "directory \(entryCount), manifest \(index)")
        }
        // Database and config entries: their bytes against their SHA-256.
        for (i, expected) in shaChecked {
            guard try reader.read(entries[i]) == expected else {
                throw BackupError(.checksumMismatch, "The new archive's entry \(entries[i].name) does not read back as written.")
            }
        }
        try checkCRCs(entries, crcChecked, fd: reader.fileDescriptor, total: reader.fileSize, progress: progress)
    }

    /// Reads the file entries back in regions of consecutive entries, on all cores, and checks each CRC-32.
    /// - Parameter which: the numbers of the entries to check, in archive order.
    private func checkCRCs(_ all: [ZipEntry], _ which: [Int32], fd: Int32, total: UInt64, progress: ProgressHandler?) throws {
        var regions: [Range<Int>] = []
        var start = 0
        for i in which.indices {
            let entry = all[Int(which[i])], startEntry = all[Int(which[start])]
            let span = entry.dataOffset + entry.size - startEntry.dataOffset
            if i > start, span > UInt64(regionBytes) || entry.dataOffset < all[Int(which[i - 1])].dataOffset {
                regions.append(start..<i)
                start = i
            }
        }
        if start < which.count { regions.append(start..<which.count) }

        let next = Counter()
        let failure = FirstError()
        let shared = UnsafeSendable((all, which))
        let regionList = UnsafeSendable(regions)
        let regionBytes = regionBytes
        runThreads(threads, name: "archive-check") { _ in
            let (all, which) = shared.value
            let entries = CheckedEntries(all: all, which: which)
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
        progress?(ProgressEvent(phase: .check, bytesDone: total, bytesTotal: total))
    }
}

/// The entries being CRC-checked, by their place in that list.
private struct CheckedEntries {
    let all: [ZipEntry]
    let which: [Int32]
    subscript(i: Int) -> ZipEntry { all[Int(which[i])] }
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
