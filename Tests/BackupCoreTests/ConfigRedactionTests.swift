@testable import BackupCore
import Foundation
import Testing

/// Issue 12, finding 5: the POS's signing secret went into every database archive in plain text.
@Suite("Config redaction: named secrets stay out of archives, and a restore keeps the live ones")
struct ConfigRedactionTests {
    static let secret = "9f3c0d1e2b4a59687f1e2d3c4b5a69788f9e0d1c2b3a4958"
    static let posToml = """
        # CAPS POS store server configuration
        [store]
        name = "Canal Street Paint & Hardware"

        [auth]
        # Signs the JWTs the POS issues to its users (HS256). jwt_hs256_secret = "not this one, a comment"
        jwt_hs256_secret = "\(secret)"
        token_ttl_minutes = 720
        "api_key" = 'literal-\(secret)' # trailing comment
        smtp.password = \"\"\"
        multi
        line\"\"\"
        recovery_codes = [
          "a-\(secret)", # one
          "b-\(secret)",
        ]
        footer = "jwt_hs256_secret = inside a string"

        """

    static let printersJSON = """
        {
          "receipt_printers": [{ "station": "REG-01", "api_key": "k-\(secret)" }],
          "cloud": { "api_key": { "id": 7, "value": "\(secret)" }, "region": "us" },
          "note": "api_key: \\"not a member\\""
        }

        """

    @Test("TOML lines and JSON members: the named values become the marker, everything else stays byte for byte")
    func redactsExactly() throws {
        let keys = ["jwt_hs256_secret", "api_key", "password", "recovery_codes"]
        let (toml, found) = ConfigRedaction.redact(Array(Self.posToml.utf8), keys: keys)
        let text = String(decoding: toml, as: UTF8.self)
        #expect(!text.contains(Self.secret))
        #expect(Set(found) == Set(keys))
        #expect(text == Self.posToml
            .replacingOccurrences(of: "\"\(Self.secret)\"", with: "\"REDACTED by caps-backup\"")
            .replacingOccurrences(of: "'literal-\(Self.secret)'", with: "\"REDACTED by caps-backup\"")
            .replacingOccurrences(of: "\"\"\"\nmulti\nline\"\"\"", with: "\"REDACTED by caps-backup\"")
            .replacingOccurrences(of: "[\n  \"a-\(Self.secret)\", # one\n  \"b-\(Self.secret)\",\n]", with: "\"REDACTED by caps-backup\""))
        #expect(text.contains("not this one, a comment") && text.contains("jwt_hs256_secret = inside a string"))

        let (json, _) = ConfigRedaction.redact(Array(Self.printersJSON.utf8), keys: ["api_key"])
        let jsonText = String(decoding: json, as: UTF8.self)
        #expect(!jsonText.contains(Self.secret))
        #expect(jsonText.contains(#""region": "us""#) && jsonText.contains(#"api_key: \"not a member\""#))
        let parsed = try JSONSerialization.jsonObject(with: Data(json)) as? [String: Any]
        #expect((parsed?["cloud"] as? [String: Any])?["api_key"] as? String == ConfigRedaction.marker)
        // Nothing named: nothing changed.
        #expect(ConfigRedaction.redact(Array(Self.posToml.utf8), keys: []).bytes == Array(Self.posToml.utf8))
    }

    @Test("A restore puts the live values back in place of the marker, and restores everything else")
    func restoreKeepsLiveValues() throws {
        let keys = ["jwt_hs256_secret", "api_key"]
        let stored = ConfigRedaction.redact(Array(Self.posToml.utf8), keys: keys).bytes
        let live = Self.posToml.replacingOccurrences(of: Self.secret, with: "live-secret-rotated-since")
            .replacingOccurrences(of: "token_ttl_minutes = 720", with: "token_ttl_minutes = 5")
        let restored = String(decoding: try ConfigRedaction.restore(stored, live: Array(live.utf8), file: "pos.toml"), as: UTF8.self)
        #expect(restored.contains("jwt_hs256_secret = \"live-secret-rotated-since\""))
        #expect(restored.contains("\"api_key\" = 'literal-live-secret-rotated-since'"))
        #expect(restored.contains("token_ttl_minutes = 720"), "the rest comes from the backup")
        #expect(!restored.contains(ConfigRedaction.marker))

        for missing in [nil, Array("[auth]\n".utf8)] as [[UInt8]?] {
            let error = try #require(throws: BackupError.self) { try ConfigRedaction.restore(stored, live: missing, file: "pos.toml") }
            #expect(error.message.contains("jwt_hs256_secret") && error.message.contains("nothing was restored"))
        }
    }

    @Test("Settings: [store] config_redact_keys, checked; unknown keys are still refused")
    func settings() throws {
        let config = try ServiceConfig.parse("""
            [store]
            config_files = ["/srv/pos/config/pos.toml"]
            config_redact_keys = ["jwt_hs256_secret", "smtp-password"]
            """, relativeTo: URL(fileURLWithPath: "/"))
        #expect(config.configRedactKeys == ["jwt_hs256_secret", "smtp-password"])
        for bad in ["[store]\nconfig_redact_keys = [\"a = b\"]", "[store]\nconfig_redact_keys = [\"\"]", "[store]\nconfig_redact_key = [\"x\"]"] {
            let error = try #require(throws: BackupError.self) { try ServiceConfig.parse(bad, relativeTo: URL(fileURLWithPath: "/")) }
            #expect(error.code == .configuration)
        }
    }

    @Test("A database backup stores the config file without the secret; a restore with config keeps the live secret")
    func backupAndRestore() throws {
        let dir = TemporaryDirectory("redact")
        let database = dir.path("pos.db")
        try makeStoreDatabase(database, rows: 100)
        let configFile = dir.path("pos.toml")
        try Data(Self.posToml.utf8).write(to: configFile)
        let printers = dir.path("printers.json")
        try Data(Self.printersJSON.utf8).write(to: printers)
        var context = try makeContext(dir, posDatabase: database, configFiles: [configFile, printers])
        context.configRedactKeys = ["jwt_hs256_secret", "api_key", "password", "recovery_codes"]
        let job = try DatabaseBackupJob(context: context).run(trigger: .manual)

        // In the archive: no secret anywhere; the manifest's checksum is of the bytes stored (verify agrees).
        let archive = try [UInt8](Data(contentsOf: URL(fileURLWithPath: job.path!)))
        #expect(archive.firstRange(of: Array(Self.secret.utf8)) == nil)
        let verified = try ArchiveVerifier().verify(URL(fileURLWithPath: job.path!), expectedSHA256: job.sha256)
        let entry = try #require(verified.reader.entry(named: "config/pos.toml"))
        let stored = String(decoding: try verified.reader.readData(entry, limit: 1 << 20), as: UTF8.self)
        #expect(stored.contains("jwt_hs256_secret = \"REDACTED by caps-backup\""))
        #expect(stored.contains("token_ttl_minutes = 720"))

        // The live file changed since: its secret was rotated, another setting edited.
        let live = Self.posToml.replacingOccurrences(of: Self.secret, with: "rotated-secret-0123456789abcdef0123456789")
            .replacingOccurrences(of: "token_ttl_minutes = 720", with: "token_ttl_minutes = 1")
        try Data(live.utf8).write(to: configFile)
        let extras = RestoreExtras(files: nil, configFiles: true, configuredConfigFiles: [configFile, printers])
        _ = try DatabaseRestoreJob(context: context).run(.backup(job), preRestoreSnapshot: false, companion: extras)
        let restored = try String(contentsOf: configFile, encoding: .utf8)
        #expect(restored == Self.posToml.replacingOccurrences(of: Self.secret, with: "rotated-secret-0123456789abcdef0123456789"))
        #expect(try String(contentsOf: printers, encoding: .utf8) == Self.printersJSON)

        // Without a live value to keep, the restore refuses and changes nothing.
        try Data("[store]\nname = \"x\"\n".utf8).write(to: configFile)
        let refused = RestoreExtras(files: nil, configFiles: true, configuredConfigFiles: [configFile, printers])
        let failure = try #require(throws: RestoreFailure.self) {
            try DatabaseRestoreJob(context: context).run(.backup(job), preRestoreSnapshot: false, companion: refused)
        }
        #expect(failure.error.message.contains("jwt_hs256_secret"), "\(failure.error)")
        #expect(try String(contentsOf: configFile, encoding: .utf8) == "[store]\nname = \"x\"\n")
        #expect(fileList(dir.url).allSatisfy { !$0.contains("caps-restore") })
    }
}
