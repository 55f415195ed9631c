import BackupCore
import Destinations
import Foundation
import Hummingbird

/// What the Drive routes share: the store's OAuth client, the connects in progress, and the session whose
/// access tokens the uploads use (its state shows an expired or revoked grant before the next upload).
struct DriveServices: Sendable {
    let config: GoogleConfig
    let connects: DriveConnects
    let session: GoogleSession
    let sleep: @Sendable (Double) async throws -> Void
    /// Drains the outbox in the background (`serve` runs it in its service group).
    let uploads: DriveUploadService
    /// Each copy the uploader makes, on the event stream.
    let uploadProgress: UploadProgress

    init(context: BackupContext, configuration: ServerConfiguration, hub: ProgressHub) {
        config = configuration.google
        connects = DriveConnects(now: context.now)
        let session = GoogleSession(config: configuration.google, store: GoogleTokenStore(dataDirectory: context.dataDirectory), now: context.now)
        self.session = session
        sleep = configuration.driveSleep
        let makeDestination = configuration.driveDestination
        let uploadProgress = UploadProgress(hub: hub, context: context)
        self.uploadProgress = uploadProgress
        uploads = DriveUploadService(context: context, destination: {
            guard session.state != .notConnected, session.state != .revoked else { return nil }
            return makeDestination?(session)
        }, afterUploads: { destination in
            let keep = try SettingsStore(catalog: context.catalog).load().retention.remoteKeep
            _ = try await RemoteRetention(context: context, destination: destination, keep: keep).apply()
        }, observer: uploadProgress.observer)
    }

    func connector(_ context: BackupContext) -> GoogleDriveConnector { GoogleDriveConnector(context: context, config: config) }

    func status(_ context: BackupContext) throws -> GoogleDriveStatus {
        var status = try GoogleDriveStatus.load(context: context, config: config, state: session.state)
        status.uploadingBackupId = uploadProgress.current
        return status
    }
}

/// `/api/v1/drive…`: connect Google Drive from the dashboard (code flow with this server's callback, or the
/// device flow), its status, and disconnect. Every route needs MANAGE_SETTINGS except the callback, which
/// the browser brings back from Google without our token and which is accepted only with a live `state`.
struct DriveRoutes {
    let services: APIServices
    var drive: DriveServices { services.drive }
    static let callbackPath = "/api/v1/drive/callback"

    func register(on api: RouterGroup<APIRequestContext>) {
        registerConnect(on: api)
        registerCopies(on: api)
    }

    /// Status and connect: also the fresh-install wizard's (under /api/v1/setup, with the setup code),
    /// which needs Drive connected before it can list the backups there.
    func registerConnect(on api: RouterGroup<APIRequestContext>) {
        api.get("/drive") { _, _ in
            try JSON.response(try await Blocking.run { [services] in try services.drive.status(services.context) })
        }
        api.post("/drive/connect", use: services.auditor.audited("drive.connect.start") { request, context, note in
            note.target = GoogleDriveConnector.destinationName
            let body = try await StrictJSON.decode(ConnectBody.self, from: request, shape: ConnectBody(flow: "code"))
            try requireClient()
            switch body.flow {
            case "code":
                note.detail = "code flow"
                let host = request.head.authority ?? "127.0.0.1:\(context.localPort ?? 0)"
                let codeRequest = GoogleOAuth.CodeRequest(redirectURI: "http://\(host)\(Self.callbackPath)")
                drive.connects.addCode(codeRequest, actor: try context.actor())
                let url = try drive.connector(services.context).oauth.authorizationURL(codeRequest)
                return try JSON.response(CodeStarted(authorization_url: url.absoluteString))
            case "device":
                note.detail = "device flow"
                let connector = drive.connector(services.context)
                let device: GoogleOAuth.DeviceAuthorization
                do { device = try await connector.oauth.startDeviceFlow() } catch let failure as GoogleOAuth.Failure { throw failure.backupError }
                let id = DriveConnects.newId()
                drive.connects.addDevice(id: id)
                let actor = try context.actor()
                let connects = drive.connects
                let sleep = drive.sleep
                Task {
                    do {
                        let grant = try await connector.oauth.pollDeviceFlow(device, sleep: sleep)
                        let account = try await connector.complete(grant, actor: actor)
                        connects.updateDevice(id: id) { $0.state = .connected; $0.account = account }
                    } catch let failure as GoogleOAuth.Failure {
                        connects.updateDevice(id: id) {
                            $0.state = failure == .denied ? .denied : failure == .expired ? .expired : .failed
                            $0.message = failure.description
                        }
                    } catch {
                        connects.updateDevice(id: id) { $0.state = .failed; $0.message = BackupError.wrap(error, "The connection failed.").message }
                    }
                }
                return try JSON.response(DeviceStarted(connect_id: id, verification_url: device.verificationURL, user_code: device.userCode,
                                                       expires_in: device.expiresIn, interval: device.interval))
            default:
                throw APIError(.unprocessableContent, "invalid_input", "flow must be \"code\" or \"device\".",
                               fields: [.init(field: "flow", message: "must be \"code\" or \"device\"")])
            }
        })
        api.get("/drive/connect/{connect_id}") { _, context in
            let id = try context.parameters.require("connect_id")
            guard let connect = drive.connects.device(id: id) else {
                throw APIError.notFound("There is no Google Drive connection in progress with this id (it may have ended more than two hours ago).")
            }
            return try JSON.response(ConnectState(state: connect.state.rawValue, account: connect.account, message: connect.message))
        }
    }

    /// Sync, the remote listing, disconnect.
    private func registerCopies(on api: RouterGroup<APIRequestContext>) {
        api.post("/drive/sync", use: services.auditor.audited("drive.sync") { _, _, note in
            note.target = GoogleDriveConnector.destinationName
            drive.uploads.signal()
            return try JSON.response(SyncQueued(queued: true), status: .accepted)
        })
        // Audited: reconciling updates the off-site records it finds lost or changed.
        api.get("/drive/remote", use: services.auditor.audited("drive.reconcile") { _, _, note in
            note.target = GoogleDriveConnector.destinationName
            let destination = try connected("so its folder cannot be compared with the catalog")
            let report = try await Reconciler(context: services.context, destination: destination).reconcile()
            note.detail = "matched \(report.matched.count), remote only \(report.remoteOnly.count), "
                + "local only \(report.localOnly.count), mismatched \(report.mismatched.count)"
            return try JSON.response(report)
        })
        api.post("/drive/disconnect", use: services.auditor.audited("drive.disconnect") { _, context, note in
            note.target = GoogleDriveConnector.destinationName
            let actor = try context.actor()
            let connector = drive.connector(services.context)
            guard try connector.store.connection != nil else { throw APIError.notFound("Google Drive is not connected.") }
            let result = try await connector.disconnect(actor: actor)
            note.writtenElsewhere = true
            return try JSON.response(Disconnected(revokedAtGoogle: result.revokedAtGoogle, account: result.account))
        })
    }

    /// The OAuth callback, outside the bearer-token group.
    func registerCallback<Router: RouterMethods>(on router: Router) where Router.Context == APIRequestContext {
        router.get(RouterPath(stringLiteral: Self.callbackPath)) { request, context -> Response in
            let query = request.uri.queryParameters
            let client = context.clientAddress
            guard let state = query.get("state"), let connect = drive.connects.takeCode(state: state) else {
                await services.auditor.write(action: "drive.callback", target: GoogleDriveConnector.destinationName, outcome: "rejected",
                                             detail: "unknown, used or expired state", actor: BackupContext.Actor(client: client))
                return Self.page(.badRequest, "This Google sign-in answer is not valid here: it was already used, more than 10 minutes passed, or it was not started from this dashboard. Nothing was changed; start the connection again on the dashboard.")
            }
            var actor = connect.actor
            actor.client = client ?? actor.client
            guard let code = query.get("code") else {
                await services.auditor.write(action: "drive.connect", target: GoogleDriveConnector.destinationName, outcome: "rejected",
                                             detail: "access not granted (\(query.get("error")?.prefix(64) ?? "no code"))", actor: actor)
                return Self.page(.ok, "Access was not granted, so Google Drive is not connected. You can close this tab.")
            }
            do {
                let connector = drive.connector(services.context)
                let grant = try await connector.oauth.exchange(code: code, for: connect.request)
                try await connector.complete(grant, actor: actor)
                return Self.page(.ok, "Google Drive is connected. You can close this tab.")
            } catch {
                let message = (error as? GoogleOAuth.Failure)?.description ?? BackupError.wrap(error, "The connection failed.").message
                await services.auditor.write(action: "drive.connect", target: GoogleDriveConnector.destinationName, outcome: "failed",
                                             detail: message, actor: actor)
                return Self.page(.badGateway, "Google Drive could not be connected: \(message)")
            }
        }
    }

    /// The Drive destination, or 409 `not_connected` saying what cannot be done.
    func connected(_ consequence: String) throws -> any Destination {
        guard let destination = drive.uploads.destination() else {
            throw APIError(.conflict, "not_connected", "Google Drive is not connected, \(consequence).")
        }
        return destination
    }

    private func requireClient() throws {
        guard drive.config.clientId?.isEmpty == false, drive.config.clientSecret?.isEmpty == false else {
            throw APIError(.unprocessableContent, "not_configured",
                           "Google Drive is not set up: the store's OAuth client goes in the config file as [google] client_id and client_secret.")
        }
    }

    static func page(_ status: HTTPResponse.Status, _ text: String) -> Response {
        let escaped = text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
        return Response(status: status, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store"],
                        body: .init(byteBuffer: ByteBuffer(string: "<!doctype html><meta charset=utf-8><title>Google Drive</title><p>\(escaped)</p>")))
    }

    struct ConnectBody: Codable, Sendable { var flow: String }
    struct CodeStarted: Codable, Sendable { var authorization_url: String }
    struct DeviceStarted: Codable, Sendable {
        var connect_id: String
        var verification_url: String
        var user_code: String
        var expires_in: Int
        var interval: Int
    }
    struct ConnectState: Codable, Sendable { var state: String; var account: String?; var message: String? }
    struct SyncQueued: Codable, Sendable { var queued: Bool }
    struct Disconnected: Codable, Sendable { var revokedAtGoogle: Bool; var account: String? }
}
