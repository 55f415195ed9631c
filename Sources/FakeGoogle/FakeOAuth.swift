import Foundation
import Hummingbird

/// Google's OAuth 2.0 endpoints for installed apps and limited-input devices. (Being written.)
public final class FakeOAuth: Sendable {
    let accessTokens: FakeAccessTokens
    let clock: @Sendable () -> Date

    init(accessTokens: FakeAccessTokens, clock: @escaping @Sendable () -> Date) {
        self.accessTokens = accessTokens
        self.clock = clock
    }

    func addRoutes(to router: Router<BasicRequestContext>) {}
}
