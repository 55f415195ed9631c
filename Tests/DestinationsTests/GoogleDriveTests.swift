import BackupCore
import Crypto
import Destinations
import FakeGoogle
import Foundation
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

@Suite("Google Drive: resumable uploads, retries, tokens and refusals")
struct GoogleDriveTests {
    @Test("a 200 MiB upload whose connection is cut three times mid-chunk completes, whole and intact, little sent twice")
    func cutThreeTimes() async throws {
        let scratch = try Scratch(size: 0)
        defer { scratch.remove() }
        let size = 200 << 20
        let file = scratch.folder.appendingPathComponent("big.zip")
        try writeLargeFile(file, size: size)
        let chunk = 4 << 20
        let google = FakeGoogle()
        try await google.serving { url in
            let proxy = try CuttingProxy(upstream: url)
            let drive = GoogleDriveDestination(config: driveConfig(proxy.url, chunkMiB: 4), storeName: "store-1", tokens: TestTokens(google))
            let retrying = RetryingDestination(drive, sleep: { _ in }, random: { 0 })
            let armed = FakeLocked(0)
            let request = UploadRequest(name: "db-full/big.zip", file: file, size: UInt64(size), metadata: ["backupId": "b-big"])
            let put = try await retrying.put(request, resuming: nil, onSession: { _ in }, progress: { done in
                // At 50, 100 and 150 MiB the line dies 1.5 MiB into the next chunk.
                armed.withLock { count in
                    if count < 3, done >= UInt64(50 << 20) * UInt64(count + 1) {
                        count += 1
                        proxy.cut(afterBytes: 3 << 19)
                    }
                }
            })
            #expect(proxy.cutCount == 3)
            let expected = try md5Hex(of: file)
            #expect(put.checksum?.algorithm == .sha256 && put.size == UInt64(size))
            let stored = try #require(google.drive.storedFiles().first { $0.id == put.id })
            #expect(stored.md5 == expected && stored.size == UInt64(size))
            let extra = proxy.bytesFromClient - size
            #expect(extra > 0 && extra < 3 * chunk, "sent \(extra) bytes more than the file")
        }
    }

    @Test("a copy is proven by Drive's SHA-256 against the catalog's, by MD5 when Drive has none; one that differs is deleted")
    func copyIsProvenBeforeItCounts() async throws {
        let scratch = try Scratch(size: 1 << 20 | 77)
        defer { scratch.remove() }
        let google = FakeGoogle()
        try await google.serving { url in
            let drive = GoogleDriveDestination(config: driveConfig(url), storeName: "store-6", tokens: TestTokens(google))
            let sha256 = checksum(scratch.bytes, .sha256)
            var published = scratch.request()
            published.sha256 = sha256
            let put = try await drive.put(published, resuming: nil, onSession: { _ in }, progress: { _ in })
            #expect(put.checksum == Checksum(.sha256, sha256))

            // The archive on this disk is no longer the one the catalog recorded: Drive's SHA-256 of what
            // arrived says so, and the copy is removed rather than counted.
            var changed = published
            changed.sha256 = String(repeating: "0", count: 64)
            await #expect { _ = try await drive.put(changed, resuming: nil, onSession: { _ in }, progress: { _ in }) }
                throws: { error in
                    guard let error = error as? DestinationError, error.kind == .permanent else { return false }
                    return error.message.contains("does not match") && error.message.contains("sha256 \(sha256)")
                }
            #expect(google.drive.storedFiles().map(\.id) == [put.id])

            // Drive without SHA-256 ("if available"): the file's MD5 is computed here and compared instead.
            google.drive.setSHA256Unavailable(true)
            let fallback = try await drive.put(changed, resuming: nil, onSession: { _ in }, progress: { _ in })
            #expect(fallback.checksum == Checksum(.md5, checksum(scratch.bytes, .md5)))
            #expect(try await read(drive, fallback.id) == scratch.bytes)
        }
    }

    @Test("503s and 429s with Retry-After are retried after the waits Drive asked for, with backoff")
    func retriesHonourRetryAfter() async throws {
        let scratch = try Scratch(size: 3 << 20)
        defer { scratch.remove() }
        let google = FakeGoogle()
        try await google.serving { url in
            let drive = GoogleDriveDestination(config: driveConfig(url), storeName: "store-2", tokens: TestTokens(google))
            let sleeps = Sleeps()
            let retrying = RetryingDestination(drive, policy: RetryPolicy(attempts: 6, baseDelay: 1, maxDelay: 32),
                                               sleep: { sleeps.sleep($0) }, random: { 0.5 })
            google.drive.failNext(2, status: 503, retryAfter: 7)
            google.drive.failNext(1, status: 429, retryAfter: nil)
            let put = try await retrying.put(scratch.request(), resuming: nil, onSession: { _ in }, progress: { _ in })
            #expect(try await read(drive, put.id) == scratch.bytes)
            #expect(sleeps.all == [7, 7, 2], "Retry-After is honoured, else exponential backoff with jitter")

            // A rate limit that outlasts the backoff ends the attempt as `rateLimited`.
            google.drive.setRateLimited(true)
            let patient = RetryingDestination(drive, policy: RetryPolicy(attempts: 3), sleep: { _ in })
            do {
                _ = try await patient.put(scratch.request(), resuming: nil, onSession: { _ in }, progress: { _ in })
                Issue.record("a rate-limited upload succeeded")
            } catch let error as DestinationError {
                #expect(error.kind == .rateLimited)
            }
        }
    }

    @Test("an access token that expires mid-upload is refreshed and the call repeated, invisibly")
    func expiredTokenIsRefreshed() async throws {
        let scratch = try Scratch(size: 3 << 20)
        defer { scratch.remove() }
        let google = FakeGoogle()
        try await google.serving { url in
            let tokens = TestTokens(google)
            let drive = GoogleDriveDestination(config: driveConfig(url), storeName: "store-3", tokens: tokens)
            _ = try await drive.list(prefix: "")
            google.accessTokens.expireAll()
            let put = try await drive.put(scratch.request(), resuming: nil, onSession: { _ in }, progress: { _ in })
            #expect(tokens.refreshCount == 1)
            google.accessTokens.expireAll()
            #expect(try await drive.list(prefix: "db-full/").map(\.id) == [put.id])
            #expect(tokens.refreshCount == 2)
        }
    }

    @Test("a full quota is quotaExceeded and a revoked grant is unauthorized, neither retried")
    func refusals() async throws {
        let scratch = try Scratch(size: 300_000)
        defer { scratch.remove() }
        let google = FakeGoogle()
        try await google.serving { url in
            let tokens = TestTokens(google)
            let flaky = GoogleDriveDestination(config: driveConfig(url), storeName: "store-4", tokens: tokens)
            let sleeps = Sleeps()
            let drive = RetryingDestination(flaky, sleep: { sleeps.sleep($0) })
            google.drive.setQuotaExceeded(true)
            await #expect { _ = try await drive.put(scratch.request(), resuming: nil, onSession: { _ in }, progress: { _ in }) }
                throws: { ($0 as? DestinationError)?.kind == .quotaExceeded }
            google.drive.setQuotaExceeded(false)
            tokens.revoke()
            await #expect { _ = try await drive.put(scratch.request(), resuming: nil, onSession: { _ in }, progress: { _ in }) }
                throws: { ($0 as? DestinationError)?.kind == .unauthorized }
            #expect(sleeps.all.isEmpty)
            #expect(google.drive.storedFiles().isEmpty)
        }
    }

    @Test("a session Drive lost (404) starts over; chunks that are not 256 KiB multiples are refused by the fake")
    func lostSessionStartsOver() async throws {
        let scratch = try Scratch(size: 3 << 20)
        defer { scratch.remove() }
        let google = FakeGoogle()
        try await google.serving { url in
            let drive = GoogleDriveDestination(config: driveConfig(url), storeName: "store-5", tokens: TestTokens(google))
            let sessions = Collected()
            let cut = Task {
                try await drive.put(scratch.request(), resuming: nil, onSession: { sessions.append(Array($0.utf8)) },
                                    progress: { _ in withUnsafeCurrentTask { $0?.cancel() } })
            }
            await #expect(throws: (any Error).self) { try await cut.value }
            google.drive.loseSessions()
            let session = String(decoding: sessions.all, as: UTF8.self)
            let put = try await drive.put(scratch.request(), resuming: session, onSession: { _ in }, progress: { _ in })
            #expect(try await read(drive, put.id) == scratch.bytes)

            // The protocol as a client must speak it: a chunk of 100,000 bytes that is not the last is a 400.
            var start = URLRequest(url: URL(string: "\(url)/upload/drive/v3/files?uploadType=resumable")!)
            start.httpMethod = "POST"
            start.setValue("Bearer \(google.accessTokens.issue(account: "store@example.com", scope: GoogleConfig.scope))", forHTTPHeaderField: "Authorization")
            start.setValue("application/json", forHTTPHeaderField: "Content-Type")
            start.httpBody = Data(#"{"name":"x.zip"}"#.utf8)
            let (_, started) = try await URLSession.shared.data(for: start)
            let location = try #require((started as? HTTPURLResponse)?.value(forHTTPHeaderField: "Location"))
            var chunk = URLRequest(url: URL(string: location)!)
            chunk.httpMethod = "PUT"
            chunk.setValue("bytes 0-99999/300000", forHTTPHeaderField: "Content-Range")
            chunk.httpBody = Data(count: 100_000)
            let (body, answered) = try await URLSession.shared.data(for: chunk)
            #expect((answered as? HTTPURLResponse)?.statusCode == 400)
            #expect(String(decoding: body, as: UTF8.self).contains("\"reason\":\"badRequest\""))
        }
    }
}
