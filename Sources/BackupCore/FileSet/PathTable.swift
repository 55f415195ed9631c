import Foundation

/// Many paths in one byte buffer: path `i` is `bytes[ends[i - 1] ..< ends[i]]`. A `String` per path
/// costs a heap block (~48 bytes of overhead on ~30 bytes of text); at 200,000 files the walk and the
/// previous manifest each held ~20 MB of them. Here a path costs its bytes plus 4.
struct PathTable: Sendable {
    private(set) var bytes: [UInt8] = []
    private(set) var ends: [UInt32] = []

    var count: Int { ends.count }

    mutating func append(_ path: String) {
        var path = path
        path.withUTF8 { append($0) }
    }

    mutating func append(_ path: UnsafeBufferPointer<UInt8>) {
        bytes.append(contentsOf: path)
        precondition(bytes.count <= Int(UInt32.max), "more than 4 GiB of path names")
        ends.append(UInt32(bytes.count))
    }

    /// Gives back the spare capacity that growing by doubling left (up to half).
    mutating func compact() {
        bytes = bytes.compacted()
        ends = ends.compacted()
    }

    func range(_ i: Int) -> Range<Int> {
        (i == 0 ? 0 : Int(ends[i - 1]))..<Int(ends[i])
    }

    func withPath<T>(_ i: Int, _ body: (UnsafeBufferPointer<UInt8>) throws -> T) rethrows -> T {
        let r = range(i)
        return try bytes.withUnsafeBufferPointer { try body(UnsafeBufferPointer(rebasing: $0[r])) }
    }

    func string(_ i: Int) -> String {
        withPath(i) { String(decoding: $0, as: UTF8.self) }
    }

    /// FNV-1a, 64 bits: for the path index below.
    static func hash(_ bytes: UnsafeBufferPointer<UInt8>) -> UInt64 {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            h = (h ^ UInt64(byte)) &* 0x100_0000_01b3
        }
        return h
    }
}

/// Finds a path's number in a `PathTable` by its exact bytes: open addressing over 32-bit slots, so
/// about 10 bytes per path, and one hash and one or two `memcmp` per lookup. Read-only once built,
/// so any number of threads may look up at once.
struct PathIndex: Sendable {
    private var slots: [Int32]
    private let mask: Int

    /// Indexes every path of `table`; for paths that occur twice, the later one wins (as in a dictionary).
    init(_ table: PathTable) {
        var size = 16
        while size < table.count * 2 { size <<= 1 }
        mask = size - 1
        slots = [Int32](repeating: -1, count: size)
        table.bytes.withUnsafeBufferPointer { all in
            for i in 0..<table.count {
                let path = UnsafeBufferPointer(rebasing: all[table.range(i)])
                var s = Int(truncatingIfNeeded: PathTable.hash(path)) & mask
                while slots[s] >= 0 {
                    if Self.equal(UnsafeBufferPointer(rebasing: all[table.range(Int(slots[s]))]), path) { break }
                    s = (s + 1) & mask
                }
                slots[s] = Int32(i)
            }
        }
    }

    func find(_ path: UnsafeBufferPointer<UInt8>, in table: PathTable) -> Int? {
        var s = Int(truncatingIfNeeded: PathTable.hash(path)) & mask
        return table.bytes.withUnsafeBufferPointer { all -> Int? in
            while slots[s] >= 0 {
                let i = Int(slots[s])
                if Self.equal(UnsafeBufferPointer(rebasing: all[table.range(i)]), path) { return i }
                s = (s + 1) & mask
            }
            return nil
        }
    }

    private static func equal(_ a: UnsafeBufferPointer<UInt8>, _ b: UnsafeBufferPointer<UInt8>) -> Bool {
        a.count == b.count && (a.count == 0 || memcmp(a.baseAddress!, b.baseAddress!, a.count) == 0)
    }
}

extension Array {
    /// A copy without spare capacity.
    func compacted() -> [Element] {
        guard capacity > count else { return self }
        return [Element](unsafeUninitializedCapacity: count) { buffer, initialized in
            _ = buffer.initialize(from: self)
            initialized = count
        }
    }
}
