@preconcurrency import Crypto
import Foundation

/// Verifies the POS's bearer tokens: compact JWS (RFC 7515) carrying a JWT (RFC 7519).
///
/// Written here on purpose rather than taken from vapor/jwt-kit: that package pulls in
/// swift-certificates, X509 and a second major version of swift-crypto, a long build on these
/// two-core machines for what is ~100 lines with swift-crypto, which we already have.
///
/// The rules, in the order they are checked:
/// - three base64url parts, no padding, at most `maxTokenLength` characters;
/// - the header's `alg` is exactly `HS256` (the shared secret) or `EdDSA` (an Ed25519 public
///   key), and only when that key is configured. `none` and everything else is refused, and a key
///   is never used with another algorithm (no RS/HS confusion). A `crit` header is refused: we
///   implement no extensions;
/// - the signature, compared in constant time (swift-crypto's `isValidAuthenticationCode`);
/// - only then the claims: `sub` (non-empty string), `exp` (required: a token that never expires
///   is refused), `nbf` if present, both against an injected clock with a small leeway for clock
///   skew between the POS and this server; `station_id` (string or number) and `permissions`
///   (array of strings) as the POS sends them.
public struct JWTVerifier: Sendable {
    public static let maxTokenLength = 8192
    public static let defaultLeeway: TimeInterval = 30

    private let secret: SymmetricKey?
    private let publicKey: Curve25519.Signing.PublicKey?
    private let leeway: TimeInterval
    private let now: @Sendable () -> Date

    /// - Parameters:
    ///   - hs256Secret: the `[auth] jwt_secret` / `CAPS_JWT_SECRET` shared with the POS.
    ///   - ed25519PublicKey: the POS's public key, when it signs with EdDSA instead (32 raw bytes).
    public init(hs256Secret: String?, ed25519PublicKey: Curve25519.Signing.PublicKey? = nil,
                leeway: TimeInterval = JWTVerifier.defaultLeeway, now: @escaping @Sendable () -> Date = { Date() }) {
        self.secret = hs256Secret.flatMap { $0.isEmpty ? nil : SymmetricKey(data: Array($0.utf8)) }
        self.publicKey = ed25519PublicKey
        self.leeway = leeway
        self.now = now
    }

    public var hasKeys: Bool { secret != nil || publicKey != nil }

    public struct Failure: Error, Equatable, Sendable {
        /// Safe to show to the caller: says what is wrong with the token, nothing about our keys.
        public var reason: String
    }

    public func verify(_ token: String) throws(Failure) -> Identity {
        guard token.utf8.count <= Self.maxTokenLength else { throw Failure(reason: "The token is too long.") }
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3, let headerBytes = Base64URL.decode(parts[0]), let payloadBytes = Base64URL.decode(parts[1]),
              let signature = Base64URL.decode(parts[2]) else {
            throw Failure(reason: "The token is not a compact JWS (three base64url parts).")
        }
        guard case .object(let header)? = try? JSONDecoder().decode(JSONValue.self, from: Data(headerBytes)),
              case .string(let alg)? = header["alg"] else {
            throw Failure(reason: "The token's header is not a JSON object with an alg.")
        }
        guard header["crit"] == nil else { throw Failure(reason: "The token uses critical header extensions, which are not supported.") }

        let signingInput = Array(token.utf8.prefix(parts[0].utf8.count + 1 + parts[1].utf8.count))
        switch alg {
        case "HS256":
            guard let secret else { throw Failure(reason: "HS256 tokens are not accepted by this server.") }
            guard HMAC<SHA256>.isValidAuthenticationCode(signature, authenticating: signingInput, using: secret) else {
                throw Failure(reason: "The token's signature is not valid.")
            }
        case "EdDSA":
            guard let publicKey else { throw Failure(reason: "EdDSA tokens are not accepted by this server.") }
            guard publicKey.isValidSignature(signature, for: signingInput) else {
                throw Failure(reason: "The token's signature is not valid.")
            }
        default:
            throw Failure(reason: "The token's algorithm \(alg.prefix(20)) is not accepted; use HS256.")
        }
        return try claims(payloadBytes)
    }

    private func claims(_ payload: [UInt8]) throws(Failure) -> Identity {
        guard case .object(let claims)? = try? JSONDecoder().decode(JSONValue.self, from: Data(payload)) else {
            throw Failure(reason: "The token's payload is not a JSON object.")
        }
        guard case .string(let subject)? = claims["sub"], !subject.isEmpty else { throw Failure(reason: "The token has no sub (user id).") }
        guard case .number(let exp)? = claims["exp"] else { throw Failure(reason: "The token has no exp (expiry time).") }
        let now = now().timeIntervalSince1970
        guard now < exp + leeway else { throw Failure(reason: "The token has expired.") }
        switch claims["nbf"] {
        case nil, .null?: break
        case .number(let nbf)?: guard now >= nbf - leeway else { throw Failure(reason: "The token is not valid yet.") }
        default: throw Failure(reason: "The token's nbf is not a time.")
        }
        let station: String?
        switch claims["station_id"] {
        case nil, .null?: station = nil
        case .string(let text)?: station = text
        case .number(let number)? where number.rounded() == number && abs(number) < 1e15: station = String(Int64(number))
        default: throw Failure(reason: "The token's station_id is neither a string nor a whole number.")
        }
        var permissions = Set<String>()
        switch claims["permissions"] {
        case nil, .null?: break
        case .array(let items)?:
            for item in items {
                guard case .string(let permission) = item else { throw Failure(reason: "The token's permissions are not an array of strings.") }
                permissions.insert(permission)
            }
        default: throw Failure(reason: "The token's permissions are not an array of strings.")
        }
        return Identity(userId: subject, stationId: station, permissions: permissions, expiresAt: Date(timeIntervalSince1970: exp))
    }
}

/// Any JSON value, keeping booleans and numbers apart (JSONSerialization gives both as NSNumber).
enum JSONValue: Decodable, Equatable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let value = try? c.decode(Bool.self) { self = .bool(value) }
        else if let value = try? c.decode(Double.self) { self = .number(value) }
        else if let value = try? c.decode(String.self) { self = .string(value) }
        else if let value = try? c.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }
}

/// Signs tokens the way the POS does (HS256). Used by the demo login page and by the tests;
/// production tokens come from the POS.
public struct JWTSigner: Sendable {
    private let key: SymmetricKey

    public init(hs256Secret: String) { key = SymmetricKey(data: Array(hs256Secret.utf8)) }

    public func sign(userId: String, stationId: String?, permissions: [String], expiresAt: Date, notBefore: Date? = nil) -> String {
        var claims: [String: Any] = ["sub": userId, "permissions": permissions, "exp": Int(expiresAt.timeIntervalSince1970)]
        if let stationId { claims["station_id"] = stationId }
        if let notBefore { claims["nbf"] = Int(notBefore.timeIntervalSince1970) }
        return sign(claims: claims)
    }

    /// Signs any claims with any header: tests use it to forge tokens with odd headers.
    public func sign(claims: [String: Any], header: [String: Any] = ["alg": "HS256", "typ": "JWT"]) -> String {
        let encodedHeader = Base64URL.encode(try! JSONSerialization.data(withJSONObject: header, options: [.sortedKeys]))
        let encodedClaims = Base64URL.encode(try! JSONSerialization.data(withJSONObject: claims, options: [.sortedKeys]))
        let input = "\(encodedHeader).\(encodedClaims)"
        let mac = HMAC<SHA256>.authenticationCode(for: Array(input.utf8), using: key)
        return "\(input).\(Base64URL.encode(Array(mac)))"
    }
}
