@testable import BackupCore
import Foundation
import Testing

/// The page map is input like any other: a map that does not add up is refused before the live database
/// is touched, even when its archive's checksums were made to match (the checksums prove only that the
/// archive is what was written, not that the writer was sound).
@Suite("Incremental page maps that do not add up")
struct IncrementalMapTests {
    enum Damage: String, CaseIterable {
        case xorCodeCountedAsNew = "an XOR code turned into a new-page code"
        case pointsOutsideParent = "a page pointing outside its parent"
    }

    @Test("A damaged page map is refused with a clear message and nothing changes", arguments: Damage.allCases)
    func damagedMap(_ damage: Damage) throws {
        let dir = TemporaryDirectory()
        let database = dir.path("pos.db")
        try makeStoreDatabase(database, rows: 20_000)
        let context = try makeContext(dir, posDatabase: database)
        _ = try DatabaseBackupJob(context: context, kind: .dbIncremental).run(trigger: .manual, integrityCheck: false)
        try SQLiteConnection(path: database.path, mode: .readWrite).execute("UPDATE invoice SET total = total + 1 WHERE id % 97 = 0")
        var job = try DatabaseBackupJob(context: context, kind: .dbIncremental).run(trigger: .manual, integrityCheck: false)
        try setMarker(database, "live")
        let before = try sha256(database)

        job = try rewriteMap(of: job, context: context) { map in
            switch damage {
            case .xorCodeCountedAsNew:
                let at = try #require(map.firstIndex(of: Manifest.Delta.xorPage))
                map[at] = Manifest.Delta.newPage
            case .pointsOutsideParent:
                let at = try #require(map.firstIndex(of: 0))
                map[at] = 1 << 30
            }
        }
        let failure = #expect(throws: RestoreFailure.self) {
            _ = try DatabaseRestoreJob(context: context).run(.backup(job), preRestoreSnapshot: false)
        }
        #expect(failure?.error.code == .corruptArchive)
        #expect(failure?.error.message.contains("page map") == true, "\(failure?.error.message ?? "")")
        #expect(try sha256(database) == before)
        #expect(try marker(database) == "live")
    }

    /// Writes the archive again with `change` applied to its page map, and consistent entry, manifest,
    /// sidecar and catalog checksums.
    private func rewriteMap(of job: BackupRecord, context: BackupContext, change: (inout [Int32]) throws -> Void) throws -> BackupRecord {
        let url = URL(fileURLWithPath: try #require(job.path))
        let reader = try ZipReader(url: url)
        var manifest = try Manifest.decode(try reader.readData(try #require(reader.entry(named: Manifest.entryName)), limit: Manifest.maxSize))
        let image = try #require(manifest.database)
        let delta = try #require(image.delta)
        let mapEntry = try #require(reader.entry(named: delta.mapEntry))
        let plain = try Gzip.decompress(try reader.readData(mapEntry, limit: 64 << 20), expectedSize: image.pageCount * 4)
        var map = plain.withUnsafeBytes { Array($0.bindMemory(to: Int32.self)) }
        try change(&map)
        let newMap = try Gzip.compress(map.withUnsafeBytes { Array($0) })

        let rewritten = url.deletingLastPathComponent().appendingPathComponent("rewritten.zip")
        let writer = try ZipWriter(creating: rewritten)
        for entry in reader.entries where entry.name != Manifest.entryName {
            let data = entry.name == delta.mapEntry ? newMap : try reader.readData(entry, limit: 1 << 30)
            let info = try writer.addEntry(entry.name, data: data, modified: Date())
            if let i = manifest.entries.firstIndex(where: { $0.path == entry.name }) {
                manifest.entries[i].size = info.size
                manifest.entries[i].sha256 = info.sha256
            }
        }
        _ = try writer.addEntry(Manifest.entryName, data: try manifest.encoded(), modified: Date())
        try writer.finish()
        try FileManager.default.removeItem(at: url)
        try FileManager.default.moveItem(at: rewritten, to: url)
        let sha = try sha256(url)
        try Checksums.sidecarLine(sha256: sha, fileName: url.lastPathComponent)
            .write(to: Checksums.sidecarURL(for: url), atomically: true, encoding: .utf8)
        var updated = job
        updated.sha256 = sha
        updated.size = Int64(try POSIXFile.fileSize(url))
        try context.catalog.update(updated)
        return updated
    }
}
