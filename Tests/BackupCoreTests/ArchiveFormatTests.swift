import BackupCore
import Foundation
import Testing

@Suite("Archive format: ZIP and gzip readable by standard tools")
struct ArchiveFormatTests {
    @Test("Entries written by ZipWriter read back byte-identical, and unzip/python agree")
    func zipRoundTrip() throws {
        let dir = TemporaryDirectory()
        let zip = dir.path("a.zip")
        let writer = try ZipWriter(creating: zip)
        var big = [UInt8](repeating: 0, count: 3 << 20)
        for i in big.indices { big[i] = UInt8(truncatingIfNeeded: i &* 2654435761 >> 13) }
        try writer.beginEntry("db/big.bin", modified: Date())
        try big.withUnsafeBytes { b in
            try writer.write(UnsafeRawBufferPointer(rebasing: b[0..<1000]))
            try writer.write(UnsafeRawBufferPointer(rebasing: b[1000...]))
        }
        let bigInfo = try writer.endEntry()
        let small = try writer.addEntry("config/pos.toml", data: Array("store = \"Main St\"\n".utf8), modified: Date())
        try writer.addEntry("empty.txt", data: [], modified: Date())
        try writer.finish()

        #expect(try POSIXFile.mode(zip) == 0o600)
        let reader = try ZipReader(url: zip)
        #expect(reader.entries.map(\.name) == ["db/big.bin", "config/pos.toml", "empty.txt"])
        var back: [UInt8] = []
        let sha = try reader.read(reader.entry(named: "db/big.bin")!) { back.append(contentsOf: $0) }
        #expect(back == big)
        #expect(sha == bigInfo.sha256)
        #expect(try reader.readData(reader.entry(named: "config/pos.toml")!, limit: 100) == Array("store = \"Main St\"\n".utf8))
        #expect(small.size == 18)

        let unzip = try run("/usr/bin/unzip", ["-t", zip.path])
        #expect(unzip.status == 0, "\(unzip.output)")
        let python = try run("/usr/bin/env", ["python3", "-c", """
            import zipfile, hashlib, sys
            z = zipfile.ZipFile(sys.argv[1])
            assert z.testzip() is None
            print(hashlib.sha256(z.read('db/big.bin')).hexdigest())
            """, zip.path])
        #expect(python.output.trimmingCharacters(in: .whitespacesAndNewlines) == bigInfo.sha256)
    }

    @Test("Parallel gzip output is a standard multi-member gzip; our decompressor returns the same bytes")
    func parallelGzipRoundTrip() throws {
        let dir = TemporaryDirectory()
        let plain = dir.path("plain.bin")
        var bytes = [UInt8]()
        for i in 0..<(5 << 20 + 12345) { bytes.append(i % 7 == 0 ? UInt8(truncatingIfNeeded: i >> 3) : UInt8(ascii: "a") + UInt8(i % 20)) }
        try Data(bytes).write(to: plain)
        let gz = dir.path("plain.bin.gz")
        let out = try POSIXFile.createPrivate(gz)
        let inFD = try POSIXFile.openForReading(plain)
        let gzip = ParallelGzip(blockSize: 1 << 20, level: 6, workers: 2)
        let result = try gzip.compress(fd: inFD, size: UInt64(bytes.count), sink: { try POSIXFile.writeAll(out, $0) })
        close(out)
        close(inFD)
        #expect(result.memberSizes.count == 6)
        #expect(result.plainSHA256 == (try sha256(plain)))
        #expect(result.plainSize == UInt64(bytes.count))

        let gunzip = try run("/bin/sh", ["-c", "gunzip -c '\(gz.path)' | sha256sum"])
        #expect(gunzip.output.hasPrefix(result.plainSHA256))

        let gzFD = try POSIXFile.openForReading(gz)
        defer { close(gzFD) }
        var back = [UInt8]()
        let decoded = try gzip.decompress(fd: gzFD, offset: 0, memberSizes: result.memberSizes, blockSize: 1 << 20, plainSize: result.plainSize,
                                          sink: { back.append(contentsOf: $0) })
        #expect(back == bytes)
        #expect(decoded.plainSHA256 == result.plainSHA256)
    }

    @Test("A flipped bit inside a gzip member is an error, not silent garbage")
    func flippedBitInGzip() throws {
        let dir = TemporaryDirectory()
        let plain = dir.path("p")
        try Data((0..<300_000).map { UInt8(truncatingIfNeeded: $0 / 3) }).write(to: plain)
        let gz = dir.path("p.gz")
        let out = try POSIXFile.createPrivate(gz)
        let inFD = try POSIXFile.openForReading(plain)
        let gzip = ParallelGzip(blockSize: 100_000, workers: 2)
        let result = try gzip.compress(fd: inFD, size: 300_000, sink: { try POSIXFile.writeAll(out, $0) })
        close(out)
        close(inFD)
        var data = try Data(contentsOf: gz)
        data[result.memberSizes[0] + result.memberSizes[1] / 2] ^= 0x10
        try data.write(to: gz)
        let fd = try POSIXFile.openForReading(gz)
        defer { close(fd) }
        #expect(throws: BackupError.self) {
            _ = try gzip.decompress(fd: fd, offset: 0, memberSizes: result.memberSizes, blockSize: 100_000, plainSize: 300_000, sink: { _ in })
        }
    }

    @Test("Entry names that could escape the restore folder are refused", arguments: [
        "../x", "/etc/x", "a/../../x", "a/./b", "C:/x", "a\\b", "a//b", "", "x\u{1}y", "..",
    ])
    func unsafeNames(_ name: String) {
        #expect(throws: BackupError.self) { try ArchivePath.validate(name) }
    }

    @Test("Ordinary names pass", arguments: ["db/pos.sqlite.gz", "uploads/products/paint/red.png", "manifest.json", "a b/ü.txt", "dir/"])
    func safeNames(_ name: String) throws {
        try ArchivePath.validate(name)
    }

    @Test("Hostile ZIPs are refused when opened, before any entry is read", arguments: [
        ("zip-slip", "z.writestr('../evil.txt', b'x')"),
        ("absolute", "z.writestr('/etc/evil', b'x')"),
        ("symlink", "i = zipfile.ZipInfo('link'); i.external_attr = (0o120777 << 16); z.writestr(i, '/etc/passwd')"),
        ("duplicate", "z.writestr('a', b'1'); z.writestr('a', b'2')"),
        ("device", "i = zipfile.ZipInfo('dev'); i.external_attr = (0o020644 << 16); z.writestr(i, b'')"),
    ])
    func hostileZips(_ name: String, _ code: String) throws {
        let dir = TemporaryDirectory()
        let zip = dir.path("\(name).zip")
        let made = try run("/usr/bin/env", ["python3", "-W", "ignore", "-c", """
            import zipfile, sys
            z = zipfile.ZipFile(sys.argv[1], 'w')
            \(code)
            z.close()
            """, zip.path])
        #expect(made.status == 0, "\(made.output)")
        let error = #expect(throws: BackupError.self) { _ = try ZipReader(url: zip) }
        #expect(error?.code == .unsafeArchive)
    }

    @Test("A file that is not a ZIP and an empty file are refused with a clear message")
    func notAZip() throws {
        let dir = TemporaryDirectory()
        let text = dir.path("notes.txt")
        try Data("hello, this is not an archive".utf8).write(to: text)
        let empty = dir.path("empty.zip")
        try Data().write(to: empty)
        for url in [text, empty] {
            let error = #expect(throws: BackupError.self) { _ = try ZipReader(url: url) }
            #expect(error?.message.contains("not a caps-backup archive") == true)
        }
    }
}
