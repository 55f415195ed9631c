import BackupCore
import Hummingbird

/// What a handler knows about its request beyond the request itself: where it came from, who
/// sent it (once `AuthMiddleware` has verified the token), and the audit row being prepared.
public struct APIRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    /// The peer's IP address, for the audit log. (Behind a reverse proxy this is the proxy:
    /// the service listens on loopback by default and forwarded headers are not trusted.)
    public let clientAddress: String?
    /// Set by `AuthMiddleware`; every /api/v1 handler except the OpenAPI document can rely on it.
    public var identity: Identity?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        clientAddress = source.channel.remoteAddress?.ipAddress
    }

    /// JSON bodies are decoded by `StrictJSON` with its own cap; archive uploads are streamed.
    public var maxUploadSize: Int { StrictJSON.maxBodySize }

    /// The caller as the job records and the audit log name it.
    func actor() throws -> BackupContext.Actor {
        guard let identity else { throw APIError(.unauthorized, "unauthorized", "Sign in first: a bearer token is required.") }
        return identity.actor(client: clientAddress)
    }
}
