import ArgumentParser
import BackupCore
import Foundation
import Server

extension MetricsExposure: ExpressibleByArgument {}

/// `caps-backup serve`: the HTTP API (and, with --demo, a login page for two demo users), the
/// scheduler and the alert webhook, in one process until SIGTERM or SIGINT.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the HTTP API, the scheduler and the alert webhook until SIGTERM or SIGINT.",
        discussion: """
            Tokens: the POS signs bearer JWTs with the secret in [auth] jwt_secret or CAPS_JWT_SECRET (HS256), \
            or with an Ed25519 key whose public half is in CAPS_JWT_ED25519_PUBLIC_KEY (base64). Every /api/v1 route \
            needs the MANAGE_SETTINGS permission. The secret must be at least 32 bytes. With --demo, /login mints tokens \
            for the users admin and cashier, signed with a fresh random secret of this run (the configured secret and key \
            are ignored), on a loopback address only unless --demo-allow-remote. Requests must name this server in Host: \
            localhost, 127.0.0.1, [::1], the listen address, or a --public-host.
            """)

    @Option(name: .long, help: "HOST:PORT to listen on (default: [service] listen, else \(ServiceConfig.defaultListen)); port 0 picks a free one.")
    var listen: String?

    @Flag(name: .long, help: "Demo mode: a login page at /login that mints tokens for the demo users admin and cashier, with a secret of its own.")
    var demo = false

    @Flag(name: .customLong("demo-allow-remote"), help: "Let --demo listen on a non-loopback address (anyone who reaches it can sign in as admin).")
    var demoAllowRemote = false

    @Option(name: .customLong("public-host"), help: "A host name requests may carry besides the listen address and loopback: the reverse proxy's (NAME or NAME:PORT; repeatable; adds to [service] public_hosts).")
    var publicHosts: [String] = []

    @Option(name: .customLong("trusted-proxy"), help: "A peer address whose X-Forwarded-For names the client (repeatable; adds to [service] trusted_proxies).")
    var trustedProxies: [String] = []

    @Option(name: .customLong("idle-timeout"), help: "Seconds before an idle connection is closed (default: [service] idle_timeout_seconds, else 60).")
    var idleTimeout: Double?

    @Option(name: .customLong("max-connections"), help: "Open connections at most (default: [service] max_connections, else from the open-files limit).")
    var maxConnections: Int?

    @Flag(name: .customLong("no-scheduler"), help: "Serve the API only; run no scheduled backups in this process.")
    var noScheduler = false

    @Option(name: .customLong("max-upload-mb"), help: "Largest archive accepted for a restore upload, in MiB (default: half the free disk space).")
    var maxUploadMB: Int?

    @Option(name: .long, help: "Who may read /metrics: loopback (this machine), everyone, or off.")
    var metrics: MetricsExposure = .loopback

    @OptionGroup var store: StoreOptions

    func validate() throws {
        if let maxUploadMB { guard maxUploadMB > 0 else { throw ValidationError("--max-upload-mb must be positive") } }
        if let idleTimeout { guard idleTimeout > 0, idleTimeout <= 86_400 else { throw ValidationError("--idle-timeout must be between 0 and 86400 seconds") } }
        if let maxConnections { guard maxConnections > 0 else { throw ValidationError("--max-connections must be positive") } }
    }

    func run() async throws {
        let config = try store.resolve()
        let environment = ProcessInfo.processInfo.environment
        var server = ServerConfiguration()
        try server.setListen(listen ?? config.listen)
        server.jwtSecret = environment["CAPS_JWT_SECRET"].flatMap { $0.isEmpty ? nil : $0 } ?? config.jwtSecret
        if let key = environment["CAPS_JWT_ED25519_PUBLIC_KEY"], !key.isEmpty { try server.setJWTPublicKey(base64: key) }
        if demo, server.jwtSecret != nil || server.jwtPublicKey != nil {
            Output.error("Demo mode: ignoring the configured JWT secret and key; demo tokens are signed with a fresh random secret of this run only.")
        }
        server.demo = demo
        server.demoAllowRemote = demoAllowRemote
        server.maxUploadBytes = maxUploadMB.map { Int64($0) << 20 }
        server.metrics = metrics
        server.publicHosts = config.publicHosts + publicHosts
        server.trustedProxies = config.trustedProxies + trustedProxies
        if let seconds = idleTimeout ?? config.idleTimeoutSeconds.map(Double.init) { server.idleTimeout = .milliseconds(Int64(seconds * 1000)) }
        server.maxConnections = maxConnections ?? config.maxConnections
        server.google = config.google

        let context = try store.context()
        let caps = try CapsServer(configuration: server, context: context)
        if demo {
            Output.error("Demo mode: JWT secret of this run \(caps.configuration.jwtSecret ?? "") (for tokens made by hand; it changes at every start).")
            if demoAllowRemote, !ServerConfiguration.isLoopback(host: server.host) {
                Output.error("Warning: demo mode on \(server.listenDescription): anyone who can reach it can sign in as admin.")
            }
        }
        let host = server.host
        let demo = self.demo
        try await caps.run(scheduler: !noScheduler) { port in
            let base = "http://\(host.contains(":") ? "[\(host)]" : host):\(port)"
            // One line on stdout that scripts (and the tests) read to find the port.
            FileHandle.standardOutput.write(Data("caps-backup listening on \(base)\n".utf8))
            if demo { Output.error("Demo sign-in: \(base)/login") }
        }
    }
}
