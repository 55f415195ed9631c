import BackupCore
import Crypto
import Foundation

/// Single-use download links (a plain link or the browser's own download cannot carry a bearer
/// header): a ticket is 256 random bits, valid `lifetime` seconds, for one backup and the user who
/// asked for it, whose identity the download then carries (so its audit row names them). Only a
/// hash of each ticket is held, in memory: a restart voids them all, which is harmless at 60 s.
final class DownloadTickets: Sendable {
    static let lifetime: TimeInterval = 60
    /// Outstanding tickets at most; past it the oldest are dropped (each user asks for one at a time).
    static let capacity = 1_000

    struct Grant: Sendable {
        var backupId: Int64
        var identity: Identity
        var expiresAt: Date
    }

    enum Refusal: Error, Equatable {
        /// Unknown, already used, or expired.
        case invalid
        /// Issued for another backup (and now used up).
        case wrongBackup
    }

    private let now: @Sendable () -> Date
    private let grants = Locked<[String: Grant]>([:])

    init(now: @escaping @Sendable () -> Date) { self.now = now }

    func issue(backupId: Int64, identity: Identity) -> String {
        let ticket = Base64URL.encode(SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })
        let at = now()
        grants.withLock { grants in
            grants = grants.filter { $0.value.expiresAt > at }
            if grants.count >= Self.capacity, let oldest = grants.min(by: { $0.value.expiresAt < $1.value.expiresAt }) {
                grants.removeValue(forKey: oldest.key)
            }
            grants[Self.hash(ticket)] = Grant(backupId: backupId, identity: identity, expiresAt: at.addingTimeInterval(Self.lifetime))
        }
        return ticket
    }

    /// Uses the ticket up (whatever the answer) and returns whose it was.
    func redeem(_ ticket: String, backupId: Int64) throws(Refusal) -> Identity {
        let at = now()
        guard let grant = grants.withLock({ $0.removeValue(forKey: Self.hash(ticket)) }), grant.expiresAt > at else { throw .invalid }
        guard grant.backupId == backupId else { throw .wrongBackup }
        return grant.identity
    }

    private static func hash(_ ticket: String) -> String { SHA256.hash(data: Data(ticket.utf8)).map { String(format: "%02x", $0) }.joined() }
}
