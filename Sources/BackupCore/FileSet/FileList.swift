import Foundation

/// The files of a walk, in walk order, compactly: chunks of 4,096 files, each with its paths in one
/// `PathTable` and a 24-byte record per file (~60 bytes a file, where an array of `FileCandidate` took
/// ~130), and, once `attach`ed, what the previous backup recorded about each (56 bytes a file).
/// Reads as a collection of `FileCandidate` (each access makes the path's `String`).
///
/// A file backup lets the archiver free the chunks behind it (`FileArchiver.archive(…releasing:)`):
/// by the end of the archive, when the ZIP writer holds the most, the list is gone.
public struct FileList: RandomAccessCollection, Sendable {
    static let chunkShift = 12
    static let chunkSize = 1 << chunkShift

    struct Meta {
        var size: UInt64
        var seconds: Int64
        var nanoseconds: Int32
        var mode: UInt16
    }

    final class Chunk: @unchecked Sendable {
        var paths = PathTable()
        var meta: [Meta] = []
        /// Empty, or one per file.
        var recorded: [PackedPreviousFile] = []

        init() {}

        init(copying other: Chunk) {
            paths = other.paths
            meta = other.meta
            recorded = other.recorded
        }
    }

    private var chunks: [Chunk] = []
    private var total = 0

    public init() {}

    public init(_ files: [FileCandidate]) {
        for file in files { append(file) }
    }

    public var startIndex: Int { 0 }
    public var endIndex: Int { total }

    public subscript(index: Int) -> FileCandidate {
        let (chunk, i) = locate(index)
        let m = chunk.meta[i]
        return FileCandidate(path: chunk.paths.string(i), size: m.size,
                             modified: FileTime(seconds: m.seconds, nanoseconds: m.nanoseconds), mode: m.mode)
    }

    /// The size of file `index`, without making its path.
    func size(_ index: Int) -> UInt64 {
        let (chunk, i) = locate(index)
        return chunk.meta[i].size
    }

    func withPath<T>(_ index: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> T) rethrows -> T {
        let (chunk, i) = locate(index)
        return try chunk.paths.withPath(i, body)
    }

    /// What the previous backup recorded about file `index` (see `attach`).
    func recorded(_ index: Int) -> PreviousFile? {
        let (chunk, i) = locate(index)
        return chunk.recorded.isEmpty ? nil : chunk.recorded[i].file
    }

    public mutating func append(_ file: FileCandidate) {
        if total & (Self.chunkSize - 1) == 0 {
            chunks.append(Chunk())
        } else if !isKnownUniquelyReferenced(&chunks[chunks.count - 1]) {
            chunks[chunks.count - 1] = Chunk(copying: chunks[chunks.count - 1])
        }
        let chunk = chunks[chunks.count - 1]
        chunk.paths.append(file.path)
        chunk.meta.append(Meta(size: file.size, seconds: file.modified.seconds, nanoseconds: file.modified.nanoseconds, mode: file.mode))
        total += 1
    }

    /// Gives back the last chunk's spare capacity once the list is complete.
    mutating func compact() {
        guard let last = chunks.last else { return }
        if !isKnownUniquelyReferenced(&chunks[chunks.count - 1]) { chunks[chunks.count - 1] = Chunk(copying: last) }
        let chunk = chunks[chunks.count - 1]
        chunk.paths.compact()
        chunk.meta = chunk.meta.compacted()
    }

    /// Looks every file up in the previous backup's record (by entry name, `prefix` + path) and keeps
    /// what it finds with the file. Returns, for each record of `previous`, whether a file matched it.
    mutating func attach(_ previous: PreviousFileTable, prefix: String, keepRecords: Bool) -> [Bool] {
        var matched = [Bool](repeating: false, count: previous.count)
        guard !previous.isEmpty else { return matched }
        var name = Array(prefix.utf8)
        let prefixLength = name.count
        for c in chunks.indices {
            if keepRecords, !isKnownUniquelyReferenced(&chunks[c]) { chunks[c] = Chunk(copying: chunks[c]) }
            let chunk = chunks[c]
            var recorded: [PackedPreviousFile] = []
            if keepRecords { recorded.reserveCapacity(chunk.meta.count) }
            for i in 0..<chunk.meta.count {
                name.removeSubrange(prefixLength...)
                chunk.paths.withPath(i) { name.append(contentsOf: $0) }
                let found = name.withUnsafeBufferPointer { previous.find($0) }
                if let found { matched[found] = true }
                if keepRecords { recorded.append(found.map { previous.packed($0) } ?? .none) }
            }
            if keepRecords { chunk.recorded = recorded }
        }
        return matched
    }

    /// Frees the chunks that hold only files before `index`. Every copy of this list shares them:
    /// only for a list no one reads below `index` any more.
    /// Returns whether it freed any.
    @discardableResult
    func release(below index: Int) -> Bool {
        let whole = Swift.min(index >> Self.chunkShift, chunks.count)
        var freed = false
        for c in 0..<whole where !chunks[c].meta.isEmpty {
            let chunk = chunks[c]
            chunk.paths = PathTable()
            chunk.meta = []
            chunk.recorded = []
            freed = true
        }
        return freed
    }

    private func locate(_ index: Int) -> (Chunk, Int) {
        (chunks[index >> Self.chunkShift], index & (Self.chunkSize - 1))
    }
}
