import BackupCore
import Crypto
import Foundation

/// A destination in memory, for tests of what sits above destinations (the uploader, reconcile,
/// remote retention, restore from off-site). It keeps several objects under one name, as Drive does,
/// and lets a test count calls and cut an upload after a number of bytes.
public final class InMemoryDestination: Destination, @unchecked Sendable {
    public let name: String
    private let lock = NSLock()
    private var objects: [String: (object: RemoteObject, bytes: [UInt8])] = [:]
    private var sessions: [String: [UInt8]] = [:]
    private var nextId = 1
    private var calls: [String: Int] = [:]
    private var cutAfter: UInt64?

    public init(name: String = "memory") { self.name = name }

    /// The next `put` stores `bytes` and then fails as a dropped connection would (transient).
    public func cutNextUpload(after bytes: UInt64) { lock.withLock { cutAfter = bytes } }

    /// How many times each operation was called (`put`, `list`, `get`, `delete`, `stat`).
    public func callCount(_ operation: String) -> Int { lock.withLock { calls[operation, default: 0] } }

    public func put(_ request: UploadRequest, resuming session: String?, onSession: @escaping @Sendable (String) -> Void,
                    progress: @escaping @Sendable (UInt64) -> Void) async throws -> RemoteObject {
        let (id, held, cut): (String, [UInt8], UInt64?) = lock.withLock {
            calls["put", default: 0] += 1
            let cut = cutAfter
            cutAfter = nil
            if let session, let held = sessions[session] { return (session, held, cut) }
            let id = "session-\(nextId)"
            nextId += 1
            sessions[id] = []
            return (id, [], cut)
        }
        onSession(id)
        let data = [UInt8](try Data(contentsOf: request.file))
        guard UInt64(data.count) == request.size else { throw DestinationError(.permanent, "\(request.file.path) is not \(request.size) bytes.") }
        var stored = held
        let end = cut.map { min(UInt64(data.count), $0) } ?? UInt64(data.count)
        if UInt64(stored.count) < end { stored += data[stored.count..<Int(end)] }
        lock.withLock { sessions[id] = stored }
        progress(UInt64(stored.count))
        if cut != nil, stored.count < data.count { throw DestinationError(.transient(retryAfter: nil), "The connection was cut (test).") }
        try Task.checkCancellation()
        let object = lock.withLock { () -> RemoteObject in
            sessions[id] = nil
            let object = RemoteObject(id: "object-\(nextId)", name: request.name, size: UInt64(stored.count),
                                      checksum: Checksum(.md5, Insecure.MD5.hash(data: stored).map { String(format: "%02x", $0) }.joined()),
                                      metadata: request.metadata, modifiedAt: Date())
            nextId += 1
            objects[object.id] = (object, stored)
            return object
        }
        return object
    }

    public func list(prefix: String) async throws -> [RemoteObject] {
        lock.withLock {
            calls["list", default: 0] += 1
            return objects.values.map(\.object).filter { $0.name.hasPrefix(prefix) }.sorted { ($0.name, $0.id) < ($1.name, $1.id) }
        }
    }

    public func get(_ id: String, range: Range<UInt64>?, into sink: @escaping @Sendable ([UInt8]) throws -> Void) async throws {
        let bytes: [UInt8]? = lock.withLock {
            calls["get", default: 0] += 1
            return objects[id]?.bytes
        }
        guard let bytes else { throw DestinationError(.notFound, "There is no object \(id).") }
        let wanted = range.map { $0.clamped(to: 0..<UInt64(bytes.count)) } ?? 0..<UInt64(bytes.count)
        try sink(Array(bytes[Int(wanted.lowerBound)..<Int(wanted.upperBound)]))
    }

    public func delete(_ id: String) async throws {
        lock.withLock {
            calls["delete", default: 0] += 1
            objects[id] = nil
        }
    }

    public func stat(_ id: String) async throws -> RemoteObject? {
        lock.withLock {
            calls["stat", default: 0] += 1
            return objects[id]?.object
        }
    }
}
