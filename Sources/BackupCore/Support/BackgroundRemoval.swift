import Foundation

/// Deletes large scratch files on another thread while the caller goes on (the kernel takes ~0.2 s
/// to free a GiB). Each is first renamed into `folder` (the data directory's `tmp/`), so that the
/// caller's own work folder can be removed at once; `wait()` must be called before the job ends, so
/// that nothing is left behind for start-up recovery to find.
final class BackgroundRemoval: @unchecked Sendable {
    /// Names of files on their way out: start-up recovery deletes any a killed process left.
    static let prefix = "removing-"
    private let done = DispatchSemaphore(value: 0)

    init(_ files: [URL], via folder: URL) throws {
        let moved = try files.filter(POSIXFile.exists).map { file in
            let to = folder.appendingPathComponent(Self.prefix + UUID().uuidString)
            try POSIXFile.rename(file, to: to)
            return to
        }
        let thread = Thread { [done] in
            for file in moved { try? FileManager.default.removeItem(at: file) }
            done.signal()
        }
        thread.name = "caps-backup scratch removal"
        thread.start()
    }

    func wait() { done.wait() }
}
