import BackupCore
import Crypto
import Destinations
import FakeGoogle
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Access tokens straight from the fake's token issuer (what the OAuth session does after a refresh),
/// counting refreshes; `revoke()` makes every later refresh fail as `invalid_grant` does.
final class TestTokens: GoogleAccessTokens, @unchecked Sendable {
    let google: FakeGoogle
    let account: String
    private let lock = NSLock()
    private var current: String?
    private var revoked = false
    private(set) var refreshes = 0

    init(_ google: FakeGoogle, account: String = "store@example.com") {
        self.google = google
        self.account = account
    }

    func revoke() {
        lock.withLock { revoked = true }
        google.accessTokens.revokeAll(account: account)
    }

    var refreshCount: Int { lock.withLock { refreshes } }

    func accessToken(rejected: String?) async throws -> String {
        try lock.withLock {
            if revoked { throw DestinationError(.unauthorized, "The Google grant was revoked (invalid_grant).") }
            if let current, current != rejected { return current }
            if rejected != nil { refreshes += 1 }
            let token = google.accessTokens.issue(account: account, scope: GoogleConfig.scope)
            current = token
            return token
        }
    }
}

func driveConfig(_ url: URL, chunkMiB: Double = 1) -> GoogleConfig {
    var config = GoogleConfig()
    config.driveAPIBase = url
    config.chunkMiB = chunkMiB
    return config
}

/// One fake Google for the whole test process, for the contract suite (each test uses a store folder of its own).
actor SharedFakeGoogle {
    static let instance = SharedFakeGoogle()
    let google = FakeGoogle()
    private var started: Task<URL, Never>?

    func url() async -> URL {
        if let started { return await started.value }
        let google = self.google
        let task = Task<URL, Never> {
            let (urls, continuation) = AsyncStream<URL>.makeStream()
            Task.detached { try? await google.run { continuation.yield($0) } }
            var iterator = urls.makeAsyncIterator()
            return await iterator.next()!
        }
        started = task
        return await task.value
    }
}

/// A TCP relay in front of the fake that can drop the connection after a number of bytes from the
/// client: a line that dies mid-chunk, which Hummingbird's handlers cannot fake from inside.
final class CuttingProxy: @unchecked Sendable {
    private let listener: Int32
    private let upstreamPort: UInt16
    let port: UInt16
    private let lock = NSLock()
    private var cutAfter: Int?
    private var fromClient = 0
    private(set) var cuts = 0

    init(upstream: URL) throws {
        upstreamPort = UInt16(upstream.port!)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = Self.loopback(0)
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard bound == 0, listen(fd, 16) == 0 else { throw POSIXError(.EADDRINUSE) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        listener = fd
        port = UInt16(bigEndian: address.sin_port)
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    var url: URL { URL(string: "http://127.0.0.1:\(port)")! }

    /// The connection carrying the next `bytes` bytes from the client is dropped right after them.
    func cut(afterBytes bytes: Int) { lock.withLock { cutAfter = bytes } }

    /// Every byte the client sent, headers included.
    var bytesFromClient: Int { lock.withLock { fromClient } }
    var cutCount: Int { lock.withLock { cuts } }

    private static func loopback(_ port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            guard client >= 0 else { return }
            let server = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = Self.loopback(upstreamPort)
            let connected = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(server, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard connected == 0 else { close(client); close(server); continue }
            let pair = Pair(client, server)
            Thread { [self] in pump(from: client, to: server, counting: true, pair) }.start()
            Thread { [self] in pump(from: server, to: client, counting: false, pair) }.start()
        }
    }

    private final class Pair: @unchecked Sendable {
        let a: Int32, b: Int32
        private let lock = NSLock()
        private var open = 2
        init(_ a: Int32, _ b: Int32) { self.a = a; self.b = b }
        func stop() { shutdown(a, Int32(SHUT_RDWR)); shutdown(b, Int32(SHUT_RDWR)) }
        func done() {
            stop()
            if lock.withLock({ open -= 1; return open == 0 }) { close(a); close(b) }
        }
    }

    private func pump(from: Int32, to: Int32, counting: Bool, _ pair: Pair) {
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        defer { pair.done() }
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(from, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { return }
            var forward = n
            var cutNow = false
            if counting {
                lock.withLock {
                    if let left = cutAfter {
                        if n >= left {
                            forward = left
                            cutAfter = nil
                            cuts += 1
                            cutNow = true
                        } else {
                            cutAfter = left - n
                        }
                    }
                    fromClient += forward
                }
            }
            var sent = 0
            while sent < forward {
                let m = buffer.withUnsafeBytes { send(to, $0.baseAddress! + sent, forward - sent, Int32(MSG_NOSIGNAL)) }
                guard m > 0 else { return }
                sent += m
            }
            if cutNow { return }
        }
    }
}

/// A file of `size` bytes that differ from MiB to MiB, written a MiB at a time (quick for hundreds of MiB).
func writeLargeFile(_ url: URL, size: Int) throws {
    FileManager.default.createFile(atPath: url.path, contents: nil)
    let handle = try FileHandle(forWritingTo: url)
    defer { try? handle.close() }
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    var block = [UInt64](repeating: 0, count: (1 << 20) / 8)
    for i in block.indices {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        block[i] = state
    }
    var written = 0
    var index: UInt64 = 0
    while written < size {
        block[0] = index
        index += 1
        let count = min(1 << 20, size - written)
        try block.withUnsafeBytes { try handle.write(contentsOf: Data($0.prefix(count))) }
        written += count
    }
}

func md5Hex(of url: URL) throws -> String {
    let handle = try FileHandle(forReadingFrom: url)
    defer { try? handle.close() }
    var md5 = Insecure.MD5()
    while let data = try handle.read(upToCount: 4 << 20), !data.isEmpty { md5.update(data: data) }
    return md5.finalize().map { String(format: "%02x", $0) }.joined()
}
