import BackupCore
import HTTPTypes
import Hummingbird

/// Runs before every route, before any token is looked at:
///
/// - **Host** (DNS rebinding): a hostile web page whose name is made to resolve to 127.0.0.1 makes
///   the browser send requests that carry *its* name in `Host`. Only these names are answered:
///   `localhost`, `127.0.0.1`, `[::1]`, the listen address and the address the connection came in
///   on (all with the port it came in on; an IP literal cannot be rebound), and the configured
///   public names (`[service] public_hosts`, the reverse proxy's, any port unless one is given).
///   Anything else is 421 with the API's error shape. This covers `/healthz` and `/metrics` too:
///   a probe on this machine uses an address, and a page elsewhere has nothing to learn there.
/// - **Client address**: from a trusted proxy (`[service] trusted_proxies`), the client its
///   `X-Forwarded-For` names; from any other peer the header is ignored.
struct RequestGuardMiddleware: RouterMiddleware {
    typealias Context = APIRequestContext
    let hosts: AllowedHosts
    let trustedProxies: Set<IPAddress>

    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!
    static let host = HTTPField.Name("Host")!

    init(configuration: ServerConfiguration) {
        hosts = AllowedHosts(listenHost: configuration.host, publicHosts: configuration.publicHosts)
        trustedProxies = Set(configuration.trustedProxies.compactMap { IPAddress($0) })
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        // NIO moves the first Host header to the authority; a second one is left in the fields.
        guard request.headers[Self.host] == nil else {
            throw APIError.badRequest("The request has more than one Host header.")
        }
        guard let authority = request.head.authority, !authority.isEmpty else {
            throw APIError.badRequest("The request has no Host header.")
        }
        guard hosts.allows(authority, localAddress: context.localAddress, localPort: context.localPort) else {
            throw APIError(.misdirectedRequest, "wrong_host",
                           "This server does not answer for the host \(authority.prefix(100)). Use its address, or add the name the reverse proxy forwards to [service] public_hosts.")
        }
        var context = context
        context.clientAddress = Self.client(peer: context.peerAddress, forwarded: request.headers[values: Self.forwardedFor], trusted: trustedProxies)
        return try await next(request, context)
    }

    /// The client a chain of proxies reports: walking `X-Forwarded-For` from the right (the hop the
    /// trusted peer added last), the first address that is not itself a trusted proxy. A hop that is
    /// not an address ends the walk at the last trusted one.
    static func client(peer: String?, forwarded: [String], trusted: Set<IPAddress>) -> String? {
        guard let peer, let address = IPAddress(peer), trusted.contains(address) else { return peer }
        var client = peer
        let hops = forwarded.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }
        for hop in hops.reversed() {
            guard let hopAddress = IPAddress(hop) else { break }
            client = hopAddress.description
            if !trusted.contains(hopAddress) { break }
        }
        return client
    }
}

/// The names a request's `Host` may carry (see `RequestGuardMiddleware`).
struct AllowedHosts: Sendable {
    /// Answered on the port the connection came in on.
    let localNames: Set<String>
    let localAddresses: Set<IPAddress>
    /// The reverse proxy's names: any port, or the one given.
    let publicNames: [(name: String, port: Int?)]

    init(listenHost: String, publicHosts: [String]) {
        var names: Set<String> = ["localhost"]
        var addresses: Set<IPAddress> = [IPAddress("127.0.0.1")!, IPAddress("::1")!]
        if let address = IPAddress(listenHost) {
            if address.bytes.contains(where: { $0 != 0 }) { addresses.insert(address) }  // not 0.0.0.0 or ::
        } else {
            names.insert(Self.normalized(listenHost))
        }
        localNames = names
        localAddresses = addresses
        publicNames = publicHosts.compactMap { entry in
            guard let (name, port) = Self.split(entry) else { return nil }
            return (Self.normalized(name), port)
        }
    }

    func allows(_ authority: String, localAddress: String?, localPort: Int?) -> Bool {
        guard let (name, port) = Self.split(authority) else { return false }
        let host = Self.normalized(name)
        if publicNames.contains(where: { $0.name == host && ($0.port == nil || $0.port == port) }) { return true }
        // Without a port, Host means the scheme's default (80: this server speaks plain HTTP).
        guard (port ?? 80) == localPort else { return false }
        if localNames.contains(host) { return true }
        guard let address = IPAddress(name) else { return false }
        return localAddresses.contains(address) || localAddress.flatMap { IPAddress($0) } == address
    }

    /// `name`, `name:port`, `[v6]`, `[v6]:port`; nil for a malformed one.
    static func split(_ authority: String) -> (name: String, port: Int?)? {
        guard !authority.isEmpty, authority.utf8.count <= 300, !authority.contains(where: { $0 == "@" || $0 == "/" || $0.isWhitespace }) else {
            return nil
        }
        var name = Substring(authority), portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            name = authority[...close]
            let rest = authority[authority.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { return nil }
                portText = rest.dropFirst()
            }
        } else if let colon = authority.firstIndex(of: ":") {
            name = authority[..<colon]
            portText = authority[authority.index(after: colon)...]
        }
        guard !name.isEmpty else { return nil }
        guard let portText else { return (String(name), nil) }
        guard !portText.isEmpty, portText.allSatisfy(\.isASCII), let port = Int(portText), (1...65535).contains(port) else { return nil }
        return (String(name), port)
    }

    /// Lower case, without the trailing dot of a fully qualified name.
    static func normalized(_ name: some StringProtocol) -> String {
        var name = name.lowercased()
        if name.hasSuffix("."), name.count > 1 { name.removeLast() }
        return name
    }
}

/// Headers every response carries, errors included: `X-Content-Type-Options: nosniff`, so a browser
/// never runs a JSON body or an archive as a script or page because it looks like one.
struct SecurityHeadersMiddleware<Context: RequestContext>: RouterMiddleware {
    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        var response: Response
        do {
            response = try await next(request, context)
        } catch {
            response = try APIError.from(error).response()
        }
        response.headers[.xContentTypeOptions] = "nosniff"
        return response
    }
}
