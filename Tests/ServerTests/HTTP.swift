import BackupCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A deliberately small HTTP/1.1 client over a POSIX socket, for what a buffering test client
/// cannot show: bytes as they arrive (Server-Sent Events), a 256 MiB download hashed on the fly
/// without keeping it, an upload streamed from a file. One request per connection.
/// Blocking calls run on a dispatch queue, off Swift's cooperative pool (which the server in the
/// same process needs).
struct HTTP: Sendable {
    let port: Int

    struct Response: Sendable {
        var status: Int
        var headers: [String: String]
        var body: Data
        func header(_ name: String) -> String? { headers[name.lowercased()] }
        var text: String { String(decoding: body, as: UTF8.self) }
        func json() throws -> [String: Any] { try ServerTests.json(body) }
        func decode<T: Decodable>(_ type: T.Type) throws -> T { try Manifest.decoder.decode(T.self, from: body) }
        var errorCode: String? { ((try? json())?["error"] as? [String: Any])?["code"] as? String }
        var errorMessage: String? { ((try? json())?["error"] as? [String: Any])?["message"] as? String }
    }

    enum Body: Sendable {
        case none
        case data(Data, contentType: String)
        case file(URL, contentType: String)
        /// Sent with `Transfer-Encoding: chunked` (no length declared), in chunks of `chunkSize`.
        case chunked(Data, chunkSize: Int, contentType: String)
    }

    func get(_ path: String, token: String? = nil, headers: [String: String] = [:]) async throws -> Response {
        try await request("GET", path, token: token, headers: headers)
    }

    func post(_ path: String, token: String? = nil, json body: String? = nil) async throws -> Response {
        try await request("POST", path, token: token, body: body.map { .data(Data($0.utf8), contentType: "application/json") } ?? .none)
    }

    /// - Parameter onBody: receives the body as it arrives (de-chunked); the response's `body` is then empty.
    func request(_ method: String, _ path: String, token: String? = nil, headers: [String: String] = [:], body: Body = .none,
                 onBody: (@Sendable (Data) -> Void)? = nil) async throws -> Response {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try perform(method, path, token: token, headers: headers, body: body, onBody: onBody) })
            }
        }
    }

    private func perform(_ method: String, _ path: String, token: String?, headers: [String: String], body: Body,
                         onBody: (@Sendable (Data) -> Void)?) throws -> Response {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket: \(errno)") }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { throw TestFailure("connect to port \(port): errno \(errno)") }

        // A test may name another host (`headers["Host"]`).
        var head = "\(method) \(path) HTTP/1.1\r\n"
            + (headers.keys.contains { $0.lowercased() == "host" } ? "" : "Host: 127.0.0.1:\(port)\r\n") + "Connection: close\r\n"
        if let token { head += "Authorization: Bearer \(token)\r\n" }
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        switch body {
        case .none:
            if method == "POST" || method == "PUT" { head += "Content-Length: 0\r\n" }
        case .data(let data, let type):
            head += "Content-Type: \(type)\r\nContent-Length: \(data.count)\r\n"
        case .file(let url, let type):
            let size = try FileManager.default.attributesOfItem(atPath: url.path)[.size] as! Int
            head += "Content-Type: \(type)\r\nContent-Length: \(size)\r\n"
        case .chunked(_, _, let type):
            head += "Content-Type: \(type)\r\nTransfer-Encoding: chunked\r\n"
        }
        head += "\r\n"
        try sendAll(fd, Data(head.utf8))
        switch body {
        case .none: break
        case .data(let data, _): try sendAll(fd, data)
        case .file(let url, _):
            let handle = try FileHandle(forReadingFrom: url)
            defer { try? handle.close() }
            while let chunk = try handle.read(upToCount: 1 << 20), !chunk.isEmpty { try sendAll(fd, chunk) }
        case .chunked(let data, let size, _):
            var offset = 0
            while offset < data.count {
                let piece = data[offset..<min(data.count, offset + size)]
                try sendAll(fd, Data("\(String(piece.count, radix: 16))\r\n".utf8) + piece + Data("\r\n".utf8))
                offset += piece.count
            }
            try sendAll(fd, Data("0\r\n\r\n".utf8))
        }

        var parser = ResponseParser(onBody: onBody)
        var buffer = [UInt8](repeating: 0, count: 256 << 10)
        while !parser.complete {
            let n = recv(fd, &buffer, buffer.count, 0)
            if n < 0 { if errno == EINTR { continue }; throw TestFailure("recv: errno \(errno)") }
            if n == 0 { break }
            try parser.feed(buffer[0..<n])
        }
        guard let response = parser.response else { throw TestFailure("connection closed before a response") }
        return response
    }

    private func sendAll(_ fd: Int32, _ data: Data) throws {
        try data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if n < 0 {
                    if errno == EINTR { continue }
                    // The server may answer (413, 409) and close before reading the whole body.
                    if errno == EPIPE || errno == ECONNRESET { return }
                    throw TestFailure("send: errno \(errno)")
                }
                offset += n
            }
        }
    }
}

/// Parses a response as bytes arrive: status line and headers, then a body that is chunked,
/// Content-Length delimited, or read to the end of the connection.
struct ResponseParser {
    var onBody: (@Sendable (Data) -> Void)?
    private var pending = Data()
    private var status: Int?
    private var headers: [String: String] = [:]
    private var body = Data()
    private var remaining: Int?      // Content-Length left
    private var chunked = false
    private var chunkLeft = 0        // bytes of the current chunk left (+2 for its CRLF handled separately)
    private var inChunkData = false
    private(set) var complete = false

    init(onBody: (@Sendable (Data) -> Void)?) { self.onBody = onBody }

    var response: HTTP.Response? { status.map { HTTP.Response(status: $0, headers: headers, body: body) } }

    mutating func feed(_ bytes: ArraySlice<UInt8>) throws {
        pending.append(contentsOf: bytes)
        if status == nil {
            guard let end = pending.range(of: Data("\r\n\r\n".utf8)) else { return }
            let head = String(decoding: pending[..<end.lowerBound], as: UTF8.self).components(separatedBy: "\r\n")
            pending = Data(pending[end.upperBound...])
            let statusParts = head[0].split(separator: " ")
            guard statusParts.count >= 2, let code = Int(statusParts[1]) else { throw TestFailure("bad status line \(head[0])") }
            status = code
            for line in head.dropFirst() {
                guard let colon = line.firstIndex(of: ":") else { continue }
                headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            }
            chunked = headers["transfer-encoding"]?.lowercased().contains("chunked") ?? false
            if !chunked, let length = headers["content-length"].flatMap(Int.init) { remaining = length }
            if remaining == 0 { complete = true }
        }
        if chunked { try dechunk() } else { passThrough() }
    }

    private mutating func emit(_ data: Data) {
        guard !data.isEmpty else { return }
        if let onBody { onBody(data) } else { body.append(data) }
    }

    private mutating func passThrough() {
        var data = pending
        pending = Data()
        if let left = remaining {
            if data.count > left { data = data.prefix(left) }
            remaining = left - data.count
            if remaining == 0 { complete = true }
        }
        emit(data)
    }

    private mutating func dechunk() throws {
        while !complete {
            if inChunkData {
                let take = min(chunkLeft, pending.count)
                emit(Data(pending.prefix(take)))
                pending = Data(pending.dropFirst(take))
                chunkLeft -= take
                if chunkLeft > 0 { return }
                guard pending.count >= 2 else { return }
                pending = Data(pending.dropFirst(2))
                inChunkData = false
            } else {
                guard let lineEnd = pending.range(of: Data("\r\n".utf8)) else { return }
                let sizeText = String(decoding: pending[..<lineEnd.lowerBound], as: UTF8.self).split(separator: ";")[0]
                guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { throw TestFailure("bad chunk size \(sizeText)") }
                pending = Data(pending[lineEnd.upperBound...])
                if size == 0 { complete = true; return }
                chunkLeft = size
                inChunkData = true
            }
        }
    }
}
