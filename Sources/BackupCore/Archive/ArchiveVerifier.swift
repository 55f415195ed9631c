import Foundation

/// An archive that passed every check: its SHA-256 matches what the catalog and the sidecar
/// expect, its structure is safe, and every entry matches the manifest's size and SHA-256.
public struct VerifiedArchive {
    public let url: URL
    public let reader: ZipReader
    public let manifest: Manifest
    public let sha256: String
    /// Whether an independent record of the archive's checksum (catalog or sidecar) was compared.
    public let checksumSource: String
}

/// Checks an archive before anything trusts it: first the whole file's SHA-256, then the ZIP
/// structure (names, symlinks, bounds), then the manifest against the entries, then each entry's
/// bytes. Nothing is extracted and nothing changes while verifying.
public struct ArchiveVerifier: Sendable {
    public init() {}

    public func verify(_ url: URL, expectedSHA256: String? = nil, progress: ProgressHandler? = nil) throws -> VerifiedArchive {
        let size = try POSIXFile.fileSize(url)
        var expectations: [(String, String)] = []
        if let expectedSHA256 { expectations.append(("catalog", expectedSHA256.lowercased())) }
        let sidecar = Checksums.sidecarURL(for: url)
        if POSIXFile.exists(sidecar) {
            let text = (try? String(contentsOf: sidecar, encoding: .utf8)) ?? ""
            guard let value = Checksums.parseSidecar(text) else {
                throw BackupError(.checksumMismatch, "The checksum file \(sidecar.lastPathComponent) is unreadable; the archive cannot be trusted.")
            }
            expectations.append(("sidecar", value))
        }
        // The whole file's checksum and the entries' are two reads of the same file: one core each.
        // A wrong checksum is reported first, whatever the entries say.
        progress?(ProgressEvent(phase: .checksum, bytesDone: 0, bytesTotal: size))
        let (checksum, contents) = inParallel({ try Checksums.sha256(of: url) },
                                              { try readEntries(url, size: size, progress: progress) })
        let sha256 = try checksum.get()
        for (source, expected) in expectations where expected != sha256 {
            throw BackupError(.checksumMismatch,
                              "The archive's checksum does not match the recorded one (\(source)): it was changed or damaged, and will not be used.",
                              detail: "expected \(expected), got \(sha256)")
        }
        let (reader, manifest) = try contents.get()
        return VerifiedArchive(url: url, reader: reader, manifest: manifest, sha256: sha256,
                               checksumSource: expectations.isEmpty ? "none" : expectations.map(\.0).joined(separator: "+"))
    }

    /// The structure, the manifest against the directory, and every entry's bytes against the manifest.
    private func readEntries(_ url: URL, size: UInt64, progress: ProgressHandler?) throws -> (ZipReader, Manifest) {
        let reader = try ZipReader(url: url)
        guard let manifestEntry = reader.entry(named: Manifest.entryName) else {
            throw BackupError(.corruptArchive, "This ZIP file is not a caps-backup archive (it has no manifest.json).")
        }
        let manifest = try Manifest.decode(try reader.readData(manifestEntry, limit: Manifest.maxSize))
        try manifest.checkBounds(archiveSize: size)
        try checkEntriesMatch(manifest, reader)
        var done: UInt64 = 0
        for item in manifest.entries {
            let entry = reader.entry(named: item.path)!
            let actual = try reader.read(entry) { chunk in
                done += UInt64(chunk.count)
                progress?(ProgressEvent(phase: .verify, bytesDone: done, bytesTotal: size))
            }
            guard actual == item.sha256.lowercased() else {
                throw BackupError(.checksumMismatch, "The archive is damaged: \(item.path) does not match its checksum in the manifest.",
                                  detail: "expected \(item.sha256), got \(actual)")
            }
        }
        return (reader, manifest)
    }

    /// The manifest and the ZIP directory must list exactly the same entries with the same sizes.
    private func checkEntriesMatch(_ manifest: Manifest, _ reader: ZipReader) throws {
        var listed: [String: UInt64] = [:]
        for item in manifest.entries {
            try ArchivePath.validate(item.path)
            guard listed.updateValue(item.size, forKey: item.path) == nil else {
                throw BackupError(.corruptArchive, "The archive's manifest lists \(item.path) twice.")
            }
        }
        for entry in reader.entries where entry.name != Manifest.entryName {
            guard let size = listed.removeValue(forKey: entry.name) else {
                throw BackupError(.corruptArchive, "The archive's manifest disagrees with its contents: \(entry.name) is not in the manifest.")
            }
            guard size == entry.size else {
                throw BackupError(.corruptArchive, "The archive's manifest disagrees with its contents: \(entry.name) has the wrong size.",
                                  detail: "manifest \(size), archive \(entry.size)")
            }
        }
        if let missing = listed.keys.sorted().first {
            throw BackupError(.corruptArchive, "The archive's manifest disagrees with its contents: \(missing) is missing.")
        }
        if let db = manifest.database {
            guard listed.isEmpty, manifest.entries.contains(where: { $0.path == db.entry }) else {
                throw BackupError(.corruptArchive, "The archive's manifest names a database entry that is not in the archive.")
            }
        }
    }
}

/// Turns a verified archive's database entry back into a SQLite file, checking the image's SHA-256.
public struct DatabaseExtractor: Sendable {
    public init() {}

    public func extract(_ archive: VerifiedArchive, to target: URL, progress: ProgressHandler? = nil) throws {
        guard let image = archive.manifest.database, let entry = archive.reader.entry(named: image.entry) else {
            throw BackupError(.invalidInput, "This archive holds no database.")
        }
        guard image.delta == nil else {
            throw BackupError(.invalidInput, "This is an incremental backup: it is restored together with the backups it builds on.")
        }
        guard image.gzipMembers.reduce(0, { $0 + UInt64($1) }) == entry.size, entry.method == ZipFormat.methodStored else {
            throw BackupError(.corruptArchive, "The archive's database entry does not match its manifest.")
        }
        let fd = try POSIXFile.createPrivate(target)
        defer { close(fd) }
        let result = try ParallelGzip().decompress(
            fd: archive.reader.fileDescriptor, offset: entry.dataOffset, memberSizes: image.gzipMembers,
            blockSize: image.gzipBlockSize, plainSize: image.imageSize,
            sink: { try POSIXFile.writeAll(fd, $0) },
            progress: { done in progress?(ProgressEvent(phase: .extract, bytesDone: done, bytesTotal: entry.size)) })
        guard result.plainSize == image.imageSize, result.plainSHA256 == image.imageSha256.lowercased() else {
            throw BackupError(.checksumMismatch, "The database inside the archive does not match its recorded checksum; it will not be used.",
                              detail: "expected \(image.imageSha256) (\(image.imageSize) bytes), got \(result.plainSHA256) (\(result.plainSize) bytes)")
        }
        try POSIXFile.fsyncFile(fd)
    }
}
