import Foundation

/// The parent's pages, read from its kept image and each checked against its fingerprint in the
/// parent's page index before use: a damaged or missing image costs size (pages stored whole), never
/// a wrong backup.
/// Reads may come from several compression workers at once: `pread` and fresh buffers keep them apart.
final class ParentPages: @unchecked Sendable {
    private let fd: Int32?
    let pageSize: Int

    init(image: URL?, pageSize: Int) {
        self.pageSize = pageSize
        fd = image.flatMap { try? POSIXFile.openForReading($0) }
    }

    deinit { if let fd { close(fd) } }

    var isOpen: Bool { fd != nil }

    /// Whether page `number` of the snapshot `fd` compresses better XOR-ed with the parent's page (whose
    /// fingerprint is `expected`): when the XOR has at least as many zero bytes as the page itself.
    /// False without a sound parent page.
    func xorIsSmaller(page number: Int, expected: PageHash, fd snapshot: Int32, scratch: UnsafeMutableRawBufferPointer) throws -> Bool {
        guard let old = readVerified(number, expected: expected) else { return false }
        defer { old.deallocate() }
        let got = try POSIXFile.pread(snapshot, into: scratch, at: UInt64(number * pageSize))
        guard got == pageSize else { throw BackupError(.io, "The snapshot ended early.", detail: "page \(number)") }
        var zerosInPage = 0, zerosInXor = 0
        for i in 0..<pageSize {
            let byte = scratch[i]
            if byte == 0 { zerosInPage += 1 }
            if byte == old[i] { zerosInXor += 1 }
        }
        return zerosInXor >= zerosInPage
    }

    /// XORs the parent's page `number` into `bytes`; throws if it cannot be read or no longer matches
    /// `expected` (it was checked when the page was classified: the image changed under us).
    func xor(page number: Int, expected: PageHash, into bytes: UnsafeMutableRawBufferPointer) throws {
        guard let old = readVerified(number, expected: expected) else {
            throw BackupError(.io, "The previous hourly's image changed during the backup.", detail: "page \(number)")
        }
        defer { old.deallocate() }
        for i in 0..<bytes.count { bytes[i] ^= old[i] }
    }

    /// The previous image's bytes at `offset`, unchecked (the scanner only compares them): how many were read.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: UInt64) -> Int {
        guard let fd else { return 0 }
        return (try? POSIXFile.pread(fd, into: buffer, at: offset)) ?? 0
    }

    private func readVerified(_ number: Int, expected: PageHash) -> UnsafeMutableRawBufferPointer? {
        guard let fd else { return nil }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: pageSize, alignment: 16)
        guard (try? POSIXFile.pread(fd, into: buffer, at: UInt64(number * pageSize))) == pageSize,
              PageHash(UnsafeRawBufferPointer(buffer)) == expected else {
            buffer.deallocate()
            return nil
        }
        return buffer
    }
}
