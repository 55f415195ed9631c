import Foundation

/// The copy of the live database a restore keeps (`pre-restore/`), so that the restore can be undone.
struct PreRestoreCopy {
    let live: URL
    let url: URL

    func take() throws {
        do {
            try DatabaseSnapshotter().copy(of: live, into: url)
        } catch {
            discard()  // half a copy must never pass for the way back
            throw error
        }
    }

    /// After a restore that changed nothing, a copy of the unchanged database is only clutter.
    func discard() { try? FileManager.default.removeItem(at: url) }
}
