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
struct Auditor: Sendable {
    let catalog: Catalog
    let now: @Sendable () -> Date
    let logger: Logger

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

    static func outcome(_ status: HTTPResponse.Status) -> String {
        switch status.code {
        case 200..<300: "succeeded"
        case 409: "busy"
        case 400..<500: "rejected"
        default: "failed"
        }
    }
}
