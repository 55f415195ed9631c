import Foundation

/// Adds the store's config files to an archive under `config/`, same retention as the database, with the
/// values of `redactKeys` left out (`ConfigRedaction`): the manifest's SHA-256 is of the bytes stored.
struct ConfigFileCollector {
    static let maxFileSize: UInt64 = 16 << 20
    let files: [URL]
    var redactKeys: [String] = []

    func add(to writer: ZipWriter, modified: Date) throws -> [Manifest.Entry] {
        var entries: [Manifest.Entry] = []
        var used = Set<String>()
        for file in files {
            let size: UInt64
            do { size = try POSIXFile.fileSize(file) } catch {
                throw BackupError(.notFound, "A configured config file is missing: \(file.path).")
            }
            guard size <= Self.maxFileSize else {
                throw BackupError(.invalidInput, "The config file \(file.path) is larger than \(ByteCount.format(Self.maxFileSize)); is it really a config file?")
            }
            // Two files may share a name (two folders' settings.json): number the later ones.
            var name = file.lastPathComponent
            var n = 2
            while !used.insert(name).inserted {
                name = "\(file.deletingPathExtension().lastPathComponent)-\(n).\(file.pathExtension)"
                n += 1
            }
            let data = ConfigRedaction.redact(try [UInt8](Data(contentsOf: file)), keys: redactKeys).bytes
            let mode = UInt16((try? POSIXFile.mode(file)) ?? 0o600)
            let info = try writer.addEntry("config/\(name)", data: data, modified: modified, mode: mode)
            entries.append(Manifest.Entry(path: info.name, size: info.size, sha256: info.sha256, sourcePath: file.path))
        }
        return entries
    }
}
