@testable import BackupCore
import Foundation
import GRDBSQLite
import Testing

/// How many times the test function `canary()` ran, on any connection.
nonisolated(unsafe) private var canaryCalls = 0

/// Registers `canary(x)`, an application function with a side effect (not SQLITE_INNOCUOUS): the kind
/// of function a hostile schema must not reach.
private func registerCanary(_ connection: SQLiteConnection) {
    let rc = sqlite3_create_function_v2(connection.handle, "canary", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, nil, { context, _, _ in
        canaryCalls += 1
        sqlite3_result_int(context, 1)
    }, nil, nil, nil)
    precondition(rc == SQLITE_OK)
}

/// Issue 12, small finding: every connection to a database image that came from an archive (or from
/// elsewhere) runs in defensive mode with `trusted_schema=OFF`.
@Suite("Images from archives are opened defensively, their schema untrusted", .serialized)
struct UntrustedImageTests {
    /// An image with an index on `canary(x)`: `PRAGMA integrity_check` computes every row's index key.
    func hostileImage(_ dir: TemporaryDirectory) throws -> URL {
        let url = dir.path("hostile.sqlite")
        let create = try SQLiteConnection(path: url.path, mode: .create)
        registerCanary(create)
        try create.execute("CREATE TABLE t(x); CREATE INDEX t_canary ON t(canary(x)); INSERT INTO t VALUES (1), (2), (3);")
        return url
    }

    @Test("An untrusted connection reports defensive mode and trusted_schema=OFF; an ordinary one does not")
    func settings() throws {
        let dir = TemporaryDirectory("untrusted")
        let url = try hostileImage(dir)
        #expect(try SQLiteConnection(path: url.path, mode: .readOnly, untrusted: true).isUntrustedMode)
        #expect(try SQLiteConnection(path: url.path, mode: .readWrite, untrusted: true).isUntrustedMode)
        #expect(try !SQLiteConnection(path: url.path, mode: .readOnly).isUntrustedMode)
    }

    @Test("The integrity check of a hostile image does not run the functions its schema names")
    func integrityCheckRunsNoSchemaFunctions() throws {
        let dir = TemporaryDirectory("untrusted")
        let url = try hostileImage(dir)
        let trusted = try SQLiteConnection(path: url.path, mode: .readOnly)
        registerCanary(trusted)
        canaryCalls = 0
        _ = try? trusted.integrityProblems()
        #expect(canaryCalls > 0, "premise: integrity_check evaluates index expressions")

        let untrusted = try SQLiteConnection(path: url.path, mode: .readOnly, untrusted: true)
        registerCanary(untrusted)
        canaryCalls = 0
        let outcome = Result { try untrusted.integrityProblems() }
        #expect(canaryCalls == 0)
        if case .success(nil) = outcome { Issue.record("an image whose schema cannot be checked passed as sound") }
        // The check that restores and verification run, on every core, opens its own connections the same way.
        if case .success(nil) = Result(catching: { try ParallelIntegrityCheck(path: url.path).problems() }) {
            Issue.record("the parallel check passed an image whose schema cannot be checked")
        }
    }

    @Test("Defensive mode: SQL cannot rewrite the schema of an untrusted image")
    func defensive() throws {
        let dir = TemporaryDirectory("untrusted")
        let url = try hostileImage(dir)
        let untrusted = try SQLiteConnection(path: url.path, mode: .readWrite, untrusted: true)
        #expect(throws: BackupError.self) {
            try untrusted.execute("PRAGMA writable_schema=ON; UPDATE sqlite_schema SET sql = 'CREATE TABLE t(y)' WHERE name = 't';")
        }
    }
}
