import BackupCore
import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import Scheduling
import ServiceLifecycle

/// The HTTP service: the JSON API under /api/v1, /healthz, /metrics and (demo) the login page.
///
///     Routes/      one file per resource: what each route reads, changes and answers
///     Context/     what a handler knows about its request: client address, verified identity
///     Auth/        the POS's JWTs and the MANAGE_SETTINGS check
///     Audit/       one audit row per change or download
///     Errors/      one JSON error shape for every failure; 405 for a known path
///     Jobs/        starting backups and restores in the background, one at a time
///     Progress/    live progress and logs of jobs, Server-Sent Events
///     Download/    archives streamed from disk with Range support
///     Receive/     archives to restore from, streamed to disk (uploaded, or fetched from Drive) and verified first
///     Setup/       the fresh-install wizard's mode, setup code and routes (R8), also to a backup on Drive
///     Drive/       Google Drive: connect, status, the uploader in the background and its progress
///     Monitoring/  /healthz and /metrics
///     OpenAPI/     the API's description (Resources/openapi.json), served at /api/v1/openapi.json
///     Demo/        the demo login page (serve --demo)
///     Web/         the dashboard (built from web/ into Resources/web) at / and its pages
///     Support/     JSON, blocking work off the cooperative pool, IP addresses
public struct CapsServer: Sendable {
    public let configuration: ServerConfiguration
    public let context: BackupContext
    public let coordinator: JobCoordinator
    let services: APIServices

    /// - Throws: a configuration error for a weak JWT secret (under 32 bytes, or the example file's
    ///   placeholder), for no key at all, and for demo mode on a non-loopback address without
    ///   `demoAllowRemote`.
    public init(configuration: ServerConfiguration, context: BackupContext, logger: Logger = Logger(label: "caps-backup.server")) throws {
        var configuration = configuration
        if configuration.demo {
            // Demo tokens grant MANAGE_SETTINGS to anyone who asks: never sign them with a key the
            // POS (or a real caps-backup) would accept. The configured secret and key are ignored.
            guard configuration.demoAllowRemote || ServerConfiguration.isLoopback(host: configuration.host) else {
                throw BackupError(.configuration,
                                  "Demo mode hands out admin tokens to anyone who can reach /login, so it listens on loopback only; \(configuration.listenDescription) is not. Use --listen 127.0.0.1:PORT, or add --demo-allow-remote if this is a throw-away demo machine.")
            }
            configuration.jwtSecret = ServerConfiguration.randomSecret()
            configuration.jwtPublicKey = nil
        } else {
            try ServerConfiguration.checkSecret(configuration.jwtSecret)
        }
        for proxy in configuration.trustedProxies where IPAddress(proxy) == nil {
            throw BackupError(.configuration, "The trusted proxy \(proxy) ([service] trusted_proxies, --trusted-proxy) is not an IP address.")
        }
        for host in configuration.publicHosts where AllowedHosts.split(host) == nil {
            throw BackupError(.configuration, "The public host \(host) ([service] public_hosts, --public-host) is not NAME or NAME:PORT.")
        }
        let verifier = JWTVerifier(hs256Secret: configuration.jwtSecret, ed25519PublicKey: configuration.jwtPublicKey, now: configuration.now)
        guard verifier.hasKeys else {
            throw BackupError(.configuration,
                              "No JWT secret is configured: set [auth] jwt_secret in the config file or CAPS_JWT_SECRET (the POS signs its tokens with it).")
        }
        self.configuration = configuration
        self.context = context
        try POSIXFile.makePrivateDirectory(ArchiveReceiver.directory(context))
        ArchiveReceiver.sweepLeftovers(context, logger: logger)
        // Job logs are kept `Catalog.jobLogMaxAge` (also pruned after retention runs).
        _ = try? context.catalog.pruneJobLogs(before: context.now().addingTimeInterval(-Catalog.jobLogMaxAge))
        coordinator = JobCoordinator(context: context)
        services = APIServices(context: context, coordinator: coordinator, configuration: configuration, verifier: verifier,
                               auditor: Auditor(catalog: context.catalog, now: context.now, logger: logger),
                               openAPI: try OpenAPIDocument.load(), dashboard: DashboardAssets(), logger: logger,
                               tickets: DownloadTickets(now: context.now),
                               setup: try SetupGate(context: context, storeName: configuration.storeName, logger: logger),
                               drive: DriveServices(context: context, configuration: configuration, hub: coordinator.hub))
    }

    /// Every route, in one place. The route table test walks `router.routes`.
    public func makeRouter() -> Router<APIRequestContext> {
        let router = Router(context: APIRequestContext.self)
        let table = Locked(RouteTable([]))
        router.add(middleware: SecurityHeadersMiddleware())
        router.add(middleware: ErrorMiddleware(routes: table))
        router.add(middleware: RequestGuardMiddleware(configuration: configuration))
        router.add(middleware: DashboardMiddleware(assets: services.dashboard))

        MonitoringRoutes(services: services).register(on: router)
        OpenAPIRoutes(services: services).register(on: router)
        if configuration.demo { DemoLoginRoutes(services: services).register(on: router) }
        DriveRoutes(services: services).registerCallback(on: router)

        let bearer = AuthMiddleware(verifier: services.verifier, requiredPermission: Permission.manageSettings, auditor: services.auditor)
        // The fresh-install wizard: the setup code instead of a POS token, on its own routes only.
        SetupRoutes(services: services).register(
            open: router.group("/api/v1"),
            guarded: router.group("/api/v1/setup").add(middleware: SetupAuthMiddleware(gate: services.setup, bearer: bearer, auditor: services.auditor)))

        var withTickets = bearer
        withTickets.tickets = services.tickets
        let api = router.group("/api/v1").add(middleware: withTickets)
        OverviewRoutes(services: services).register(on: api)
        BackupRoutes(services: services).register(on: api)
        BackupActionRoutes(services: services).register(on: api)
        RestoreRoutes(services: services).register(on: api)
        ProgressRoutes(services: services).register(on: api)
        SettingsRoutes(services: services).register(on: api)
        AlertRoutes(services: services).register(on: api)
        AuditRoutes(services: services).register(on: api)
        DriveRoutes(services: services).register(on: api)

        table.withLock { $0 = RouteTable(router.routes.map { ($0.path.description, $0.method.rawValue) }) }
        return router
    }

    /// The server with its connection limits: a connection idle for `idleTimeout` (no request in
    /// progress) is closed; a response being sent, such as a progress stream, is never cut by it.
    /// Past `maxConnections` open connections no more are accepted until one closes (they wait in
    /// the listen queue, holding no descriptor of ours), so idle sockets cannot take the
    /// descriptors a backup needs.
    public func makeApplication(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) -> some ApplicationProtocol {
        Application(
            router: makeRouter(),
            server: .http1(configuration: .init(idleTimeout: .nanoseconds(Int64(configuration.idleTimeout / .nanoseconds(1))))),
            configuration: .init(address: .hostname(configuration.host, port: configuration.port), serverName: "caps-backup",
                                 availableConnectionsDelegate: MaximumAvailableConnections(maxConnections, logger: services.logger)),
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? 0) },
            logger: services.logger)
    }

    /// The connection cap in force: the configured one, else derived from the open-files limit.
    public var maxConnections: Int { configuration.maxConnections ?? ServerConfiguration.defaultMaxConnections() }

    /// Runs until SIGTERM or SIGINT, with the other services of the process (the scheduler, the
    /// uploader) beside the HTTP server. On shutdown the server stops taking requests, then a job
    /// it started is allowed to finish, so no backup is left half-written by a restart.
    ///
    /// - Parameter scheduler: run the scheduler (R4) and the alert webhook in this process; its
    ///   backups go through the same `JobCoordinator` as the API's.
    public func run(scheduler: Bool, onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        var background: [any Service] = []
        if scheduler {
            let scheduler = Scheduler(catalog: context.catalog, runner: coordinator)
            let alerts = AlertDeliveryService(notifier: WebhookNotifier(catalog: context.catalog))
            // A fresh install (setup mode) schedules nothing until the wizard has restored the store.
            let setup = services.setup
            background = [CancellingService {
                await setup.waitUntilSetUp()
                if !Task.isCancelled { await scheduler.run() }
            }, CancellingService { await alerts.run() }]
        }
        let uploads = services.drive.uploads
        coordinator.afterBackup.withLock { $0 = { uploads.signal() } }
        let group = ServiceGroup(configuration: .init(
            services: [JobDrainService(coordinator: coordinator)] + background + [uploads, makeApplication(onServerRunning: onServerRunning)],
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: services.logger))
        try await group.run()
    }
}

/// What the route handlers share.
struct APIServices: Sendable {
    let context: BackupContext
    let coordinator: JobCoordinator
    let configuration: ServerConfiguration
    let verifier: JWTVerifier
    let auditor: Auditor
    let openAPI: ByteBuffer
    let dashboard: DashboardAssets
    let logger: Logger
    let tickets: DownloadTickets
    let setup: SetupGate
    /// Google Drive: the OAuth client, connects in progress, the access-token session.
    let drive: DriveServices
    /// Held by the one archive upload that may be received (and verified) at a time.
    let receiveSlot = Locked(false)
    /// Held by the one verification (POST /backups/{id}/verify) that may run at a time.
    let verifySlot = Locked(false)

    var catalog: Catalog { context.catalog }
    var hub: ProgressHub { coordinator.hub }
}

/// On graceful shutdown, waits for a backup or restore this process started (services shut down
/// in reverse order: the HTTP server first, then this).
struct JobDrainService: Service {
    let coordinator: JobCoordinator

    func run() async throws {
        try? await gracefulShutdown()
        await coordinator.waitForRunningJob()
    }
}

/// A loop that stops when its task is cancelled (the scheduler, the webhook), as a service:
/// cancelled on graceful shutdown. The scheduler finishes a running backup before it returns.
struct CancellingService: Service {
    let body: @Sendable () async -> Void

    init(_ body: @escaping @Sendable () async -> Void) { self.body = body }

    func run() async throws {
        await cancelWhenGracefulShutdown { await body() }
    }
}
