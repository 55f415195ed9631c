import AsyncHTTPClient
import BackupCore
import Foundation
import NIOCore
import NIOHTTP1

/// Drive's REST calls over AsyncHTTPClient: the bearer token on each call (a 401 asks the token source
/// for a fresh one and repeats the call once), and Drive's error JSON turned into `DestinationError`.
struct DriveHTTP: Sendable {
    let base: URL
    let client: HTTPClient
    let tokens: any GoogleAccessTokens
    /// Per request; a chunk of 8 MiB needs far less on any line an upload can work over.
    var timeout: TimeAmount = .seconds(300)

    /// A response whose body was read whole (JSON, or nothing).
    struct Reply: Sendable {
        var status: HTTPResponseStatus
        var headers: HTTPHeaders
        var body: ByteBuffer
        var json: [String: Any]? { (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] }
    }

    /// `path` is already percent-encoded where it holds an id (`/drive/v3/files/\(encode(id))`).
    func url(_ path: String, _ query: [(String, String)] = []) -> String {
        var text = base.absoluteString
        while text.hasSuffix("/") { text.removeLast() }
        text += path
        if !query.isEmpty { text += "?" + query.map { "\(Self.encode($0.0))=\(Self.encode($0.1))" }.joined(separator: "&") }
        return text
    }

    static func encode(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-._~")))!
    }

    /// One call; `body` is made anew for the repeat after a 401. `accept` lists the statuses that are answers
    /// (everything else becomes a `DestinationError`).
    func send(_ method: HTTPMethod, _ url: String, headers: [(String, String)] = [], body: (@Sendable () -> HTTPClientRequest.Body)? = nil,
              accept: Set<UInt> = [200], authorized: Bool = true) async throws -> Reply {
        try await withAuthorization(authorized) { token in
            let response = try await execute(method, url, headers: headers, body: body?(), token: token)
            let bytes = try await collect(response)
            return Reply(status: response.status, headers: response.headers, body: bytes)
        } accept: { reply in
            accept.contains(reply.status.code) ? nil : reply
        }
    }

    /// A download: the body goes to `sink` as it arrives, never held whole.
    func stream(_ url: String, headers: [(String, String)], into sink: @escaping @Sendable ([UInt8]) throws -> Void) async throws -> HTTPResponseStatus {
        try await withAuthorization(true) { token in
            let response = try await execute(.GET, url, headers: headers, body: nil, token: token)
            guard response.status == .ok || response.status == .partialContent else {
                return Reply(status: response.status, headers: response.headers, body: try await collect(response))
            }
            do {
                for try await piece in response.body { try sink(Array(piece.readableBytesView)) }
            } catch { throw Self.transport(error) }
            return Reply(status: response.status, headers: response.headers, body: ByteBuffer())
        } accept: { reply in
            [200, 206, 416].contains(reply.status.code) ? nil : reply
        }.status
    }

    private func execute(_ method: HTTPMethod, _ url: String, headers: [(String, String)], body: HTTPClientRequest.Body?,
                         token: String?) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let token { request.headers.replaceOrAdd(name: "Authorization", value: "Bearer \(token)") }
        if let body { request.body = body } else if method == .PUT || method == .POST { request.headers.replaceOrAdd(name: "Content-Length", value: "0") }
        do {
            return try await client.execute(request, timeout: timeout)
        } catch { throw Self.transport(error) }
    }

    private func collect(_ response: HTTPClientResponse) async throws -> ByteBuffer {
        do { return try await response.body.collect(upTo: 8 << 20) } catch { throw Self.transport(error) }
    }

    /// Runs `call` with a token; a 401 gets a fresh token and one more try. `refused` says which replies are errors.
    private func withAuthorization(_ authorized: Bool, _ call: (String?) async throws -> Reply,
                                   accept refused: (Reply) -> Reply?) async throws -> Reply {
        var token = authorized ? try await tokens.accessToken(rejected: nil) : nil
        var reply = try await call(token)
        if reply.status == .unauthorized, let rejected = token {
            token = try await tokens.accessToken(rejected: rejected)
            reply = try await call(token)
        }
        if let bad = refused(reply) { throw Self.error(bad) }
        return reply
    }

    /// Drive's answer in the terms a caller decides on (Drive's "Handle errors" page).
    static func error(_ reply: Reply) -> DestinationError {
        let error = reply.json?["error"] as? [String: Any]
        let message = error?["message"] as? String ?? "HTTP \(reply.status.code)"
        let reasons = (error?["errors"] as? [[String: Any]] ?? []).compactMap { $0["reason"] as? String }
        let retryAfter = reply.headers.first(name: "Retry-After").flatMap(Double.init)
        let said = "Google Drive answered \(reply.status.code) (\(reasons.first ?? "no reason")): \(message)"
        switch reply.status.code {
        case 401: return DestinationError(.unauthorized, "Google Drive refused the access token: reconnect it on the dashboard. (\(said))")
        case 403 where reasons.contains("storageQuotaExceeded"):
            return DestinationError(.quotaExceeded, "The Google Drive storage quota is full. (\(said))")
        case 403 where reasons.contains { ["userRateLimitExceeded", "rateLimitExceeded", "sharingRateLimitExceeded"].contains($0) },
             429:
            return DestinationError(.transient(retryAfter: retryAfter), said, isRateLimit: true)
        case 404: return DestinationError(.notFound, said)
        case 408, 500...599: return DestinationError(.transient(retryAfter: retryAfter), said)
        default: return DestinationError(.permanent, said)
        }
    }

    /// A dropped connection, a timeout, a refused connect: worth another try.
    static func transport(_ error: any Error) -> any Error {
        if error is DestinationError || error is CancellationError { return error }
        if Task.isCancelled { return CancellationError() }
        return DestinationError(.transient(retryAfter: nil), "The connection to Google Drive failed: \(error)")
    }
}
