@testable import BackupCore
import Foundation
import GRDBSQLite
import Testing

/// Issue 15, part 2: the integrity check on every core must prove what SQLite's whole-file check proves.
@Suite("The integrity check, table by table on every core")
struct ParallelIntegrityCheckTests {
    /// Tables of different sizes, a table without rowid and a full-text index (a virtual table with
    /// shadow tables), as a POS schema may have.
    func store(_ dir: TemporaryDirectory) throws -> URL {
        let url = dir.path("store.sqlite")
        let db = try SQLiteConnection(path: url.path, mode: .create)
        try db.execute("""
            PRAGMA auto_vacuum = NONE;
            CREATE TABLE small(id INTEGER PRIMARY KEY, note TEXT);
            CREATE TABLE big(id INTEGER PRIMARY KEY, name TEXT, qty INTEGER);
            CREATE INDEX big_name ON big(name);
            CREATE INDEX big_qty ON big(qty);
            CREATE TABLE settings(key TEXT PRIMARY KEY, value TEXT) WITHOUT ROWID;
            CREATE VIRTUAL TABLE notes USING fts5(body);
            CREATE TABLE scratch(id INTEGER PRIMARY KEY, filler BLOB);
            CREATE TABLE sqlitebox(id INTEGER PRIMARY KEY, v TEXT);
            CREATE INDEX sqlitebox_v ON sqlitebox(v);
            INSERT INTO sqlitebox VALUES (1, 'x');
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4000)
              INSERT INTO big SELECT i, printf('name-%06d', i), i % 97 FROM n;
            INSERT INTO small VALUES (1, 'a'), (2, 'b');
            INSERT INTO settings VALUES ('store', 'one');
            INSERT INTO notes VALUES ('first sale'), ('second sale');
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200)
              INSERT INTO scratch SELECT i, zeroblob(3000) FROM n;
            DELETE FROM scratch;
            """)
        #expect(try db.integer("PRAGMA freelist_count") > 50, "premise: the deleted rows left free pages")
        return url
    }

    @Test("A sound database passes; the costliest table goes first, one without rowid before it, the page accounting last")
    func soundPasses() throws {
        let dir = TemporaryDirectory()
        let url = try store(dir)
        let check = ParallelIntegrityCheck(path: url.path, workers: 2)
        let events = Locked<[ProgressEvent]>([])
        #expect(try check.problems(progress: { event in events.withLock { $0.append(event) } }) == nil)
        let plan = try check.plan(SQLiteConnection(path: url.path, mode: .readOnly, untrusted: true))
        // Without a rowid there is no cheap size: settings and the full-text index's own tables go first.
        let big = try #require(plan.firstIndex(of: .table("big")))
        #expect(Set([.table("settings"), .table("notes_idx"), .table("notes_config")]).isSubset(of: plan[..<big]))
        #expect(try #require(plan.firstIndex(of: .table("small"))) > big && #require(plan.firstIndex(of: .table("scratch"))) > big)
        #expect(plan.last == .pages && !plan.contains(.table("notes")) && plan.contains(.table("notes_data")))
        #expect(plan.contains(.table("sqlitebox")), "a table whose name only looks like SQLite's own is checked with its index")
        let reported = events.withLock { $0 }
        #expect(reported.first?.bytesDone == 0 && reported.last.map { $0.bytesDone == $0.bytesTotal && $0.bytesTotal > 0 } == true)
    }

    @Test("An index entry that differs from its row is found: the partial checks compare every index with its table")
    func damagedIndexIsFound() throws {
        let dir = TemporaryDirectory()
        let url = try store(dir)
        let (page, pageSize) = try leafPage(of: "big_name", in: url)
        var bytes = try pageBytes(url, page: page, pageSize: pageSize)
        let key = Array("name-00".utf8)
        let at = try #require((0..<(bytes.count - key.count)).last { Array(bytes[$0..<($0 + key.count)]) == key })
        bytes[at + key.count + 2] ^= 0x01  // a digit of one key: still a valid record, no longer its row's value
        try write(bytes, to: url, page: page, pageSize: pageSize)

        let problems = try #require(try ParallelIntegrityCheck(path: url.path, workers: 2).problems())
        #expect(problems.contains { $0.contains("big_name") })
    }

    @Test("A page in no b-tree and not on the freelist is found: the page accounting the partial checks leave out")
    func orphanPagesAreFound() throws {
        let dir = TemporaryDirectory()
        let url = try store(dir)
        // Forget the freelist in the header (first trunk page, free page count): its pages become orphans.
        let handle = try FileHandle(forUpdating: url)
        try handle.seek(toOffset: 32)
        handle.write(Data(count: 8))
        try handle.close()

        let check = ParallelIntegrityCheck(path: url.path, workers: 2)
        let db = try SQLiteConnection(path: url.path, mode: .readOnly, untrusted: true)
        for case .table(let name) in try check.plan(db) {
            #expect(try db.rows(ParallelIntegrityCheck.Part.table(name).sql).first?.first == "ok",
                    "premise: a partial check of \(name) does not look for unused pages")
        }
        let problems = try #require(try check.problems())
        #expect(problems.contains { $0.contains("never used") })
    }

    @Test("A file that is not a database is an error, not a pass")
    func notADatabase() throws {
        let dir = TemporaryDirectory()
        let url = dir.path("junk.sqlite")
        try Data(repeating: 0x5A, count: 64 << 10).write(to: url)
        #expect(throws: (any Error).self) { _ = try ParallelIntegrityCheck(path: url.path).problems() }
    }

    private func leafPage(of name: String, in url: URL) throws -> (page: Int, pageSize: Int) {
        let db = try SQLiteConnection(path: url.path, mode: .readOnly)
        let page = try db.integer("SELECT pageno FROM dbstat WHERE name = \(sqlLiteral(name)) AND pagetype = 'leaf' ORDER BY pageno LIMIT 1 OFFSET 3")
        return (page, try db.integer("PRAGMA page_size"))
    }

    private func pageBytes(_ url: URL, page: Int, pageSize: Int) throws -> [UInt8] {
        let handle = try FileHandle(forReadingFrom: url)
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64((page - 1) * pageSize))
        return [UInt8](try handle.read(upToCount: pageSize) ?? Data())
    }

    private func write(_ bytes: [UInt8], to url: URL, page: Int, pageSize: Int) throws {
        let handle = try FileHandle(forUpdating: url)
        defer { try? handle.close() }
        try handle.seek(toOffset: UInt64((page - 1) * pageSize))
        handle.write(Data(bytes))
    }
}
