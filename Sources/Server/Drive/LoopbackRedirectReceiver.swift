import BackupCore
import Foundation
import Hummingbird

/// The loopback redirect of the authorization-code flow for the command line (Google's "loopback IP
/// address" option for Desktop clients): a one-request server on `127.0.0.1` and a free port that waits
/// for the browser to come back from Google's consent page with `code` and `state`. A request whose
/// `state` is not the one this connect sent is answered with a refusal and otherwise ignored.
public enum LoopbackRedirectReceiver {
    public struct Callback: Sendable {
        public var code: String?
        public var error: String?
    }

    /// - Parameter onListening: gets the `redirect_uri` (`http://127.0.0.1:PORT/`) once the port is open.
    public static func receive(state expected: String, timeout: Duration = .seconds(600),
                               onListening: @escaping @Sendable (String) async throws -> Void) async throws -> Callback {
        let (callbacks, continuation) = AsyncStream<Callback>.makeStream()
        let router = Router()
        router.get("/") { request, _ -> Response in
            let query = request.uri.queryParameters
            guard let state = query.get("state"), state == expected else {
                return page(.badRequest, "This sign-in answer does not belong to the connection started in the terminal. Nothing was changed.")
            }
            continuation.yield(Callback(code: query.get("code"), error: query.get("error")))
            return query.get("code") != nil
                ? page(.ok, "Google sign-in finished. You can close this tab and return to the terminal.")
                : page(.ok, "Access was not granted. You can close this tab.")
        }
        let (ports, portContinuation) = AsyncStream<Int>.makeStream()
        let application = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0), serverName: "caps-backup"),
                                      onServerRunning: { channel in portContinuation.yield(channel.localAddress?.port ?? 0) })
        return try await withThrowingTaskGroup(of: Callback?.self) { group in
            group.addTask { try await application.runService(gracefulShutdownSignals: []); return nil }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw BackupError(.interrupted, "No answer came back from Google's page within \(timeout.components.seconds / 60) minutes, so Google Drive is not connected.")
            }
            group.addTask {
                var portIterator = ports.makeAsyncIterator()
                guard let port = await portIterator.next() else { return nil }
                try await onListening("http://127.0.0.1:\(port)/")
                var iterator = callbacks.makeAsyncIterator()
                return await iterator.next()
            }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let callback = result { return callback }
            }
            throw CancellationError()
        }
    }

    static func page(_ status: HTTPResponse.Status, _ text: String) -> Response {
        Response(status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                 body: .init(byteBuffer: ByteBuffer(string: "<!doctype html><meta charset=utf-8><title>caps-backup</title><p>\(text)</p>")))
    }
}
