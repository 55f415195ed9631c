import BackupCore
import Foundation

/// Finds (or creates) `<folder>/<store_name>/<sub>/` by name and parent, and remembers the ids: Drive
/// allows several folders of one name, so the first one found is the one used from then on.
actor DriveFolders {
    private let http: DriveHTTP
    private let path: [String]
    private var known: [String: String] = [:]

    init(http: DriveHTTP, folder: String, storeName: String) {
        self.http = http
        path = [folder, storeName]
    }

    /// The store's folder, or nil when it does not exist and `create` is false.
    func store(create: Bool) async throws -> String? {
        var parent = "root"
        for (depth, name) in path.enumerated() {
            let key = path[...depth].joined(separator: "/")
            if let id = known[key] {
                parent = id
                continue
            }
            var found = try await find(name, in: parent)
            if found == nil, create { found = try await make(name, in: parent) }
            guard let id = found else { return nil }
            known[key] = id
            parent = id
        }
        return parent
    }

    /// `<store>/<sub>`, created when missing.
    func sub(_ name: String) async throws -> String {
        let key = (path + [name]).joined(separator: "/")
        if let id = known[key] { return id }
        let store = try await store(create: true)!
        var id = try await find(name, in: store)
        if id == nil { id = try await make(name, in: store) }
        known[key] = id!
        return id!
    }

    /// Every folder in the store's folder (`db`, `files`, `full`), by name.
    func subs() async throws -> [(name: String, id: String)] {
        guard let store = try await store(create: false) else { return [] }
        return try await files(query: "\(DriveLayout.literal(store)) in parents and mimeType = \(DriveLayout.literal(DriveFile.folderType)) and trashed = false")
            .map { ($0.name, $0.id) }
    }

    /// Every file a query finds, page after page.
    func files(query: String) async throws -> [DriveFile] {
        var found: [DriveFile] = []
        var token: String?
        repeat {
            var query = [("q", query), ("pageSize", "1000"), ("fields", "nextPageToken,files(\(DriveFile.fields))")]
            if let token { query.append(("pageToken", token)) }
            let reply = try await http.send(.GET, http.url("/drive/v3/files", query))
            let page = try Self.decode(DriveFileList.self, reply)
            found += page.files
            token = page.nextPageToken
        } while token != nil
        return found
    }

    private func find(_ name: String, in parent: String) async throws -> String? {
        try await files(query: "name = \(DriveLayout.literal(name)) and \(DriveLayout.literal(parent)) in parents and mimeType = \(DriveLayout.literal(DriveFile.folderType)) and trashed = false").first?.id
    }

    private func make(_ name: String, in parent: String) async throws -> String {
        let body = try JSONSerialization.data(withJSONObject: ["name": name, "mimeType": DriveFile.folderType, "parents": [parent]])
        let reply = try await http.send(.POST, http.url("/drive/v3/files", [("fields", "id,name,mimeType")]),
                                        headers: [("Content-Type", "application/json; charset=UTF-8")], body: { .bytes(body) })
        return try Self.decode(DriveFile.self, reply).id
    }

    static func decode<T: Decodable>(_ type: T.Type, _ reply: DriveHTTP.Reply) throws -> T {
        do { return try JSONDecoder().decode(type, from: Data(reply.body.readableBytesView)) } catch {
            throw DestinationError(.transient(retryAfter: nil), "Google Drive sent an answer that could not be read: \(error)")
        }
    }
}
