import Foundation

/// Rebuilds the database image of the last link of a verified chain (a full backup, then
/// incrementals) into one file, and checks it against the SHA-256 in its manifest.
///
/// First every page of the target image is traced back through the chain's page maps to the stored
/// pages that make it: a page of the base image or a new page of some incremental, XOR-ed with the
/// XOR pages of the later incrementals on the way. Then each stored image is decompressed once,
/// oldest first, on all cores, and its pages are written (or XOR-ed) straight into their places in
/// the target: a page's plain bytes always come from an older link than its XORs, so they land
/// first. No intermediate image is ever written, so restoring the 24th link costs about one full
/// restore plus reading the incrementals' pages.
struct ChainReconstructor {
    /// One stored page that goes into a target page: link, page number within that link's stored
    /// pages, whether it is XOR-ed into what is there, and the next (older) contribution or -1.
    /// Traces share their older parts, so a chain of maps costs one node per stored page used.
    private struct Contribution {
        var link: Int32
        var index: Int32
        var xor: Bool
        var next: Int32
    }

    /// The contributions of every page, as heads of lists in `nodes`.
    private struct Traces {
        var nodes: [Contribution] = []
        var heads: [Int32] = []

        mutating func add(_ contribution: Contribution) -> Int32 {
            nodes.append(contribution)
            return Int32(nodes.count - 1)
        }
    }

    func rebuild(_ links: [VerifiedArchive], into target: URL, progress: ProgressHandler?) throws -> Manifest.DatabaseImage {
        guard let base = links.first?.manifest.database, base.delta == nil,
              let last = links.last?.manifest.database else {
            throw BackupError(.corruptArchive, "A chain of backups must start with a full database backup.")
        }
        guard base.pageCount < Int(Int32.max) else { throw BackupError(.corruptArchive, "The base image has too many pages.") }
        let pageSize = base.pageSize
        var traces = Traces()
        traces.nodes.reserveCapacity(base.pageCount)
        traces.heads = (0..<base.pageCount).map { traces.add(Contribution(link: 0, index: Int32($0), xor: false, next: -1)) }
        var stored = [base.pageCount]
        var previous = base
        for (i, link) in links.enumerated().dropFirst() {
            guard let image = link.manifest.database, let delta = image.delta else {
                throw BackupError(.corruptArchive, "Backup \(link.manifest.backupId) in the chain is not an incremental.")
            }
            guard delta.parentImageSha256 == previous.imageSha256, delta.parentPageCount == traces.heads.count,
                  delta.parentBackupId == links[i - 1].manifest.backupId, image.pageSize == pageSize else {
                throw BackupError(.corruptArchive, "Backup \(link.manifest.backupId) does not follow \(links[i - 1].manifest.backupId) in the chain.")
            }
            try followMap(of: link, delta: delta, pageCount: image.pageCount, traces: &traces, linkNumber: i)
            stored.append(delta.newPages)
            previous = image
        }

        // Who needs which stored page: per link, (stored page, target page, xor), in stored order.
        var wanted = Array(repeating: [(index: Int, page: Int, xor: Bool)](), count: links.count)
        for (page, head) in traces.heads.enumerated() {
            var at = head
            while at >= 0 {
                let node = traces.nodes[Int(at)]
                wanted[Int(node.link)].append((Int(node.index), page, node.xor))
                at = node.next
            }
        }

        let fd = try POSIXFile.createPrivate(target, readable: true)  // XOR pages read back what is there
        defer { close(fd) }
        guard ftruncate(fd, off_t(traces.heads.count * pageSize)) == 0 else {
            throw BackupError(.io, "Could not create the restored database file.", detail: target.path)
        }
        let totalBytes = links.reduce(UInt64(0)) { sum, link in
            sum + (link.manifest.database.flatMap { link.reader.entry(named: $0.entry)?.size } ?? 0)
        }
        var doneBytes: UInt64 = 0
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: 16)
        defer { scratch.deallocate() }
        for (number, link) in links.enumerated() where !wanted[number].isEmpty {
            let pairs = wanted[number].sorted { $0.index < $1.index }
            let image = link.manifest.database!
            guard let entry = link.reader.entry(named: image.entry),
                  image.gzipMembers.reduce(0, { $0 + UInt64($1) }) == entry.size else {
                throw BackupError(.corruptArchive, "The archive of backup \(link.manifest.backupId) does not match its manifest.")
            }
            var nextPair = 0
            var storedPage = 0
            let result = try ParallelGzip().decompress(
                fd: link.reader.fileDescriptor, offset: entry.dataOffset, memberSizes: image.gzipMembers,
                blockSize: image.gzipBlockSize, plainSize: UInt64(stored[number]) * UInt64(pageSize),
                sink: { chunk in
                    guard chunk.count % pageSize == 0 else {
                        throw BackupError(.corruptArchive, "The archive of backup \(link.manifest.backupId) holds a partial page.")
                    }
                    for offset in stride(from: 0, to: chunk.count, by: pageSize) {
                        while nextPair < pairs.count, pairs[nextPair].index == storedPage {
                            let page = UnsafeRawBufferPointer(rebasing: chunk[offset..<offset + pageSize])
                            let at = UInt64(pairs[nextPair].page * pageSize)
                            if pairs[nextPair].xor {
                                try xorInto(fd, page, at: at, scratch: scratch)
                            } else {
                                try POSIXFile.pwriteAll(fd, page, at: at)
                            }
                            nextPair += 1
                        }
                        storedPage += 1
                    }
                },
                progress: { done in progress?(ProgressEvent(phase: .rebuild, bytesDone: doneBytes + done, bytesTotal: totalBytes)) })
            guard storedPage == stored[number], result.plainSize == UInt64(stored[number] * pageSize) else {
                throw BackupError(.corruptArchive, "The archive of backup \(link.manifest.backupId) holds the wrong number of pages.")
            }
            doneBytes += entry.size
        }
        try POSIXFile.fsyncFile(fd)
        progress?(ProgressEvent(phase: .checksum, bytesDone: 0, bytesTotal: 0))
        let sha = try Checksums.sha256(of: target)
        guard sha == last.imageSha256, try POSIXFile.fileSize(target) == last.imageSize else {
            throw BackupError(.checksumMismatch, "The database rebuilt from the chain does not match its recorded checksum; it will not be used.",
                              detail: "expected \(last.imageSha256), got \(sha)")
        }
        return last
    }

    /// Applies one incremental's page map to the parent's traces.
    private func followMap(of link: VerifiedArchive, delta: Manifest.Delta, pageCount: Int, traces: inout Traces, linkNumber: Int) throws {
        guard let entry = link.reader.entry(named: delta.mapEntry) else {
            throw BackupError(.corruptArchive, "The archive of backup \(link.manifest.backupId) lacks its page map.")
        }
        let bytes = try Gzip.decompress(try link.reader.readData(entry, limit: 64 << 20), expectedSize: pageCount * 4)
        let parent = traces.heads
        var heads = [Int32]()
        heads.reserveCapacity(pageCount)
        var storedIndex: Int32 = 0
        var xorPages = 0
        try bytes.withUnsafeBytes { raw in
            for page in 0..<pageCount {
                let value = Int32(littleEndian: raw.loadUnaligned(fromByteOffset: page * 4, as: Int32.self))
                switch value {
                case Manifest.Delta.newPage:
                    heads.append(traces.add(Contribution(link: Int32(linkNumber), index: storedIndex, xor: false, next: -1)))
                    storedIndex += 1
                case Manifest.Delta.xorPage:
                    guard page < parent.count else {
                        throw BackupError(.corruptArchive, "The page map of backup \(link.manifest.backupId) XORs a page its parent does not have.")
                    }
                    heads.append(traces.add(Contribution(link: Int32(linkNumber), index: storedIndex, xor: true, next: parent[page])))
                    storedIndex += 1
                    xorPages += 1
                default:
                    let from = page + Int(value)
                    guard from >= 0, from < parent.count else {
                        throw BackupError(.corruptArchive, "The page map of backup \(link.manifest.backupId) points outside its parent.")
                    }
                    heads.append(parent[from])
                }
            }
        }
        guard Int(storedIndex) == delta.newPages, xorPages == delta.xorPages ?? 0 else {
            throw BackupError(.corruptArchive, "The page map of backup \(link.manifest.backupId) disagrees with its page count.")
        }
        traces.heads = heads
    }

    /// XORs `page` into the target's bytes at `offset` (written before by an older link).
    private func xorInto(_ fd: Int32, _ page: UnsafeRawBufferPointer, at offset: UInt64, scratch: UnsafeMutableRawBufferPointer) throws {
        guard try POSIXFile.pread(fd, into: scratch, at: offset) == page.count else {
            throw BackupError(.io, "Could not read back the database being rebuilt.")
        }
        for i in 0..<page.count { scratch[i] ^= page[i] }
        try POSIXFile.pwriteAll(fd, UnsafeRawBufferPointer(scratch), at: offset)
    }
}
