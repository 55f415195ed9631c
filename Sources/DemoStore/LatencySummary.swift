/// Commit latencies (BEGIN to COMMIT) summarised in milliseconds, nearest-rank percentiles.
public struct LatencySummary: Codable, Sendable, Hashable {
    public var count: Int
    public var p50: Double
    public var p90: Double
    public var p99: Double
    public var max: Double
    public var mean: Double

    init(nanoseconds samples: [UInt64]) {
        let sorted = samples.sorted()
        func ms(_ ns: UInt64) -> Double { Double(ns) / 1e6 }
        func percentile(_ q: Double) -> Double {
            guard !sorted.isEmpty else { return 0 }
            let rank = Int((q * Double(sorted.count)).rounded(.up))
            return ms(sorted[Swift.max(0, Swift.min(sorted.count - 1, rank - 1))])
        }
        count = sorted.count
        p50 = percentile(0.50)
        p90 = percentile(0.90)
        p99 = percentile(0.99)
        max = sorted.last.map(ms) ?? 0
        mean = sorted.isEmpty ? 0 : ms(sorted.reduce(0, +)) / Double(sorted.count)
    }
}
