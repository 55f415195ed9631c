@testable import BackupCore
import Foundation
import Testing

/// Issue 12, finding 2: the database image was inflated in full before its size was compared with the
/// manifest's `imageSize`, so a small upload could fill the disk. Now every member must inflate to exactly
/// its block, output stops at the declared size, and the image must fit on the disk before inflating.
@Suite("Gzip bombs in database archives are refused before they fill the disk")
struct GzipBombTests {
    static let member: [UInt8] = try! Gzip.compress([UInt8](repeating: 0, count: 64 << 20))

    /// A db-full archive whose image entry is `members` copies of a gzip of 64 MiB of zeros (~65 KB each),
    /// under a manifest that declares `imageSize` bytes in blocks of `blockSize`.
    static func bomb(members: Int, blockSize: Int, imageSize: UInt64, to url: URL) throws {
        let data = Array([[UInt8]](repeating: member, count: members).joined())
        let pageSize = 4096
        let database = Manifest.DatabaseImage(
            entry: "db/pos.sqlite.gz", sourcePath: "/srv/pos/pos.db", pageSize: pageSize, pageCount: Int(imageSize) / pageSize,
            imageSize: imageSize, imageSha256: String(repeating: "0", count: 64), journalMode: "wal",
            snapshotStartedAt: Date(), snapshotFinishedAt: Date(), gzipBlockSize: blockSize,
            gzipMembers: Array(repeating: member.count, count: members), delta: nil)
        let manifest = Manifest(backupId: "bomb", kind: .dbFull, createdAt: Date(), host: "elsewhere", toolVersion: "0",
                                entries: [Manifest.Entry(path: database.entry, size: UInt64(data.count), sha256: data.withUnsafeBytes { Hex.sha256($0) })],
                                database: database)
        try Data(RawZip.build([.init(name: database.entry, data: data), .init(name: Manifest.entryName, data: try manifest.encoded())]))
            .write(to: url)
    }

    @Test("Members that inflate far beyond the declared size: refused, at most one block written")
    func bombIsStopped() throws {
        let dir = TemporaryDirectory("bomb")
        // (members, block size, declared image size): 16 x 64 MiB of zeros = 1 GiB behind a 2 MB upload.
        let cases: [(Int, Int, UInt64)] = [(16, 64 << 20, 4096), (16, 1 << 20, 16 << 20), (16, 64 << 20, 15 * (64 << 20) + 4096)]
        for (members, blockSize, imageSize) in cases {
            let archive = dir.path("bomb-\(blockSize)-\(imageSize).zip")
            try Self.bomb(members: members, blockSize: blockSize, imageSize: imageSize, to: archive)
            // The manifest's bounds refuse the first and last (their member tables cannot describe the image);
            // the inflation itself must stop every one of them, whatever the bounds let through.
            let reader = try ZipReader(url: archive)
            let manifest = try Manifest.decode(try reader.readData(try #require(reader.entry(named: Manifest.entryName)), limit: 1 << 20))
            let verified = VerifiedArchive(url: archive, reader: reader, manifest: manifest, sha256: "", checksumSource: "none")
            let image = dir.path("image-\(blockSize)-\(imageSize).sqlite")
            let error = try #require(throws: BackupError.self) { try DatabaseExtractor().extract(verified, to: image) }
            #expect(error.code == .corruptArchive, "\(error)")
            let written = (try? POSIXFile.fileSize(image)) ?? 0
            #expect(written <= imageSize + UInt64(blockSize), "\(written) bytes written for an image of \(imageSize)")
            try? FileManager.default.removeItem(at: image)
        }
    }

    @Test("verify refuses the bomb with a clear message and leaves nothing in tmp/")
    func verifyRefuses() throws {
        let dir = TemporaryDirectory("bomb")
        let archive = dir.path("bomb.zip")
        try Self.bomb(members: 16, blockSize: 64 << 20, imageSize: 4096, to: archive)
        let context = try makeContext(dir, posDatabase: nil)
        let report = VerifyJob(context: context).run(archive: archive)
        #expect(report.status == "failed")
        #expect(report.error?.contains("damaged") == true, "\(report.error ?? "")")
        #expect(fileList(context.dataDirectory.tmp).isEmpty)
    }

    @Test("An image larger than the free disk space is refused before anything is inflated")
    func freeSpaceIsChecked() throws {
        let dir = TemporaryDirectory("bomb")
        let database = dir.path("pos.db")
        try makeStoreDatabase(database, rows: 300)
        let context = try makeContext(dir, posDatabase: database)
        let job = try DatabaseBackupJob(context: context).run(trigger: .manual)
        let imageSize = try #require(context.catalog.manifest(jobId: job.id!)?.database?.imageSize)
        var tight = context
        tight.availableBytes = { _ in imageSize / 2 }
        let image = dir.path("image.sqlite")
        let error = try #require(throws: BackupError.self) {
            try DatabaseImagePreparer(context: tight).prepare(.backup(job), into: image, progress: nil)
        }
        #expect(error.code == .insufficientSpace, "\(error)")
        #expect(error.message.contains("free"))
        #expect(!FileManager.default.fileExists(atPath: image.path))
    }
}
