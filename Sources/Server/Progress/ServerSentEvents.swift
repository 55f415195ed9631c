import Foundation
import Hummingbird

/// The `text/event-stream` wire format (HTML Living Standard §9.2): `event:`, `id:` and `data:`
/// lines, a blank line after each event; lines starting with `:` are comments (heartbeats).
enum ServerSentEvents {
    static let headers: HTTPFields = {
        var fields: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-store"]
        // Tells nginx and similar proxies not to buffer the stream.
        fields[.init("X-Accel-Buffering")!] = "no"
        return fields
    }()

    static func event(_ name: String, id: Int? = nil, data: some Encodable) throws -> ByteBuffer {
        let json = String(decoding: try JSON.encoder.encode(data), as: UTF8.self)
        var text = "event: \(name)\n"
        if let id { text += "id: \(id)\n" }
        // JSON from JSONEncoder has no raw newlines, so one data line carries it.
        text += "data: \(json)\n\n"
        return ByteBuffer(string: text)
    }

    static let heartbeat = ByteBuffer(string: ": keep-alive\n\n")
}
