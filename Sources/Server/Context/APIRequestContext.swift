import BackupCore
import Hummingbird

/// What a handler knows about its request beyond the request itself: where it came from, who
/// sent it (once `AuthMiddleware` has verified the token), and the audit row being prepared.
public struct APIRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The client's IP address, for the audit log and the /metrics check: the peer's, or, when the
    /// peer is one of the configured trusted proxies, the client its `X-Forwarded-For` names
    /// (set by `RequestGuardMiddleware`; from any other peer the header is ignored).
    public internal(set) var clientAddress: String?
    /// The address of the connection's other end (the reverse proxy, behind one).
    public let peerAddress: String?
    /// This server's end of the connection: what a request's `Host` may name.
    let localAddress: String?
    let localPort: Int?
    /// Set by `AuthMiddleware`; every /api/v1 handler except the OpenAPI document can rely on it.
    public var identity: Identity?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        peerAddress = source.channel.remoteAddress?.ipAddress
        clientAddress = peerAddress
        localAddress = source.channel.localAddress?.ipAddress
        localPort = source.channel.localAddress?.port
    }

    /// JSON bodies are decoded by `StrictJSON` with its own cap; archive uploads are streamed.
    public var maxUploadSize: Int { StrictJSON.maxBodySize }

    /// The caller as the job records and the audit log name it.
    func actor() throws -> BackupContext.Actor {
        guard let identity else { throw APIError(.unauthorized, "unauthorized", "Sign in first: a bearer token is required.") }
        return identity.actor(client: clientAddress)
    }
}
