import BackupCore
import Foundation
import Hummingbird

/// `/healthz` for the service manager and load balancers (no token, no data: the catalog answers
/// or it does not), and `/metrics` for Prometheus (see `MetricsExposure`).
struct MonitoringRoutes {
    let services: APIServices

    func register(on router: Router<APIRequestContext>) {
        router.get("/healthz") { _, _ in
            do {
                _ = try await Blocking.run { [catalog = services.catalog] in try catalog.openAlertCount() }
                return try JSON.response(Health(status: "ok"))
            } catch {
                return try JSON.response(Health(status: "unavailable"), status: .serviceUnavailable)
            }
        }
        router.get("/metrics") { _, context in
            switch services.configuration.metrics {
            case .off:
                throw APIError.notFound("Metrics are turned off (serve --metrics off).")
            case .loopback where !Self.isLoopback(context.clientAddress):
                throw APIError(.forbidden, "forbidden", "Metrics are served to this machine only (serve --metrics loopback).")
            default:
                break
            }
            let text = try await Blocking.run { [services] in
                try MetricsText.render(catalog: services.catalog, running: services.coordinator.isBusy, now: services.context.now())
            }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store"],
                            body: .init(byteBuffer: ByteBuffer(string: text)))
        }
    }

    struct Health: Codable { var status: String }

    static func isLoopback(_ address: String?) -> Bool {
        guard let address else { return false }
        return address.hasPrefix("127.") || address == "::1" || address.hasPrefix("::ffff:127.")
    }
}

/// The Prometheus text exposition (format 0.0.4), written from the catalog on each scrape. The
/// numbers are few and cheap to compute, so a metrics library would only add a dependency.
enum MetricsText {
    static func render(catalog: Catalog, running: Bool, now: Date) throws -> String {
        let stats = try catalog.kindStatistics()
        var byKind: [String: Catalog.KindStatistics] = [:]
        for s in stats { byKind[s.kind] = s }
        let kinds = BackupKind.allCases.map(\.rawValue)
        var out = ""
        func family(_ name: String, _ type: String, _ help: String, _ samples: [(labels: String, value: Double)]) {
            out += "# HELP \(name) \(help)\n# TYPE \(name) \(type)\n"
            for sample in samples { out += "\(name)\(sample.labels) \(format(sample.value))\n" }
        }
        func perKind(_ value: (Catalog.KindStatistics) -> Double?) -> [(labels: String, value: Double)] {
            kinds.compactMap { kind in byKind[kind].flatMap(value).map { ("{kind=\"\(kind)\"}", $0) } }
        }
        family("caps_backup_last_success_timestamp_seconds", "gauge", "When the newest successful backup of each kind finished (Unix time).",
               perKind { $0.lastSuccessAt?.timeIntervalSince1970 })
        family("caps_backup_last_success_age_seconds", "gauge", "Seconds since the newest successful backup of each kind finished.",
               perKind { $0.lastSuccessAt.map { max(0, now.timeIntervalSince($0)) } })
        family("caps_backup_last_duration_seconds", "gauge", "How long the newest successful backup of each kind took.",
               perKind { $0.lastSuccessDuration })
        family("caps_backup_last_size_bytes", "gauge", "Archive size of the newest successful backup of each kind.",
               perKind { $0.lastSuccessSize.map(Double.init) })
        family("caps_backup_successes_total", "counter", "Successful backups of each kind (including ones deleted since).",
               kinds.map { ("{kind=\"\($0)\"}", Double(byKind[$0]?.successes ?? 0)) })
        family("caps_backup_failures_total", "counter", "Failed backups of each kind.",
               kinds.map { ("{kind=\"\($0)\"}", Double(byKind[$0]?.failures ?? 0)) })
        family("caps_backup_uploaded_bytes", "gauge", "Bytes of archives held on remote destinations.",
               [("", Double(try catalog.uploadedBytes()))])
        family("caps_backup_alerts_open", "gauge", "Alerts not yet acknowledged.", [("", Double(try catalog.openAlertCount()))])
        family("caps_backup_job_running", "gauge", "1 while this server runs a backup or restore.", [("", running ? 1 : 0)])
        return out
    }

    private static func format(_ value: Double) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int64(value)) }
        return String(format: "%.3f", value)
    }
}
