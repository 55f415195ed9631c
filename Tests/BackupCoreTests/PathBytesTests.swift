@testable import BackupCore
import Foundation
import Testing

/// Issue 12, finding 1: a `/` followed by a combining or zero-width character is one Swift `Character`
/// that is not `"/"`, while the kernel still splits the path at the byte 0x2F and follows a symbolic link
/// before it. Restores, `--delete-extra` and a backup's reads must never reach outside the root that way.
@Suite("Paths are handled as bytes: a / before a combining mark never leads through a link")
struct PathBytesTests {
    /// Characters that merge with a preceding `/` into one grapheme cluster.
    static let marks: [(String, String)] = [
        ("U+0301 combining acute", "\u{301}"),
        ("U+0308 combining diaeresis", "\u{308}"),
        ("U+200D zero-width joiner", "\u{200D}"),
        ("U+FE0F variation selector", "\u{FE0F}"),
        ("U+20DD combining enclosing circle", "\u{20DD}"),
    ]

    @Test("The marks do hide the / from String operations (the premise of the finding)")
    func premise() {
        for (label, mark) in Self.marks {
            let path = "imgs/" + mark + "x"
            #expect(path.split(separator: "/").count == 1, "\(label)")
            #expect(PathBytes.components(path) == ["imgs", mark + "x"], "\(label)")
            #expect(PathBytes.split("a/imgs/" + mark + "x") == ("a/imgs", mark + "x"), "\(label)")
            #expect(!PathBytes.isName(path), "\(label)")
        }
        #expect(!PathBytes.isName("..") && !PathBytes.isName(".") && !PathBytes.isName("") && PathBytes.isName("é.jpg"))
    }

    @Test("Restore: an entry files/imgs/<mark>x with a link imgs -> outside in the uploads folder is refused, nothing written")
    func restoreThroughLink() throws {
        for (label, mark) in Self.marks {
            let target = try FileBackupSafetyTests.Target()
            let outside = target.dir.path("outside")
            try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
            try FileManager.default.createSymbolicLink(at: target.tree.root.appendingPathComponent("imgs"), withDestinationURL: outside)
            let before = try target.tree.state()
            let archive = try RawZip.filesArchive([.init(name: "files/imgs/" + mark + "x", data: Array("pwned".utf8))])
            let error = try target.restore(archive)
            #expect(error.code == .unsafeArchive, "\(label): \(error)")
            #expect(fileList(outside).isEmpty, "\(label): \(fileList(outside))")
            #expect(try target.tree.state() == before, "\(label)")
            #expect(fileList(target.tree.root).allSatisfy { !$0.contains(FileTreeWalker.stagingPrefix) }, "\(label)")
        }
    }

    @Test("--delete-extra: a folder swapped for a link after the checks never lets a removal reach outside")
    func deleteExtraThroughLink() throws {
        for (label, mark) in Self.marks {
            let target = try FileBackupSafetyTests.Target()
            let outside = target.dir.path("outside")
            let precious = try UploadsTree(outside).write(mark + "x", Array("precious".utf8))
            try UploadsTree(outside).write("sub/" + mark + "y", Array("precious too".utf8))
            // In the uploads folder, extra files (not in the backup) below a real folder.
            try target.tree.write("imgs/" + mark + "x", Array("extra".utf8))
            try target.tree.write("imgs/sub/" + mark + "y", Array("extra".utf8))
            let archive = target.dir.path("files.zip")
            try Data(try RawZip.filesArchive([.init(name: "files/products/keep.jpg", data: [1, 2, 3])])).write(to: archive)
            let verified = try ArchiveVerifier().verify(archive)
            let extras = RestoreExtras(files: FileRestoreOptions(uploads: target.tree.root, deleteExtra: true), configFiles: false,
                                       configuredConfigFiles: [])
            try extras.stage(from: verified, progress: nil)
            // After the checks and the staging, the folder becomes a link to a folder outside.
            try FileManager.default.removeItem(at: target.tree.root.appendingPathComponent("imgs"))
            try FileManager.default.createSymbolicLink(at: target.tree.root.appendingPathComponent("imgs"), withDestinationURL: outside)
            try? extras.apply(progress: nil)
            #expect(FileManager.default.fileExists(atPath: precious.path), "\(label): a file outside the uploads folder was removed")
            #expect(FileManager.default.fileExists(atPath: outside.appendingPathComponent("sub/" + mark + "y").path), "\(label)")
            #expect(FileManager.default.fileExists(atPath: outside.appendingPathComponent("sub").path), "\(label)")
        }
    }

    @Test("Backup: a folder swapped for a link after the walk is not read through, the file is not archived from outside")
    func backupReadThroughLink() throws {
        for (label, mark) in Self.marks {
            let dir = TemporaryDirectory("backupread")
            let tree = try UploadsTree(dir.path("uploads"))
            try tree.write("imgs/" + mark + "x", Array("inside".utf8))
            try tree.write("steady.jpg", Array("steady".utf8))
            let outside = dir.path("outside")
            let secret = Array("the secret outside the uploads folder".utf8)
            try UploadsTree(outside).write(mark + "x", secret)
            let walk = try FileTreeWalker(root: tree.root, excludes: ExcludeMatcher([])).walk()
            #expect(walk.files.map(\.path).contains("imgs/" + mark + "x"), "\(label)")
            try FileManager.default.removeItem(at: tree.root.appendingPathComponent("imgs"))
            try FileManager.default.createSymbolicLink(at: tree.root.appendingPathComponent("imgs"), withDestinationURL: outside)

            // The reader alone...
            let buffer = ByteBuffer(capacity: 1 << 16)
            let outcome = StableFileReader().read("imgs/" + mark + "x", from: try BeneathRoot(tree.root), into: buffer)
            if case .read = outcome { Issue.record("\(label): read through the link") }
            // ...and the archiver it serves.
            let archiver = FileArchiver(root: tree.root, prefix: "files/", policy: HashReusePolicy(kind: .files, previous: nil, now: Date()))
            let writer = try ZipWriter(creating: dir.path("out.zip"))
            let result = try archiver.archive(walk.files, into: writer)
            let secretSHA = secret.withUnsafeBytes { Hex.sha256($0) }
            #expect(!result.entries.contains { $0.sha256 == secretSHA }, "\(label): the file outside was archived")
            #expect(result.entries.map(\.path) == ["files/steady.jpg"], "\(label)")
        }
    }

    @Test("Exclude patterns and prefixes see the / byte too")
    func excludesSplitAtBytes() {
        let m = ExcludeMatcher(["paint-swatches/*"])
        for (label, mark) in Self.marks {
            #expect(m.excludes(file: "paint-swatches/" + mark + "x"), "\(label)")
            #expect(PathBytes.hasPrefix("files/" + mark + "x", "files/"), "\(label)")
            #expect(PathBytes.dropPrefix("files/" + mark + "x", "files/") == mark + "x", "\(label)")
        }
    }
}
