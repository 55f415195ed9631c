import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One committed sale, as the simulator saw it: the proof tests use to check that a backup
/// holds exactly the sales committed before its snapshot.
///
/// Ledger line format: `invoice_id<TAB>begin_unix_ns<TAB>commit_unix_ns<LF>`, where begin is the
/// wall clock read just before `BEGIN IMMEDIATE` and commit the wall clock read just after
/// `COMMIT` returned. A sale whose commit time is before a snapshot's start must be in it; one
/// whose begin time is after the snapshot's end must not.
public struct LedgerEntry: Sendable, Hashable, Codable {
    public var invoiceID: Int64
    public var beginUnixNanos: Int64
    public var commitUnixNanos: Int64

    public init(invoiceID: Int64, beginUnixNanos: Int64, commitUnixNanos: Int64) {
        self.invoiceID = invoiceID
        self.beginUnixNanos = beginUnixNanos
        self.commitUnixNanos = commitUnixNanos
    }

    var line: String { "\(invoiceID)\t\(beginUnixNanos)\t\(commitUnixNanos)\n" }
}

extension DemoSimulator {
    /// Reads a ledger. A last line without its newline was torn by a kill mid-write and is
    /// ignored; any other malformed line throws.
    public static func readLedger(_ url: URL) throws -> [LedgerEntry] {
        let data = try Data(contentsOf: url)
        var lines = data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        // The piece after the last newline is empty, or a torn line.
        lines.removeLast()
        var entries: [LedgerEntry] = []
        entries.reserveCapacity(lines.count)
        for (number, line) in lines.enumerated() where !line.isEmpty {
            let fields = line.split(separator: UInt8(ascii: "\t"), omittingEmptySubsequences: false)
            guard fields.count == 3,
                  let invoice = Int64(String(decoding: fields[0], as: UTF8.self)),
                  let begin = Int64(String(decoding: fields[1], as: UTF8.self)),
                  let commit = Int64(String(decoding: fields[2], as: UTF8.self))
            else {
                throw DemoStoreError.corruptLedger(line: number + 1, text: String(decoding: line, as: UTF8.self))
            }
            entries.append(LedgerEntry(invoiceID: invoice, beginUnixNanos: begin, commitUnixNanos: commit))
        }
        return entries
    }
}

/// Appends ledger lines with one `write(2)` each: every line reaches the kernel as soon as it
/// is written (what a flushed FILE* would give), so a `kill -9` loses at most the line being
/// written. No fsync: the ledger only has to survive the process, not the machine.
final class LedgerWriter {
    private let fd: Int32
    let url: URL

    /// Opens for appending: a ledger spans simulator restarts.
    init(url: URL) throws {
        self.url = url
        fd = open(url.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }

    deinit { close(fd) }

    func append(_ entry: LedgerEntry) throws {
        var line = entry.line
        try line.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)
                }
                offset += written
            }
        }
    }
}
