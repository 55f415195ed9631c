import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Restores the archive's config files (`config/…`) to the paths they were backed up from, each via a
/// temporary file in the same folder and a rename, so a program reading it sees the old or the new file.
final class ConfigStage {
    let configured: [URL]
    private var staged: [(temp: URL, target: URL)] = []
    private var applied = 0

    init(configured: [URL]) { self.configured = configured }

    var recoveryNotes: [String] {
        guard !staged.isEmpty || applied > 0 else { return [] }
        return applied == 0 ? ["No config file was changed."] : ["\(applied) config files were restored before the failure."]
    }

    func stage(from archive: VerifiedArchive) throws {
        let trusted = archive.checksumSource.contains("catalog")
        let known = Set(configured.map(\.standardizedFileURL.path))
        let items = archive.manifest.entries.filter { $0.path.hasPrefix("config/") }
        guard !items.isEmpty else { throw BackupError(.invalidInput, "This backup holds no config files.") }
        var plan: [(Manifest.Entry, ZipEntry, URL)] = []
        for item in items {
            guard let source = item.sourcePath, source.hasPrefix("/"), let entry = archive.reader.entry(named: item.path) else {
                throw BackupError(.corruptArchive, "The archive does not say where the config file \(item.path) belongs.")
            }
            let target = URL(fileURLWithPath: source).standardizedFileURL
            guard target.path == source, !source.contains("/../") else {
                throw BackupError(.unsafeArchive, "The archive names an unsafe place for a config file: \(source)")
            }
            // An archive from elsewhere may only write to the config files this installation is set up with.
            guard trusted || known.contains(target.path) else {
                throw BackupError(.unsafeArchive, "The archive would restore \(source), which is not one of the configured config files; restore it by hand (unzip) if it is right.")
            }
            guard entry.size <= ConfigFileCollector.maxFileSize else {
                throw BackupError(.corruptArchive, "The config file \(item.path) in the archive is larger than a config file can be.")
            }
            plan.append((item, entry, target))
        }
        for (item, entry, target) in plan {
            let folder = target.deletingLastPathComponent()
            var st = stat()
            guard stat(folder.path, &st) == 0, st.st_mode & S_IFMT == S_IFDIR else {
                throw BackupError(.notFound, "The folder of the config file \(target.path) does not exist.")
            }
            let temp = folder.appendingPathComponent(".\(target.lastPathComponent).caps-restore-\(getpid())")
            try? FileManager.default.removeItem(at: temp)
            let fd = try POSIXFile.createPrivate(temp)
            defer { close(fd) }
            staged.append((temp, target))
            let stored = try archive.reader.readData(entry, limit: ConfigFileCollector.maxFileSize)
            guard stored.withUnsafeBytes({ Hex.sha256($0) }) == item.sha256.lowercased() else {
                throw BackupError(.checksumMismatch, "The archive changed while being restored: \(item.path) does not match its checksum.")
            }
            // Values left out at backup time (config_redact_keys) keep the live file's: never the marker.
            let bytes = try ConfigRedaction.restore(stored, live: try? [UInt8](Data(contentsOf: target)), file: target.path)
            try bytes.withUnsafeBytes { try POSIXFile.writeAll(fd, $0) }
            // Keep the live file's owner and mode when it exists, else the mode recorded in the archive.
            if stat(target.path, &st) == 0 {
                if geteuid() == 0 { fchown(fd, st.st_uid, st.st_gid) }
                fchmod(fd, st.st_mode & 0o777)
            } else {
                fchmod(fd, mode_t(entry.unixMode & 0o777))
            }
            try POSIXFile.fsyncFile(fd)
        }
    }

    func apply() throws -> [String] {
        var done: [String] = []
        for (temp, target) in staged {
            try POSIXFile.rename(temp, to: target)
            try POSIXFile.fsyncDirectory(target.deletingLastPathComponent())
            applied += 1
            done.append(target.path)
        }
        staged = []
        return done
    }

    func discard() {
        for (temp, _) in staged { try? FileManager.default.removeItem(at: temp) }
        staged = []
    }
}
