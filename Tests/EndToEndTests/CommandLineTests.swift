import BackupCore
import Foundation
import Testing

/// The CLI's contract for technicians and scripts: flags, `--json` documents, exit codes, messages.
@Suite("Command line")
struct CommandLineTests {
    @Test("backup, list, verify and restore print one JSON document each with the common fields")
    func jsonDocuments() throws {
        let store = try DemoFixture(sizeMB: 3)
        let backup = try CLI.run(["backup", "--kind", "db-full", "--json"] + store.storeArguments)
        #expect(backup.status == 0, "\(backup.stderr)")
        let job = try JSONSerialization.jsonObject(with: Data(backup.stdout.utf8)) as? [String: Any] ?? [:]
        for key in ["id", "kind", "status", "path", "size", "sha256"] { #expect(job[key] != nil, "backup JSON lacks \(key)") }
        #expect(job["kind"] as? String == "db-full")
        #expect(job["status"] as? String == "succeeded")
        let id = "\(job["id"] as? Int ?? 0)"

        let list = try CLI.run(["list", "--json"] + store.storeArguments)
        let rows = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [[String: Any]] ?? []
        #expect(rows.count == 1 && rows.first?["sha256"] as? String == job["sha256"] as? String)

        let verify = try CLI.run(["verify", id, "--json"] + store.storeArguments)
        #expect(verify.status == 0)
        let report = try JSONSerialization.jsonObject(with: Data(verify.stdout.utf8)) as? [String: Any] ?? [:]
        #expect(report["status"] as? String == "ok")
        #expect(report["integrity"] as? String == "ok")
        #expect(report["checksumSource"] as? String == "catalog+sidecar")

        let restore = try CLI.run(["restore", id, "--yes", "--json"] + store.storeArguments)
        #expect(restore.status == 0, "\(restore.stderr)")
        let record = try JSONSerialization.jsonObject(with: Data(restore.stdout.utf8)) as? [String: Any] ?? [:]
        for key in ["id", "kind", "status", "path", "sha256", "preRestorePath"] { #expect(record[key] != nil, "restore JSON lacks \(key)") }
        #expect(record["status"] as? String == "succeeded")

        let human = try CLI.run(["list"] + store.storeArguments)
        #expect(human.stdout.contains("db-full") && human.stdout.contains("succeeded") && human.stdout.contains("iB"))
        #expect((rows.first?["offsite"] as? [Any])?.isEmpty == true)

        // With an off-site destination, a backup is "local ok, off-site pending" until its copy is made.
        try store.catalog().save(DestinationRecord(name: "nas", kinds: [.dbFull], createdAt: Date()))
        #expect(try CLI.run(["backup", "--kind", "db-full", "--json"] + store.storeArguments).status == 0)
        let listed = try JSONSerialization.jsonObject(with: Data(try CLI.run(["list", "--json"] + store.storeArguments).stdout.utf8)) as? [[String: Any]] ?? []
        let copies = listed.first?["offsite"] as? [[String: Any]] ?? []
        #expect(copies.count == 1 && copies.first?["destination"] as? String == "nas" && copies.first?["status"] as? String == "pending")
        let table = try CLI.run(["list"] + store.storeArguments).stdout
        #expect(table.contains("OFF-SITE") && table.contains("nas pending"))

        // The database check on record: "ok" after a backup with its check, "not yet" without one.
        #expect(listed.first?["integrityCheck"] as? String == "ok")
        #expect(try CLI.run(["backup", "--kind", "db-full", "--skip-integrity-check", "--json"] + store.storeArguments).status == 0)
        let unchecked = try JSONSerialization.jsonObject(with: Data(try CLI.run(["list", "--json"] + store.storeArguments).stdout.utf8)) as? [[String: Any]] ?? []
        #expect(unchecked.first?["integrityCheck"] == nil && unchecked.first?["status"] as? String == "succeeded")
        let checks = try CLI.run(["list"] + store.storeArguments).stdout.split(separator: "\n").dropFirst().map { $0.split(separator: " ", omittingEmptySubsequences: true) }
        #expect(table.contains("DB CHECK") && checks.first?.contains("not") == true && checks.dropFirst().first?.contains("ok") == true)
    }

    @Test("restore without --yes changes nothing and exits 2")
    func restoreNeedsConfirmation() throws {
        let store = try DemoFixture(sizeMB: 3)
        _ = try CLI.run(["backup", "--json"] + store.storeArguments)
        let before = try sha256(store.layout.posDatabase)
        let result = try CLI.run(["restore", "1"] + store.storeArguments)
        #expect(result.status == 2)
        #expect(result.stderr.contains("--yes"))
        #expect(try sha256(store.layout.posDatabase) == before)
    }

    @Test("A damaged archive: verify exits 1 with the reason; restore exits 1 naming the untouched database")
    func damagedArchive() throws {
        let store = try DemoFixture(sizeMB: 3)
        let job = try CLI.run(["backup", "--json"] + store.storeArguments).json(BackupRecord.self)
        var data = try Data(contentsOf: URL(fileURLWithPath: job.path!))
        data[4000] ^= 0x80
        try data.write(to: URL(fileURLWithPath: job.path!))

        let verify = try CLI.run(["verify", "\(job.id!)", "--json"] + store.storeArguments)
        #expect(verify.status == 1)
        #expect(verify.stdout.contains("\"status\" : \"failed\""))
        #expect(verify.stderr.contains("checksum does not match"))

        let before = try sha256(store.layout.posDatabase)
        let restore = try CLI.run(["restore", "\(job.id!)", "--yes"] + store.storeArguments)
        #expect(restore.status == 1)
        #expect(restore.stderr.contains("was not changed"))
        #expect(try sha256(store.layout.posDatabase) == before)
    }

    @Test("Unknown ids, missing files and missing settings are clear errors")
    func badArguments() throws {
        let store = try DemoFixture(sizeMB: 3)
        let unknown = try CLI.run(["verify", "999"] + store.storeArguments)
        #expect(unknown.status != 0 && unknown.stderr.contains("no backup with id 999"))
        let missing = try CLI.run(["verify", "/nonexistent.zip"] + store.storeArguments)
        #expect(missing.status != 0 && missing.stderr.contains("neither a backup id nor an existing file"))
        let noDB = try CLI.run(["backup", "--data-dir", store.dataDir.path])
        #expect(noDB.status != 0 && noDB.stderr.contains("--pos-db"))
        let badKind = try CLI.run(["backup", "--kind", "hourly"] + store.storeArguments)
        #expect(badKind.status != 0)
    }

    @Test("A config file supplies the store paths; flags override it")
    func configFile() throws {
        let store = try DemoFixture(sizeMB: 3)
        let file = store.root.appendingPathComponent("caps.toml")
        try Data("""
            [store]
            pos_db = "store/pos.db"
            [service]
            data_dir = "data-from-file"
            """.utf8).write(to: file)
        let fromFile = try CLI.run(["backup", "--config", file.path, "--json"])
        #expect(fromFile.status == 0, "\(fromFile.stderr)")
        #expect(try fromFile.json(BackupRecord.self).path?.hasPrefix(store.root.appendingPathComponent("data-from-file").path) == true)
        let overridden = try CLI.run(["backup", "--config", file.path, "--data-dir", store.dataDir.path, "--json"])
        #expect(try overridden.json(BackupRecord.self).path?.hasPrefix(store.dataDir.path) == true)
    }
}
