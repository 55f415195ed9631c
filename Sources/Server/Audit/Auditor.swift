import BackupCore
import Foundation
import Hummingbird
import Logging

/// The audit trail (R10.4): every authorised request to a route that changes something, and every
/// download, leaves exactly one `audit_log` row with user id, station id, client address, time and
/// outcome: `succeeded`, `failed`, `rejected` (a 4xx: bad input, missing confirmation) or `busy`.
///
/// The jobs write their own rows with the actor we pass them (backups, restores and deletions are
/// audited by BackupCore whether the CLI, the scheduler or the API starts them). A handler that
/// hands its action to such a job marks the note `writtenElsewhere`, so nothing is written twice;
/// a download is audited by its stream when the last byte is sent (or the client goes away).
///
/// Refusals (401, 403) are audited too, at most one row per client address and kind of refusal a
/// minute (see `refused`), so a flood of bad tokens cannot fill the catalog.
struct Auditor: Sendable {
    let catalog: Catalog
    let now: @Sendable () -> Date
    let logger: Logger
    let refusals = RefusalWindows()

    /// Refusals of one kind from one address within this long of the last row written for them
    /// are counted, not written; the next row written for them carries the count.
    static let refusalWindow: TimeInterval = 60

    /// What one request's audit row will say.
    final class Note: @unchecked Sendable {
        var target: String?
        var detail: String?
        var writtenElsewhere = false
    }

    typealias Handler = @Sendable (Request, APIRequestContext) async throws -> Response
    typealias AuditedHandler = @Sendable (Request, APIRequestContext, Note) async throws -> Response

    func audited(_ action: String, _ handler: @escaping AuditedHandler) -> Handler {
        { request, context in
            let note = Note()
            let actor = try context.actor()
            do {
                let response = try await handler(request, context, note)
                if !note.writtenElsewhere {
                    await write(action: action, target: note.target, outcome: Self.outcome(response.status), detail: note.detail, actor: actor)
                }
                return response
            } catch {
                let apiError = APIError.from(error)
                if !note.writtenElsewhere {
                    await write(action: action, target: note.target, outcome: Self.outcome(apiError.status), detail: apiError.message, actor: actor)
                }
                throw apiError
            }
        }
    }

    func write(action: String, target: String?, outcome: String, detail: String?, actor: BackupContext.Actor) async {
        let at = now()
        do {
            try await Blocking.run { [catalog] in
                try catalog.audit(action: action, target: target, outcome: outcome, detail: detail, actor: actor, at: at)
            }
        } catch {
            // The action has happened; losing its row must at least be loud.
            logger.error("audit row could not be written", metadata: ["action": "\(action)", "user": "\(actor.userId ?? "-")", "error": "\(error)"])
        }
    }

    /// Audits a refused request (`auth.unauthorized`, `auth.forbidden`, `demo.login`), rate-limited:
    /// the first refusal of a kind from an address writes a row; the ones after it within
    /// `refusalWindow` are only counted, and the next row for that address and kind says how many
    /// there were and since when.
    func refused(action: String, target: String?, detail: String, actor: BackupContext.Actor) async {
        let at = now()
        let key = "\(actor.client ?? "-") \(action)"
        let decision: RefusalWindows.Decision = refusals.state.withLock { windows in
            if let window = windows[key], at.timeIntervalSince(window.start) < Self.refusalWindow, at >= window.start {
                windows[key]?.suppressed += 1
                return .count
            }
            let previous = windows[key].flatMap { $0.suppressed > 0 ? (count: $0.suppressed, since: $0.start) : nil }
            if windows.count >= RefusalWindows.maxAddresses {
                // Many addresses at once: forget the windows that have ended (their counts are logged).
                for (old, window) in windows where at.timeIntervalSince(window.start) >= Self.refusalWindow {
                    if window.suppressed > 0 {
                        logger.notice("refusals not audited", metadata: ["key": "\(old)", "count": "\(window.suppressed)"])
                    }
                    windows[old] = nil
                }
            }
            windows[key] = RefusalWindows.Window(start: at, suppressed: 0)
            return .write(previous: previous)
        }
        guard case .write(let previous) = decision else { return }
        var text = detail
        if let previous {
            text += " \(previous.count) more refusal\(previous.count == 1 ? "" : "s") of this kind from this address since \(Timestamp.iso8601(previous.since)) were counted, not written one by one."
        }
        await write(action: action, target: target, outcome: "rejected", detail: text, actor: actor)
    }

    static func outcome(_ status: HTTPResponse.Status) -> String {
        switch status.code {
        case 200..<300: "succeeded"
        case 409: "busy"
        case 400..<500: "rejected"
        default: "failed"
        }
    }
}

/// Per client address and kind of refusal: when the last audited refusal was, and how many came since.
final class RefusalWindows: Sendable {
    struct Window { var start: Date; var suppressed: Int }
    enum Decision { case count, write(previous: (count: Int, since: Date)?) }
    static let maxAddresses = 10_000
    let state = Locked<[String: Window]>([:])
}
