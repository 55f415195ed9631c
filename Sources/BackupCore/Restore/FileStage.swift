import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Two phases, so that nothing in the uploads folder changes until every file has been extracted and
/// checked: `stage` extracts every file into a hidden folder inside the uploads folder (same file
/// system, so a rename moves it into place), each checked against its SHA-256, with its mode and mtime
/// set, then syncs the file system; `apply` renames each file over its target (each rename is atomic:
/// the POS sees the old file or the new one) and, with `deleteExtra`, removes files the backup does not hold.
///
/// Before anything is written: every entry name must be a safe relative path, every folder on the way
/// must be a real folder inside the uploads folder (a symbolic link leading outside is refused), a
/// folder may not stand where a file goes (or a file where a folder goes), and the files must fit.
final class FileStage {
    let options: FileRestoreOptions
    private(set) var root: URL?
    private var staging: URL?
    private var items: [Item] = []
    private var extra: [String] = []
    private var excludes = ExcludeMatcher([])
    private var renamed = 0

    struct Item {
        var relative: String
        var staged: String
        var size: UInt64
    }

    init(options: FileRestoreOptions) { self.options = options }

    var recoveryNotes: [String] {
        guard let root, !items.isEmpty else { return [] }
        if renamed == 0 { return ["The uploads folder \(root.path) was not changed."] }
        return ["\(renamed) of \(items.count) files were put back in \(root.path) before the failure; running the same restore again completes it."]
    }

    func stage(from archive: VerifiedArchive, progress: ProgressHandler?) throws {
        let manifest = archive.manifest
        guard let summary = manifest.files else {
            throw BackupError(.invalidInput, "This backup holds no product files (it is a \(manifest.kind.rawValue) backup).")
        }
        try ArchivePath.validate(summary.prefix.utf8.last == PathBytes.slash ? summary.prefix + "x" : summary.prefix + "/x")
        // The folder the manifest names is only trusted for an archive we wrote (its checksum matched the
        // catalog): one from elsewhere could name any folder on this server.
        guard let requested = options.uploads ?? (archive.checksumSource.contains("catalog") ? URL(fileURLWithPath: summary.root) : nil) else {
            throw FileRestoreOptions.noUploadsFolder
        }
        let root = try prepareRoot(requested)
        self.root = root
        excludes = ExcludeMatcher(summary.excludes)

        // Plan and refuse, before writing anything.
        // Bytes, not characters: "files/" + "\u{301}x" does not have the prefix "files/" as a String.
        let entries = manifest.entries.filter { PathBytes.hasPrefix($0.path, summary.prefix) }
        var planned: [(Manifest.Entry, ZipEntry, String)] = []
        planned.reserveCapacity(entries.count)
        var checkedFolders = Set<[UInt8]>()
        var total: UInt64 = 0
        for item in entries {
            let relative = PathBytes.dropPrefix(item.path, summary.prefix)
            _ = try ArchivePath.resolve(relative, under: root)
            guard let entry = archive.reader.entry(named: item.path), entry.size == item.size else {
                throw BackupError(.corruptArchive, "The archive's manifest disagrees with its contents: \(item.path).")
            }
            try checkPath(relative, root: root, checked: &checkedFolders)
            planned.append((item, entry, relative))
            total += item.size
        }
        let available = try POSIXFile.availableBytes(at: root)
        guard available >= total + (16 << 20) else {
            throw BackupError(.insufficientSpace, "Not enough free disk space to restore the files: \(ByteCount.format(total)) needed, \(ByteCount.format(available)) free.",
                              detail: root.path)
        }
        if options.deleteExtra { extra = try extraFiles(root: root, summary: summary, keep: Set(entries.map(\.path))) }

        // Extract into the staging folder.
        try removeStaleStaging(in: root)
        let staging = root.appendingPathComponent("\(FileTreeWalker.stagingPrefix)\(getpid())-\(UUID().uuidString.prefix(8).lowercased())")
        try POSIXFile.makePrivateDirectory(staging)
        self.staging = staging
        let owner = rootOwner(root)
        // Modes come from the archive, but no archive makes a file writable by others, nor by the group
        // unless the uploads folder itself is group-writable (the store's policy).
        let modeMask = mode_t(0o755) | (((try? POSIXFile.mode(root)) ?? 0) & 0o020)
        var done: UInt64 = 0
        for (number, (item, entry, relative)) in planned.enumerated() {
            let staged = String(number)
            try extract(entry, expected: item, to: staging.appendingPathComponent(staged), owner: owner, modeMask: modeMask, reader: archive.reader)
            items.append(Item(relative: relative, staged: staged, size: item.size))
            done += item.size
            if number % 256 == 0 { progress?(ProgressEvent(phase: .extractFiles, bytesDone: done, bytesTotal: total)) }
        }
        try syncFileSystem(staging)
    }

    func apply(progress: ProgressHandler?, into outcome: inout FileRestoreOutcome) throws {
        guard let root, let staging else { return }
        let folderMode = mode_t((try? POSIXFile.mode(root)).map { $0 & 0o777 } ?? 0o755)
        let owner = rootOwner(root)
        // Folders are opened one component at a time without following links, so a folder swapped for
        // a link after the checks cannot redirect a rename outside the uploads folder.
        let beneath = try BeneathRoot(root)
        let stagingFD = open(staging.path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard stagingFD >= 0 else { throw POSIXFile.errnoError("open", staging) }
        defer { close(stagingFD) }
        var done: UInt64 = 0
        for (number, item) in items.enumerated() {
            let (folder, name) = BeneathRoot.split(item.relative)
            guard PathBytes.isName(name), PathBytes.isName(item.staged) else {
                throw BackupError(.unsafeArchive, "The archive names an unsafe place for a file: \(item.relative.debugDescription); restoring stopped there.")
            }
            try beneath.makeFolders(folder, mode: folderMode, owner: owner)
            guard let folderFD = beneath.directory(folder) else {
                throw BackupError(.unsafeArchive, "\(folder) in the uploads folder is not a real folder (a link or a file); restoring stopped there.")
            }
            guard renameat(stagingFD, item.staged, folderFD, name) == 0 else {
                throw BackupError(.io, "Could not put \(item.relative) in place: \(String(cString: strerror(errno)))")
            }
            renamed += 1
            done += item.size
            if number % 256 == 0 { progress?(ProgressEvent(phase: .restoreFiles, bytesDone: done, bytesTotal: 0)) }
        }
        outcome.restored = items.count
        outcome.bytes = done
        for relative in extra {
            let (folder, name) = BeneathRoot.split(relative)
            guard PathBytes.isName(name), let folderFD = beneath.directory(folder) else { continue }
            if unlinkat(folderFD, name, 0) == 0 || errno == ENOENT { outcome.removed += 1 }
        }
        removeEmptiedFolders(extra, beneath: beneath)
        try syncFileSystem(root)
    }

    func discard() {
        if let staging { try? FileManager.default.removeItem(at: staging) }
        staging = nil
    }

    // MARK: Checks

    /// The uploads folder itself: created when missing (a fresh install), resolved through links.
    private func prepareRoot(_ requested: URL) throws -> URL {
        if !POSIXFile.exists(requested) {
            try FileManager.default.createDirectory(at: requested, withIntermediateDirectories: true)
            chmod(requested.path, 0o755)
        }
        guard let real = realpath(requested.path, nil) else { throw POSIXFile.errnoError("realpath", requested) }
        defer { free(real) }
        let url = URL(fileURLWithPath: String(cString: real), isDirectory: true)
        var st = stat()
        guard stat(url.path, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
            throw BackupError(.invalidInput, "The uploads folder \(requested.path) is not a folder.")
        }
        return url
    }

    /// Every existing folder on the way must be a real folder (not a link), and the target may not be a folder.
    /// Components are split at the `/` byte, as the kernel splits them (see `PathBytes`).
    private func checkPath(_ relative: String, root: URL, checked: inout Set<[UInt8]>) throws {
        let components = PathBytes.components(relative)
        guard components.allSatisfy(PathBytes.isName) else {
            throw BackupError(.unsafeArchive, "The archive contains an unsafe entry name and was refused: \(relative.debugDescription)")
        }
        var path = ""
        for (index, component) in components.enumerated() {
            path = path.isEmpty ? component : path + "/" + component
            let isLast = index == components.count - 1
            if !isLast, checked.contains(Array(path.utf8)) { continue }
            let url = root.appendingPathComponent(path)
            var st = stat()
            guard lstat(url.path, &st) == 0 else {
                if errno == ENOENT { if !isLast { checked.insert(Array(path.utf8)) }; return }  // nothing below exists either
                throw POSIXFile.errnoError("lstat", url)
            }
            let type = st.st_mode & S_IFMT
            if isLast {
                if type == S_IFDIR {
                    throw BackupError(.invalidInput, "A folder is in the way of the restored file \(relative); nothing was changed.")
                }
                return
            }
            if type == S_IFLNK {
                // Links are never followed: one could lead the restore outside the uploads folder.
                throw BackupError(.unsafeArchive, "The folder \(path) in the uploads folder is a symbolic link; nothing was restored. Replace the link by a folder, or restore into another folder.",
                                  remedy: .chooseUploadsFolder)
            } else if type != S_IFDIR {
                throw BackupError(.invalidInput, "The file \(path) in the uploads folder is in the way of restored files; nothing was changed.")
            }
            checked.insert(Array(path.utf8))
        }
    }

    /// The regular files now in the uploads folder that the backup does not hold: not in the archive,
    /// not skipped by the backup, not excluded by the patterns it was made with.
    private func extraFiles(root: URL, summary: FileSetSummary, keep: Set<String>) throws -> [String] {
        let present = try FileTreeWalker(root: root, excludes: excludes, namePrefix: summary.prefix).walk()
        let skipped = Set(summary.skipped.map(\.path))
        return present.files.map(\.path).filter { !keep.contains(summary.prefix + $0) && !skipped.contains(summary.prefix + $0) }
    }

    private func removeStaleStaging(in root: URL) throws {
        // We hold the job lock: any staging folder left here belongs to a restore that died.
        for name in (try? FileManager.default.contentsOfDirectory(atPath: root.path)) ?? [] where PathBytes.hasPrefix(name, FileTreeWalker.stagingPrefix) {
            try? FileManager.default.removeItem(at: root.appendingPathComponent(name))
        }
    }

    // MARK: Writing

    private func extract(_ entry: ZipEntry, expected: Manifest.Entry, to url: URL, owner: (uid_t, gid_t)?, modeMask: mode_t,
                         reader: ZipReader) throws {
        let fd = try POSIXFile.createPrivate(url)
        defer { close(fd) }
        // Checked again while extracting: the archive could have changed since it was verified.
        let sha = try reader.read(entry, chunkSize: Int(min(4 << 20, max(entry.size, 4096)))) { try POSIXFile.writeAll(fd, $0) }
        guard sha == expected.sha256.lowercased() else {
            throw BackupError(.checksumMismatch, "The archive changed while being restored: \(entry.name) does not match its checksum.")
        }
        if let owner { _ = fchown(fd, owner.0, owner.1) }  // best effort: a group we are not in is refused
        // Permission bits only: set-user-id, set-group-id and sticky bits are never restored, nor write
        // bits beyond `modeMask`.
        let mode = mode_t(expected.mode ?? entry.unixMode) & 0o777 & modeMask
        guard fchmod(fd, mode) == 0 else { throw POSIXFile.errnoError("fchmod", url) }
        if let modified = expected.modified {
            var times = [timespec(tv_sec: 0, tv_nsec: (1 << 30) - 2 /* UTIME_OMIT: keep the access time as it is */), modified.timespec]
            guard futimens(fd, &times) == 0 else { throw POSIXFile.errnoError("futimens", url) }
        }
    }

    private func removeEmptiedFolders(_ removed: [String], beneath: BeneathRoot) {
        var folders = Set<[UInt8]>()
        for relative in removed {
            var folder = BeneathRoot.split(relative).folder
            while !folder.isEmpty {
                folders.insert(Array(folder.utf8))
                folder = BeneathRoot.split(folder).folder
            }
        }
        // Deepest first; the removal fails (and we move on) on a folder that still holds anything. Each
        // is removed relative to its parent opened without following links: never outside the root.
        for bytes in folders.sorted(by: { $0.count > $1.count }) {
            let (parent, name) = BeneathRoot.split(String(decoding: bytes, as: UTF8.self))
            guard PathBytes.isName(name), let parentFD = beneath.directory(parent) else { continue }
            unlinkat(parentFD, name, AT_REMOVEDIR)
        }
    }

    /// Restored files and folders get the uploads folder's group (allowed when we are a member of it, as
    /// the service user is of the POS's group), and as root its owner too: the POS must read them.
    private func rootOwner(_ root: URL) -> (uid_t, gid_t)? {
        var st = stat()
        guard stat(root.path, &st) == 0 else { return nil }
        return (geteuid() == 0 ? st.st_uid : uid_t.max /* -1: unchanged */, st.st_gid)
    }

    /// One syncfs(2) instead of an fsync per file: tens of thousands of fsyncs would take minutes.
    private func syncFileSystem(_ url: URL) throws {
        let fd = open(url.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { throw POSIXFile.errnoError("open", url) }
        defer { close(fd) }
        guard GlibcExtras.syncfs(fd) == 0 else { throw POSIXFile.errnoError("syncfs", url) }
    }
}
