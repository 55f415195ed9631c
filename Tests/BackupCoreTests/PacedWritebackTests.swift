@testable import BackupCore
import Foundation
import Testing

/// The hourly's kept image and a full's checked snapshot go to disk a chunk at a time instead of in the
/// kernel's one burst 30 s later (docs/pos-latency.md); what the POS gains is measured by `make bench`.
@Suite("Paced writeback of a backup's snapshot")
struct PacedWritebackTests {
    @Test("finish waits until every chunk of the file has been written out, the last one short")
    func finishWritesTheWholeFile() throws {
        let dir = TemporaryDirectory()
        let file = dir.path("snapshot.sqlite")
        try Data(repeating: 0xA5, count: (10 << 20) + 123).write(to: file)
        let writeback = PacedWriteback(file, chunk: 4 << 20, bytesPerSecond: .infinity)
        writeback.finish()
        #expect(writeback.written == (10 << 20) + 123)
        #expect(try Data(contentsOf: file).count == (10 << 20) + 123, "the file itself is untouched")
    }

    @Test("cancel stops a paced writeback at once, at a chunk boundary; a missing file is no error")
    func cancelAndMissingFile() throws {
        let dir = TemporaryDirectory()
        let file = dir.path("snapshot.sqlite")
        try Data(repeating: 1, count: 64 << 20).write(to: file)
        // One chunk a day: without the cancel's wake-up this would wait for the next one.
        let writeback = PacedWriteback(file, chunk: 1 << 20, bytesPerSecond: Double(1 << 20) / 86_400)
        writeback.cancel()
        #expect(writeback.written <= 1 << 20 && writeback.written % (1 << 20) == 0)

        let missing = PacedWriteback(dir.path("gone.sqlite"))
        missing.finish()
        #expect(missing.written == 0)
    }

    @Test("an hourly's kept image is on disk when the job ends, and the next hourly builds on it")
    func hourlyKeepsItsImage() throws {
        let dir = TemporaryDirectory()
        let pos = dir.path("pos.db")
        try makeStoreDatabase(pos, rows: 500)
        let context = try makeContext(dir, posDatabase: pos)
        let base = try DatabaseBackupJob(context: context, kind: .dbIncremental).run(trigger: .manual)
        #expect(POSIXFile.exists(context.dataDirectory.hourlyImage(base.uuid)))
        try setMarker(pos, "changed")
        let link = try DatabaseBackupJob(context: context, kind: .dbIncremental).run(trigger: .manual)
        #expect(link.parentId == base.id && link.integrityCheck == "ok")
        #expect(!POSIXFile.exists(context.dataDirectory.hourlyImage(base.uuid)) && POSIXFile.exists(context.dataDirectory.hourlyImage(link.uuid)))
    }
}
