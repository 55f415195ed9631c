@testable import BackupCore
import Foundation
import Testing

/// Issue 12, findings 10 and 12: what a restore takes from an archive and what it does not.
@Suite("Restores trust an archive's modes and folders only as far as the store allows")
struct RestoreTrustTests {
    @Test("Restored files never come out writable by others, nor by the group unless the uploads folder is")
    func modesAreMasked() throws {
        for (rootMode, expected) in [(mode_t(0o755), [0o644, 0o755, 0o640]), (0o2775, [0o664, 0o775, 0o640])] as [(mode_t, [UInt16])] {
            let target = try FileBackupSafetyTests.Target()
            #expect(chmod(target.tree.root.path, rootMode) == 0)
            let archive = target.dir.path("modes.zip")
            try Data(try RawZip.filesArchive([
                .init(name: "files/world-writable.jpg", data: [1], mode: 0o100666),
                .init(name: "files/everything.sh", data: [2], mode: 0o104777),
                .init(name: "files/private.jpg", data: [3], mode: 0o100640),
            ])).write(to: archive)
            _ = try FileRestoreJob(context: target.context).run(archive: archive, job: nil, options: FileRestoreOptions(uploads: target.tree.root))
            let modes = try ["world-writable.jpg", "everything.sh", "private.jpg"].map {
                UInt16(try POSIXFile.mode(target.tree.root.appendingPathComponent($0)))
            }
            #expect(modes == expected, "uploads folder \(String(rootMode, radix: 8)): \(modes.map { String($0, radix: 8) })")
        }
    }

    @Test("A files archive from elsewhere with no uploads folder configured is refused, not restored where its manifest says")
    func foreignArchiveNeedsAFolder() throws {
        let target = try FileBackupSafetyTests.Target()
        let named = target.dir.path("named-by-the-archive")
        let archive = target.dir.path("foreign.zip")
        try Data(try RawZip.filesArchive([.init(name: "files/x.jpg", data: [1, 2])], root: named.path)).write(to: archive)
        var context = target.context
        context.uploads = nil
        let failure = try #require(throws: RestoreFailure.self) {
            try FileRestoreJob(context: context).run(archive: archive, job: nil, options: FileRestoreOptions())
        }
        #expect(failure.error == FileRestoreOptions.noUploadsFolder)
        #expect(!failure.error.message.contains("--"), "the domain does not speak in command-line flags")
        #expect(!FileManager.default.fileExists(atPath: named.path))
        try target.expectUnchanged()
    }

    @Test("A backup the catalog knows still restores into the uploads folder it recorded")
    func knownBackupUsesRecordedFolder() throws {
        let store = try FileStore(files: 6)
        let job = try store.backup()
        let before = try store.expectedState()
        try store.tree.remove("products/notes.txt")
        var context = store.context
        context.uploads = nil
        let (_, outcome) = try FileRestoreJob(context: context).run(archive: URL(fileURLWithPath: job.path!), job: job, options: FileRestoreOptions())
        #expect(outcome.root == store.tree.root.resolvingSymlinksInPath().path || outcome.root == store.tree.root.path)
        #expect(try store.expectedState() == before)
    }
}
