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
        let bytes = name.utf8
        guard !bytes.isEmpty, bytes.count <= maxLength else { throw refuse("empty or too long") }
        // Byte scans rather than String searches (a file backup checks every name three times): in UTF-8
        // every byte of a multi-byte character is >= 0x80, so these ASCII tests see exactly the characters they name.
        guard bytes.first != UInt8(ascii: "/") else { throw refuse("absolute path") }
        guard !bytes.contains(UInt8(ascii: "\\")) else { throw refuse("backslash") }
        guard !bytes.contains(where: { $0 < 0x20 || $0 == 0x7F }) else { throw refuse("control character") }
        var characters = name.makeIterator()
        if characters.next() != nil, characters.next() == ":" { throw refuse("drive letter") }
        var start = bytes.startIndex
        while true {
            let end = bytes[start...].firstIndex(of: UInt8(ascii: "/")) ?? bytes.endIndex
            let component = bytes[start..<end]
            if component.elementsEqual("..".utf8) || component.elementsEqual(".".utf8) { throw refuse("dot component") }
            guard end != bytes.endIndex else { break }
            if component.isEmpty { throw refuse("empty component") }
            start = bytes.index(after: end)
        }
    }

    /// Resolves a validated entry name below `root`, and checks the result really is below it.
    public static func resolve(_ name: String, under root: URL) throws -> URL {
        try validate(name)
        let target = root.appendingPathComponent(name).standardizedFileURL
        let base = root.standardizedFileURL.path.hasSuffix("/") ? root.standardizedFileURL.path : root.standardizedFileURL.path + "/"
        guard target.path.utf8.starts(with: base.utf8) else {  // bytes: `hasPrefix` compares characters
            throw BackupError(.unsafeArchive, "The archive contains an entry that points outside the restore folder: \(name)")
        }
        return target
    }
}
