import BackupCore
import Destinations
import Foundation

/// The Drive connections the dashboard has started and not yet finished, in memory:
/// - a code-flow connect is keyed by its `state`: single-use, valid for 10 minutes, bound to the admin
///   who started it (the callback, which carries no bearer token, is audited as that admin);
/// - a device-flow connect is keyed by a `connect_id` the dashboard polls, while a task polls Google.
final class DriveConnects: Sendable {
    static let lifetime: TimeInterval = 600

    struct CodeConnect: Sendable {
        var request: GoogleOAuth.CodeRequest
        var actor: BackupContext.Actor
        var expiresAt: Date
    }

    enum DeviceState: String, Codable, Sendable { case pending, connected, denied, expired, failed }

    struct DeviceConnect: Sendable {
        var state: DeviceState
        var account: String?
        var message: String?
        var startedAt: Date
    }

    private let codes = Locked<[String: CodeConnect]>([:])
    private let devices = Locked<[String: DeviceConnect]>([:])
    let now: @Sendable () -> Date

    init(now: @escaping @Sendable () -> Date) { self.now = now }

    func addCode(_ request: GoogleOAuth.CodeRequest, actor: BackupContext.Actor) {
        let at = now()
        codes.withLock { codes in
            codes = codes.filter { $0.value.expiresAt > at }
            codes[request.state] = CodeConnect(request: request, actor: actor, expiresAt: at.addingTimeInterval(Self.lifetime))
        }
    }

    /// The connect `state` names, removed as it is taken (a second use finds nothing); nil when unknown or expired.
    func takeCode(state: String) -> CodeConnect? {
        let at = now()
        return codes.withLock { codes in
            guard let connect = codes.removeValue(forKey: state), connect.expiresAt > at else { return nil }
            return connect
        }
    }

    func addDevice(id: String) {
        let at = now()
        devices.withLock { devices in
            devices = devices.filter { at.timeIntervalSince($0.value.startedAt) < 2 * 3600 }
            devices[id] = DeviceConnect(state: .pending, startedAt: at)
        }
    }

    func updateDevice(id: String, _ change: (inout DeviceConnect) -> Void) {
        devices.withLock { if var connect = $0[id] { change(&connect); $0[id] = connect } }
    }

    func device(id: String) -> DeviceConnect? { devices.withLock { $0[id] } }

    static func newId() -> String { GoogleOAuth.CodeRequest(redirectURI: "").state }
}
