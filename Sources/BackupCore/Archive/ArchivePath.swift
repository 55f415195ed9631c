import Foundation

/// The rules an entry name must follow before anything is extracted: relative, no `..`, no
/// absolute or drive paths, no backslashes or control characters. Refusing here is what keeps
/// a hostile archive from writing outside the restore folder (zip-slip).
public enum ArchivePath {
    public static let maxLength = 4096

    public static func validate(_ name: String) throws {
        func refuse(_ why: String) -> BackupError {
            BackupError(.unsafeArchive, "The archive contains an unsafe entry name and was refused: \(name.debugDescription)", detail: why)
        }
        guard !name.isEmpty, name.utf8.count <= maxLength else { throw refuse("empty or too long") }
        guard !name.hasPrefix("/") else { throw refuse("absolute path") }
        guard !name.contains("\\") else { throw refuse("backslash") }
        guard !name.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else { throw refuse("control character") }
        if name.count >= 2, name.dropFirst().first == ":" { throw refuse("drive letter") }
        let components = name.split(separator: "/", omittingEmptySubsequences: false)
        for (index, component) in components.enumerated() {
            if component == ".." || component == "." { throw refuse("dot component") }
            if component.isEmpty && index != components.count - 1 { throw refuse("empty component") }
        }
    }

    /// Resolves a validated entry name below `root`, and checks the result really is below it.
    public static func resolve(_ name: String, under root: URL) throws -> URL {
        try validate(name)
        let target = root.appendingPathComponent(name).standardizedFileURL
        let base = root.standardizedFileURL.path.hasSuffix("/") ? root.standardizedFileURL.path : root.standardizedFileURL.path + "/"
        guard target.path.hasPrefix(base) else {
            throw BackupError(.unsafeArchive, "The archive contains an entry that points outside the restore folder: \(name)")
        }
        return target
    }
}
