import Foundation

/// Where things live in a demo store directory. Backup code and tests use these paths
/// rather than spelling them out.
public struct DemoStoreLayout: Sendable, Hashable {
    public let root: URL

    public init(root: URL) { self.root = root }

    /// `root/pos.db`, the POS database (WAL mode).
    public var posDatabase: URL { root.appendingPathComponent("pos.db") }
    /// `root/uploads`.
    public var uploads: URL { root.appendingPathComponent("uploads") }
    /// `root/uploads/products`: product photos, what the weekly file backup protects.
    public var productImages: URL { uploads.appendingPathComponent("products") }
    /// `root/uploads/paint-swatches`: static assets the backup must skip.
    public var paintSwatches: URL { uploads.appendingPathComponent("paint-swatches") }
    /// `root/config`.
    public var configDirectory: URL { root.appendingPathComponent("config") }
    /// The config files the seeder writes.
    public var configFiles: [URL] { ConfigFiles.names.map { configDirectory.appendingPathComponent($0) } }
    /// `root/ledger.tsv`, the simulator's default commit ledger.
    public var ledger: URL { root.appendingPathComponent("ledger.tsv") }
}
