import AsyncHTTPClient

extension HTTPClient {
    /// Reports a redirect instead of following it (the tests read Google's consent redirect). One for the
    /// whole run: a client released before `shutdown()` traps, and a test that fails early skips that.
    static let noRedirects = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(redirectConfiguration: .disallow))
}
