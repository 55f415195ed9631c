import AsyncHTTPClient
import BackupCore
import Destinations
import FakeGoogle
import Foundation
import HummingbirdTesting
import Logging
@testable import Server
import Testing

/// Every line the server logs, at every level, with its metadata.
struct CapturingLogHandler: LogHandler {
    let lines: Locked<[String]>
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata?, source: String, file: String, function: String, line: UInt) {
        lines.withLock { $0.append("\(level) \(message) \(self.metadata.merging(metadata ?? [:]) { $1 })") }
    }
}

@Suite("Drive: no log line holds a token, a code or the client secret")
struct DriveLogTests {
    @Test func connectLeavesNoSecretInTheLog() async throws {
        let lines = Locked<[String]>([])
        let logger = Logger(label: "caps-backup.test") { _ in CapturingLogHandler(lines: lines) }
        let google = FakeGoogle()
        let noRedirects = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
        try await google.serving { base in
            let store = try TestStore()
            var configuration = ServerConfiguration()
            configuration.jwtSecret = testSecret
            configuration.port = 0
            configuration.google = driveConfiguration(base, client: FakeOAuth.desktopClient)
            let server = try CapsServer(configuration: configuration, context: store.context, logger: logger)
            try await server.makeApplication().test(.live) { client in
                let http = HTTP(port: client.port!)
                let started = try await http.post("/api/v1/drive/connect", token: Tokens.admin, json: #"{"flow":"code"}"#)
                let url = try #require(try started.json()["authorization_url"] as? String)
                let consent = try await noRedirects.execute(HTTPClientRequest(url: url), timeout: .seconds(10))
                let location = try #require(URLComponents(string: consent.headers.first(name: "location") ?? ""))
                let done = try await http.get(location.path + "?" + (location.percentEncodedQuery ?? ""))
                #expect(done.status == 200)
                // A refused request too (the permission check logs a notice).
                _ = try await http.get("/api/v1/drive", token: Tokens.cashier)
                let session = server.services.drive.session
                _ = try await session.accessToken(rejected: nil)
                google.oauth.revokeGrants()
                _ = try? await session.accessToken(rejected: "x")
            }
        }
        try await noRedirects.shutdown()
        let log = lines.current.joined(separator: "\n")
        #expect(!lines.current.isEmpty)
        for secret in ["1//", "ya29", "4/0A", "GOCSPX", "code_verifier", "refresh_token"] {
            #expect(!log.contains(secret), "\(secret) in the log:\n\(log)")
        }
    }
}
