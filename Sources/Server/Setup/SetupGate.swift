import BackupCore
import Crypto
import Foundation
import Logging

/// The fresh-install mode (R8): while the POS database is missing or empty (`FreshInstall.isEmpty`)
/// the service runs no scheduler and the wizard's routes accept a one-time setup code instead of a
/// POS token (a fresh store has no POS users to issue tokens). The code (160 random bits, base32 in
/// groups of four, as Jenkins and Grafana do) is printed to the service log and kept in
/// `setup-code` (0600) in the data directory, so a restart keeps it. When the wizard's restore
/// succeeds, the file is removed, the code stops working and `waitUntilSetUp` returns (the scheduler starts).
final class SetupGate: Sendable {
    static let fileName = "setup-code"

    private struct State {
        /// SHA-256 of the normalised code, while setup is required.
        var codeHash: [UInt8]?
    }

    private let state: Locked<State>
    private let file: URL
    private let setUp: AsyncStream<Void>
    private let setUpContinuation: AsyncStream<Void>.Continuation
    let storeName: String

    /// Decides the mode from the store as it is now; in setup mode, makes (or reuses) the code and logs it.
    init(context: BackupContext, storeName: String, logger: Logger) throws {
        self.storeName = storeName
        file = context.dataDirectory.root.appendingPathComponent(Self.fileName)
        (setUp, setUpContinuation) = AsyncStream.makeStream(of: Void.self)
        guard FreshInstall.isEmpty(posDatabase: context.posDatabase) else {
            try? FileManager.default.removeItem(at: file)
            state = Locked(State(codeHash: nil))
            setUpContinuation.finish()
            return
        }
        let code = try Self.existingCode(file) ?? Self.newCode(writingTo: file)
        state = Locked(State(codeHash: Self.hash(code)))
        logger.notice("""
            The POS database \(context.posDatabase?.path ?? "-") is missing or empty: setup mode. Open the dashboard and restore a backup \
            with the one-time setup code \(code) (also in \(file.path)). No scheduled backups run until the store is restored.
            """)
    }

    var setupRequired: Bool { state.withLock { $0.codeHash != nil } }

    enum Check { case accepted, wrong, setUp }

    /// Whether `code` is this store's setup code (spaces, dashes and letter case do not matter).
    func check(_ code: String) -> Check {
        guard let expected = state.withLock({ $0.codeHash }) else { return .setUp }
        let given = Self.hash(code)
        // Constant time: no timing hint of how much of the code was right.
        return zip(given, expected).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0 ? .accepted : .wrong
    }

    /// The wizard's restore succeeded: leaves setup mode if the store now holds data.
    func restoreSucceeded(context: BackupContext, logger: Logger) {
        guard !FreshInstall.isEmpty(posDatabase: context.posDatabase) else {
            logger.error("a restore succeeded but the POS database is still empty: staying in setup mode")
            return
        }
        let left = state.withLock { state -> Bool in
            defer { state.codeHash = nil }
            return state.codeHash != nil
        }
        guard left else { return }
        do { try FileManager.default.removeItem(at: file) } catch {
            logger.error("the used setup code file could not be removed", metadata: ["file": "\(file.path)", "error": "\(error)"])
        }
        logger.notice("the store was restored: setup mode ended, the setup code no longer works, the scheduler starts")
        setUpContinuation.finish()
    }

    /// Returns once the store is set up (at once when it was not in setup mode), or when the task is cancelled.
    func waitUntilSetUp() async {
        for await _ in setUp {}
    }

    // MARK: The code

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")

    /// 20 random bytes as 32 base32 letters in 8 groups: XXXX-XXXX-…
    static func makeCode() -> String {
        let bytes = SymmetricKey(size: .init(bitCount: 160)).withUnsafeBytes { Array($0) }
        var letters: [Character] = []
        var buffer = 0, bits = 0
        for byte in bytes {
            buffer = (buffer << 8) | Int(byte)
            bits += 8
            while bits >= 5 {
                letters.append(alphabet[(buffer >> (bits - 5)) & 31])
                bits -= 5
            }
        }
        return stride(from: 0, to: letters.count, by: 4).map { String(letters[$0..<min($0 + 4, letters.count)]) }.joined(separator: "-")
    }

    static func normalise(_ code: String) -> String {
        String(code.uppercased().filter { $0 != "-" && !$0.isWhitespace })
    }

    private static func hash(_ code: String) -> [UInt8] { Array(SHA256.hash(data: Data(normalise(code).utf8))) }

    private static func existingCode(_ file: URL) throws -> String? {
        guard POSIXFile.exists(file), let text = try? String(contentsOf: file, encoding: .utf8) else { return nil }
        let code = text.trimmingCharacters(in: .whitespacesAndNewlines)
        return normalise(code).count == 32 ? code : nil
    }

    private static func newCode(writingTo file: URL) throws -> String {
        let code = makeCode()
        try? FileManager.default.removeItem(at: file)
        let fd = try POSIXFile.createPrivate(file)
        defer { close(fd) }
        try Array((code + "\n").utf8).withUnsafeBytes { try POSIXFile.writeAll(fd, $0) }
        try POSIXFile.fsyncFile(fd)
        return code
    }
}
