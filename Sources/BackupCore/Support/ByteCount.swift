import Foundation

public enum ByteCount {
    /// 1.2 GiB, 340 MiB, 12 KiB: binary units, as `ls -h` and `df -h` show them.
    public static func format<T: BinaryInteger>(_ bytes: T) -> String {
        let value = Double(bytes)
        let units = ["B", "KiB", "MiB", "GiB", "TiB"]
        var scaled = value
        var unit = 0
        while scaled >= 1024, unit < units.count - 1 {
            scaled /= 1024
            unit += 1
        }
        return unit == 0 ? "\(Int(value)) B" : String(format: scaled < 10 ? "%.1f" : "%.0f", scaled) + " " + units[unit]
    }
}
