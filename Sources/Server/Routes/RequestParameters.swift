import BackupCore
import Hummingbird

/// Reading path and query parameters with the API's rules: a value that is present but not valid
/// is a 400 that names the parameter (never silently ignored, never a 500).
extension Request {
    func queryInt(_ name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = uri.queryParameters[Substring(name)] else { return value }
        guard let number = Int(text), range.contains(number) else {
            throw APIError.badRequest("The query parameter \(name) must be a whole number from \(range.lowerBound) to \(range.upperBound).")
        }
        return number
    }

    func queryBool(_ name: String, default value: Bool) throws -> Bool {
        guard let text = uri.queryParameters[Substring(name)] else { return value }
        switch text.lowercased() {
        case "true": return true
        case "false": return false
        default: throw APIError.badRequest("The query parameter \(name) must be true or false.")
        }
    }

    func queryEnum<T: RawRepresentable>(_ name: String, _ type: T.Type, allowed: [T]) throws -> T? where T.RawValue == String {
        guard let text = uri.queryParameters[Substring(name)] else { return nil }
        guard let value = T(rawValue: String(text)), allowed.contains(where: { $0.rawValue == value.rawValue }) else {
            throw APIError.badRequest("The query parameter \(name) must be one of: \(allowed.map(\.rawValue).joined(separator: ", ")).")
        }
        return value
    }

    /// A destructive action needs `confirm=true`: the dashboard asks the person, the API checks it was asked.
    func requireConfirmation(_ what: String) throws {
        guard try queryBool("confirm", default: false) else { throw APIError.confirmationRequired(what) }
    }
}

extension APIRequestContext {
    /// The `{id}` of the path: a positive whole number.
    func id(_ name: String = "id") throws -> Int64 {
        guard let text = parameters.get(name), let id = Int64(text), id > 0 else {
            throw APIError.badRequest("The \(name) in the path must be a positive whole number.")
        }
        return id
    }
}

/// Page parameters shared by every list.
struct Paging {
    static let defaultLimit = 50
    static let maxLimit = 500
    var limit: Int
    var offset: Int

    init(_ request: Request) throws {
        limit = try request.queryInt("limit", default: Self.defaultLimit, range: 1...Self.maxLimit)
        offset = try request.queryInt("offset", default: 0, range: 0...1_000_000_000)
    }
}

extension JobStatus: CaseIterable {
    public static var allCases: [JobStatus] { [.running, .succeeded, .failed, .deleted] }
}
