import Foundation
import Hummingbird

/// Google Drive v3: files, folders and resumable uploads. (Being written.)
public final class FakeDrive: Sendable {
    let accessTokens: FakeAccessTokens
    let clock: @Sendable () -> Date

    init(accessTokens: FakeAccessTokens, clock: @escaping @Sendable () -> Date) {
        self.accessTokens = accessTokens
        self.clock = clock
    }

    func addRoutes(to router: Router<BasicRequestContext>) {}
}
