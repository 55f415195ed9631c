import Crypto
import Foundation
@testable import Server
import Testing

@Suite("JWT verification")
struct AuthTests {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)
    let verifier = JWTVerifier(hs256Secret: testSecret, now: { AuthTests.now })
    let signer = JWTSigner(hs256Secret: testSecret)

    func claims(exp: TimeInterval = 3600, extra: [String: Any] = [:]) -> [String: Any] {
        ["sub": "42", "station_id": "till-3", "permissions": ["MANAGE_SETTINGS"], "exp": Int(Self.now.timeIntervalSince1970 + exp)]
            .merging(extra) { $1 }
    }

    func reason(_ token: String) -> String? {
        do { _ = try verifier.verify(token); return nil } catch { return error.reason }
    }

    @Test func aValidTokenGivesTheIdentity() throws {
        let identity = try verifier.verify(signer.sign(claims: claims()))
        #expect(identity == Identity(userId: "42", stationId: "till-3", permissions: ["MANAGE_SETTINGS"],
                                     expiresAt: Self.now.addingTimeInterval(3600)))
        // The POS may send the station as a number, and no permissions at all.
        let numeric = try verifier.verify(signer.sign(claims: claims(extra: ["station_id": 7, "permissions": NSNull()])))
        #expect(numeric.stationId == "7" && numeric.permissions.isEmpty)
    }

    @Test func onlyHS256WithTheRightKeyIsAccepted() {
        let payload = claims()
        #expect(reason(signer.sign(claims: payload, header: ["alg": "none"])) != nil)
        #expect(reason(signer.sign(claims: payload, header: ["alg": "HS512"]))?.contains("not accepted") == true)
        #expect(reason(signer.sign(claims: payload, header: ["alg": "hs256"]))?.contains("not accepted") == true)
        #expect(reason(signer.sign(claims: payload, header: ["typ": "JWT"])) != nil)
        #expect(reason(signer.sign(claims: payload, header: ["alg": "HS256", "crit": ["exp"]])) != nil)
        #expect(reason(JWTSigner(hs256Secret: "another secret").sign(claims: payload))?.contains("signature") == true)
        // alg "none" with an empty signature, the classic forgery.
        let unsigned = signer.sign(claims: payload, header: ["alg": "none"]).split(separator: ".").prefix(2).joined(separator: ".") + "."
        #expect(reason(unsigned) != nil)
    }

    @Test func malformedTokensAreRefused() {
        let good = signer.sign(claims: claims())
        for token in ["", "abc", "a.b", "a.b.c.d", good + "=", good.replacingOccurrences(of: ".", with: ".."),
                      String(repeating: "a", count: 9000), "e30.e30.", "!!!.e30.AAAA"] {
            #expect(reason(token) != nil, "\(token.prefix(40))")
        }
        var parts = good.split(separator: ".").map(String.init)
        parts[1] = Base64URL.encode(Array(#"{"sub":"42","exp":1900000000,"permissions":["MANAGE_SETTINGS"]}"#.utf8))
        #expect(reason(parts.joined(separator: "."))?.contains("signature") == true, "payload swapped under the signature")
    }

    @Test func timesAreCheckedWithASmallLeeway() {
        #expect(reason(signer.sign(claims: claims(exp: -10))) == nil, "within the leeway")
        #expect(reason(signer.sign(claims: claims(exp: -31))) == "The token has expired.")
        #expect(reason(signer.sign(claims: claims(extra: ["nbf": Int(Self.now.timeIntervalSince1970) + 120]))) == "The token is not valid yet.")
        #expect(reason(signer.sign(claims: claims(extra: ["nbf": Int(Self.now.timeIntervalSince1970) + 10]))) == nil)
        var noExpiry = claims()
        noExpiry.removeValue(forKey: "exp")
        #expect(reason(signer.sign(claims: noExpiry))?.contains("exp") == true)
        #expect(reason(signer.sign(claims: claims(extra: ["exp": "tomorrow"])))?.contains("exp") == true)
        #expect(reason(signer.sign(claims: claims(extra: ["exp": true])))?.contains("exp") == true)
    }

    @Test func claimsMustHaveTheirTypes() {
        #expect(reason(signer.sign(claims: claims(extra: ["sub": 42]))) != nil)
        #expect(reason(signer.sign(claims: claims(extra: ["sub": ""]))) != nil)
        #expect(reason(signer.sign(claims: claims(extra: ["permissions": "MANAGE_SETTINGS"]))) != nil)
        #expect(reason(signer.sign(claims: claims(extra: ["permissions": [1, 2]]))) != nil)
        #expect(reason(signer.sign(claims: claims(extra: ["station_id": true]))) != nil)
        #expect(reason(signer.sign(claims: claims(extra: ["station_id": 1.5]))) != nil)
    }

    @Test func eddsaTokensNeedTheConfiguredPublicKey() throws {
        let key = Curve25519.Signing.PrivateKey()
        func eddsa(_ claims: [String: Any]) throws -> String {
            let header = Base64URL.encode(try JSONSerialization.data(withJSONObject: ["alg": "EdDSA"]))
            let payload = Base64URL.encode(try JSONSerialization.data(withJSONObject: claims))
            let signature = try key.signature(for: Array("\(header).\(payload)".utf8))
            return "\(header).\(payload).\(Base64URL.encode(signature))"
        }
        let both = JWTVerifier(hs256Secret: testSecret, ed25519PublicKey: key.publicKey, now: { AuthTests.now })
        #expect(try both.verify(try eddsa(claims())).userId == "42")
        #expect(throws: JWTVerifier.Failure.self) { try verifier.verify(try eddsa(claims())) }
        let other = JWTVerifier(hs256Secret: nil, ed25519PublicKey: Curve25519.Signing.PrivateKey().publicKey, now: { AuthTests.now })
        #expect(throws: JWTVerifier.Failure.self) { try other.verify(try eddsa(claims())) }
        // An Ed25519-only server refuses HS256 tokens, even ones "signed" with its public key.
        let edOnly = JWTVerifier(hs256Secret: nil, ed25519PublicKey: key.publicKey, now: { AuthTests.now })
        let confused = JWTSigner(hs256Secret: String(decoding: key.publicKey.rawRepresentation, as: UTF8.self)).sign(claims: claims())
        #expect(throws: JWTVerifier.Failure.self) { try edOnly.verify(confused) }
    }

    @Test func base64urlIsStrict() {
        #expect(Base64URL.decode("AQID") == [1, 2, 3])
        #expect(Base64URL.decode("-_8") == [0xFB, 0xFF])
        #expect(Base64URL.decode("AQID=") == nil)
        #expect(Base64URL.decode("A") == nil)
        #expect(Base64URL.decode("+/8") == nil)
        #expect(Base64URL.encode([0xFB, 0xFF]) == "-_8")
    }
}

@Suite("Authorization header over HTTP", .serialized)
struct AuthHTTPTests {
    @Test func theBearerSchemeAndTheErrorBody() async throws {
        let store = try TestStore()
        try await store.run { http in
            let lower = try await http.get("/api/v1/overview", headers: ["Authorization": "bearer \(Tokens.admin)"])
            #expect(lower.status == 200)
            let basic = try await http.get("/api/v1/overview", headers: ["Authorization": "Basic YWRtaW46YWRtaW4="])
            #expect(basic.status == 401)
            let expired = try await http.get("/api/v1/overview", token: Tokens.make("admin", permissions: [Permission.manageSettings], expiresIn: -120))
            #expect(expired.status == 401)
            #expect(expired.errorMessage?.contains("expired") == true)
            #expect(expired.header("WWW-Authenticate") == "Bearer error=\"invalid_token\"")
            let body = try expired.json()
            #expect(Set(body.keys) == ["error"])
            #expect(Set((body["error"] as? [String: Any])?.keys ?? [:].keys) == ["code", "message"])
        }
    }
}
