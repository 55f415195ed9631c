import Foundation

/// Publishes a checked archive: the `sha256sum` sidecar first, then the archive, each by an atomic
/// rename into `archives/<kind>/`, then the folder is synced. Readers see both or neither complete.
struct ArchivePublisher {
    let folder: URL

    func publish(_ partial: URL, as name: String, sha256: String, work: URL) throws {
        let sidecarTemp = work.appendingPathComponent(name + ".sha256")
        let fd = try POSIXFile.createPrivate(sidecarTemp)
        defer { close(fd) }
        try Array(Checksums.sidecarLine(sha256: sha256, fileName: name).utf8).withUnsafeBytes { try POSIXFile.writeAll(fd, $0) }
        try POSIXFile.fsyncFile(fd)
        let published = folder.appendingPathComponent(name)
        try POSIXFile.rename(sidecarTemp, to: Checksums.sidecarURL(for: published))
        try POSIXFile.rename(partial, to: published)
        try POSIXFile.fsyncDirectory(folder)
    }
}
