import BackupCore
import Foundation
import Hummingbird

/// The API's JSON: camelCase keys (as the CLI's `--json`), times in ISO 8601 UTC with milliseconds
/// (`Timestamp`), keys sorted so responses are stable to read and to diff.
enum JSON {
    static let encoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .custom { date, encoder in
            var c = encoder.singleValueContainer()
            try c.encode(Timestamp.iso8601(date))
        }
        return e
    }()

    static let decoder: JSONDecoder = Manifest.decoder

    static func encode<T: Encodable>(_ value: T) throws -> ByteBuffer {
        ByteBuffer(bytes: try encoder.encode(value))
    }

    /// A JSON response. Every API response, errors included, goes through here.
    static func response<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) throws -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        fields[.cacheControl] = "no-store"
        return Response(status: status, headers: fields, body: .init(byteBuffer: try encode(value)))
    }
}

/// Decodes request bodies strictly: malformed JSON, a missing field, a field of the wrong type and
/// an unknown field are all refused with the field's path, so a typo in a setting is never
/// silently dropped (the same rule as the config file).
enum StrictJSON {
    /// Request bodies are small documents; anything bigger is refused before it is parsed.
    static let maxBodySize = 1 << 20

    static func decode<T: Codable>(_ type: T.Type, from request: Request, shape: T) async throws -> T {
        let buffer: ByteBuffer
        do {
            buffer = try await request.body.collect(upTo: maxBodySize)
        } catch {
            throw APIError(.contentTooLarge, "payload_too_large", "The request body is larger than \(ByteCount.format(maxBodySize)).")
        }
        return try decode(type, from: Data(buffer.readableBytesView), shape: shape)
    }

    /// - Parameter shape: a value of `T` with every optional field set, whose encoding lists every
    ///   key `T` knows; any other key in the input is an unknown field.
    static func decode<T: Codable>(_ type: T.Type, from data: Data, shape: T) throws -> T {
        guard !data.isEmpty else { throw APIError(.badRequest, "bad_request", "The request body is empty; a JSON object is expected.") }
        let input: Any
        do {
            input = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
        } catch {
            throw APIError(.badRequest, "malformed_json", "The request body is not valid JSON.")
        }
        let known = try JSONSerialization.jsonObject(with: JSON.encoder.encode(shape))
        var unknown: [String] = []
        collectUnknownKeys(input, known, path: "", into: &unknown)
        if !unknown.isEmpty {
            throw APIError(.badRequest, "unknown_field", "Unknown field\(unknown.count == 1 ? "" : "s"): \(unknown.joined(separator: ", ")).",
                           fields: unknown.map { APIError.Field(field: $0, message: "Unknown field.") })
        }
        do {
            return try JSON.decoder.decode(type, from: data)
        } catch let error as DecodingError {
            let (field, message) = describe(error)
            throw APIError(.badRequest, "invalid_field", field.isEmpty ? message : "\(field): \(message)",
                           fields: [APIError.Field(field: field, message: message)])
        }
    }

    private static func collectUnknownKeys(_ input: Any, _ known: Any, path: String, into unknown: inout [String]) {
        if let object = input as? [String: Any], let knownObject = known as? [String: Any] {
            for key in object.keys.sorted() {
                let child = path.isEmpty ? key : "\(path).\(key)"
                guard let knownValue = knownObject[key] else {
                    unknown.append(child)
                    continue
                }
                collectUnknownKeys(object[key]!, knownValue, path: child, into: &unknown)
            }
        } else if let array = input as? [Any], let knownArray = known as? [Any], let element = knownArray.first {
            for (i, item) in array.enumerated() { collectUnknownKeys(item, element, path: "\(path)[\(i)]", into: &unknown) }
        }
    }

    private static func describe(_ error: DecodingError) -> (String, String) {
        func path(_ keys: [any CodingKey]) -> String {
            keys.reduce("") { text, key in
                if let index = key.intValue { return "\(text)[\(index)]" }
                return text.isEmpty ? key.stringValue : "\(text).\(key.stringValue)"
            }
        }
        switch error {
        case .keyNotFound(let key, let context):
            return (path(context.codingPath + [key]), "This field is required.")
        case .typeMismatch(let type, let context):
            return (path(context.codingPath), "Must be \(typeName(type)).")
        case .valueNotFound(let type, let context):
            return (path(context.codingPath), "Must be \(typeName(type)), not null.")
        case .dataCorrupted(let context):
            return (path(context.codingPath), context.codingPath.isEmpty ? "The request body is not valid JSON." : "Invalid value.")
        @unknown default:
            return ("", "The request body does not match the expected document.")
        }
    }

    private static func typeName(_ type: Any.Type) -> String {
        switch type {
        case is Int.Type, is Int64.Type: "an integer"
        case is Bool.Type: "true or false"
        case is String.Type: "a string"
        case is Double.Type: "a number"
        case is [Any].Type: "an array"
        default: "an object"
        }
    }
}
