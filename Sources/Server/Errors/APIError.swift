import BackupCore
import Foundation
import Hummingbird

/// Every error the API answers with, in one shape:
///
///     {"error": {"code": "not_found", "message": "There is no backup with id 42.", "fields": [...]}}
///
/// `message` is written for the store manager reading the dashboard; `code` is for programs;
/// `fields` appears only for field-by-field validation problems (settings).
public struct APIError: Error, HTTPResponseError, Sendable {
    public var status: HTTPResponse.Status
    public var code: String
    public var message: String
    public var fields: [Field]?
    public var headers: HTTPFields

    /// One field's problem, for a form to show beside the field.
    public struct Field: Codable, Sendable, Equatable {
        public var field: String
        public var message: String
        init(field: String, message: String) { self.field = field; self.message = message }
        init(_ error: FieldError) { self.init(field: error.field, message: error.message) }
    }

    public init(_ status: HTTPResponse.Status, _ code: String, _ message: String, fields: [Field]? = nil, headers: HTTPFields = [:]) {
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields
        self.headers = headers
    }

    public func response(from request: Request, context: some RequestContext) throws -> Response {
        try response()
    }

    func response() throws -> Response {
        try JSON.response(Body(error: .init(code: code, message: message, fields: fields)), status: status, headers: headers)
    }

    struct Body: Codable {
        var error: Detail
        struct Detail: Codable {
            var code: String
            var message: String
            var fields: [Field]?
        }
    }

    // MARK: Common errors

    static func notFound(_ message: String) -> APIError { APIError(.notFound, "not_found", message) }
    static func badRequest(_ message: String) -> APIError { APIError(.badRequest, "bad_request", message) }
    static func confirmationRequired(_ what: String) -> APIError {
        APIError(.badRequest, "confirmation_required", "\(what) Repeat the request with confirm=true to go ahead.")
    }
    static let busy = APIError(.conflict, "busy", "Another backup or restore is running; try again when it has finished.")

    /// Maps whatever a handler threw to the API's answer. Domain errors keep their message for people;
    /// anything unexpected becomes a 500 whose detail goes to the log, never to the client.
    static func from(_ error: any Error) -> APIError {
        switch error {
        case let error as APIError:
            return error
        case let error as BackupError:
            return from(error)
        case let failure as BackupFailure:
            return from(failure.error)
        case let failure as RestoreFailure:
            return from(failure.error)
        case let error as DestinationError:
            // Google's (or another destination's) answer, in its words: the service itself is fine.
            return APIError(.badGateway, "offsite_unavailable", "The off-site copy could not be reached: \(error.message)")
        case let error as SettingsValidationError:
            return APIError(.unprocessableContent, "invalid_settings",
                            "Some settings are not valid: " + error.errors.map { "\($0.field): \($0.message)" }.joined(separator: " "),
                            fields: error.errors.map(Field.init))
        case let error as HTTPError:
            return APIError(error.status, code(for: error.status), error.body ?? error.status.reasonPhrase, headers: error.headers)
        case let error as any HTTPResponseError:
            return APIError(error.status, code(for: error.status), error.status.reasonPhrase)
        default:
            return APIError(.internalServerError, "internal", "An unexpected error occurred; the details are in the service log.")
        }
    }

    static func from(_ error: BackupError) -> APIError {
        switch error.code {
        case .invalidInput: APIError(.unprocessableContent, "invalid_input", error.forDashboard)
        case .notFound: APIError(.notFound, "not_found", error.forDashboard)
        case .busy: APIError(.conflict, "busy", error.forDashboard)
        case .insufficientSpace: APIError(.init(code: 507, reasonPhrase: "Insufficient Storage"), "insufficient_space", error.forDashboard)
        case .corruptArchive, .checksumMismatch, .unsafeArchive: APIError(.unprocessableContent, error.code.rawValue, error.forDashboard)
        // The request is sound but this store is not set up for it (e.g. no uploads folder): 422, not a server fault.
        case .configuration: APIError(.unprocessableContent, "not_configured", error.forDashboard)
        case .database, .io, .interrupted: APIError(.internalServerError, error.code.rawValue, error.forDashboard)
        }
    }

    static func code(for status: HTTPResponse.Status) -> String {
        switch status.code {
        case 400: "bad_request"
        case 401: "unauthorized"
        case 403: "forbidden"
        case 404: "not_found"
        case 405: "method_not_allowed"
        case 409: "conflict"
        case 413: "payload_too_large"
        case 415: "unsupported_media_type"
        case 416: "range_not_satisfiable"
        case 422: "unprocessable"
        case 500...: "internal"
        default: "error"
        }
    }
}

/// Turns every error into the JSON error body (the outermost middleware), and a wrong method on a
/// known path into 405 with `Allow` rather than the router's 404.
struct ErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    /// Filled in once every route is registered (the middleware has to be added before them).
    let routes: Locked<RouteTable>

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch {
            var apiError = APIError.from(error)
            // The router's own miss: an HTTPError 404 without a body (our handlers always say what is missing).
            if let miss = error as? HTTPError, miss.status == .notFound, miss.body == nil {
                let allowed = routes.withLock { $0.methods(for: request.uri.path) }
                if !allowed.isEmpty {
                    apiError = APIError(.methodNotAllowed, "method_not_allowed", "\(request.method) is not allowed here; use \(allowed.joined(separator: ", ")).",
                                        headers: [.allow: allowed.joined(separator: ", ")])
                } else {
                    apiError.message = "There is nothing at \(request.uri.path)."
                }
            }
            if apiError.status.code >= 500 {
                context.logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(String(reflecting: error))"])
            }
            return try apiError.response()
        }
    }
}

/// The router's paths and methods, to answer 405 for a known path with an unknown method.
struct RouteTable: Sendable {
    private var entries: [(segments: [Substring], method: String)] = []

    init(_ routes: [(path: String, method: String)]) {
        entries = routes.map { (Self.segments($0.path), $0.method) }
    }

    /// The methods of the path's best match: like the router, a literal segment beats a capture
    /// (`/restores/upload` is not `/restores/{id}`).
    func methods(for path: String) -> [String] {
        let requested = Self.segments(path)
        var best = -1
        var methods = Set<String>()
        for entry in entries where entry.segments.count == requested.count {
            var literals = 0
            let matches = zip(entry.segments, requested).allSatisfy { pattern, part in
                if pattern.hasPrefix("{") { return true }
                literals += 1
                return pattern == part
            }
            guard matches, literals >= best else { continue }
            if literals > best { best = literals; methods = [] }
            methods.insert(entry.method)
        }
        return methods.sorted()
    }

    private static func segments(_ path: String) -> [Substring] { path.split(separator: "/") }
}
