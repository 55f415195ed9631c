import BackupCore
import FakeGoogle
import Foundation
import Testing
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The fake speaks Drive's wire format as Google documents it: if it were lenient, code passing against
/// it could fail against Google.
@Suite("Fake Drive: the wire format as Google documents it")
struct FakeDriveTests {
    struct Client {
        let url: URL
        let token: String?

        func call(_ method: String, _ path: String, headers: [String: String] = [:], body: Data? = nil) async throws -> (Int, [String: Any], HTTPURLResponse) {
            var request = URLRequest(url: path.hasPrefix("http") ? URL(string: path)! : URL(string: url.absoluteString + path)!)
            request.httpMethod = method
            if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
            for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
            request.httpBody = body
            let (data, response) = try await URLSession.shared.data(for: request)
            let http = response as! HTTPURLResponse
            return (http.statusCode, (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] ?? [:], http)
        }
    }

    @Test("fields default to kind,id,name,mimeType; int64 values are strings; list pages; q filters; no token is a 401 authError")
    func metadataAndQueries() async throws {
        let google = FakeGoogle()
        try await google.serving { url in
            let client = Client(url: url, token: google.accessTokens.issue(account: "a@example.com", scope: GoogleConfig.scope))
            let (status, folder, _) = try await client.call("POST", "/drive/v3/files", headers: ["Content-Type": "application/json"],
                                                            body: Data(#"{"name":"CAPS Backups","mimeType":"application/vnd.google-apps.folder"}"#.utf8))
            #expect(status == 200 && Set(folder.keys) == ["kind", "id", "name", "mimeType"])
            let folderId = try #require(folder["id"] as? String)
            for i in 0..<3 {
                _ = try await client.call("POST", "/drive/v3/files", headers: ["Content-Type": "application/json"],
                                          body: Data(#"{"name":"same.zip","parents":["\#(folderId)"],"appProperties":{"n":"\#(i)"}}"#.utf8))
            }
            let q = "'\(folderId)' in parents and trashed = false and name = 'same.zip'".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            let (_, page, _) = try await client.call("GET", "/drive/v3/files?q=\(q)&pageSize=2&fields=nextPageToken,files(id,size,appProperties)")
            let files = try #require(page["files"] as? [[String: Any]])
            #expect(files.count == 2 && files[0]["size"] as? String == "0" && files[0]["name"] == nil)
            let token = try #require(page["nextPageToken"] as? String)
            let (_, rest, _) = try await client.call("GET", "/drive/v3/files?q=\(q)&pageSize=2&pageToken=\(token)")
            #expect((rest["files"] as? [[String: Any]])?.count == 1 && rest["nextPageToken"] == nil)
            let labelled = "appProperties has { key='n' and value='1' }".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            let (_, found, _) = try await client.call("GET", "/drive/v3/files?q=\(labelled)")
            #expect((found["files"] as? [[String: Any]])?.count == 1)
            let (bad, refusal, _) = try await client.call("GET", "/drive/v3/files?q=\("size > 3".addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)")
            #expect(bad == 400 && refusal["error"] != nil)

            let (unauthorized, error, _) = try await Client(url: url, token: nil).call("GET", "/drive/v3/files")
            let reason = ((error["error"] as? [String: Any])?["errors"] as? [[String: Any]])?.first?["reason"] as? String
            #expect(unauthorized == 401 && reason == "authError")
        }
    }

    @Test("resumable: 308 without Range before any byte, with Range after, the status query, the file after the last chunk")
    func resumableWireFormat() async throws {
        let google = FakeGoogle()
        try await google.serving { url in
            let client = Client(url: url, token: google.accessTokens.issue(account: "a@example.com", scope: GoogleConfig.scope))
            let (_, _, started) = try await client.call("POST", "/upload/drive/v3/files?uploadType=resumable&fields=id,size,md5Checksum",
                                                        headers: ["Content-Type": "application/json"], body: Data(#"{"name":"x.zip"}"#.utf8))
            let session = try #require(started.value(forHTTPHeaderField: "Location"))
            let total = 256 * 1024 + 10
            let (empty, _, nothing) = try await client.call("PUT", session, headers: ["Content-Range": "bytes */\(total)"])
            #expect(empty == 308 && nothing.value(forHTTPHeaderField: "Range") == nil)
            let bytes = Data((0..<total).map { UInt8(truncatingIfNeeded: $0) })
            let (partial, _, held) = try await client.call("PUT", session, headers: ["Content-Range": "bytes 0-262143/\(total)"], body: bytes.prefix(262_144))
            #expect(partial == 308 && held.value(forHTTPHeaderField: "Range") == "bytes=0-262143")
            let (asked, _, status) = try await client.call("PUT", session, headers: ["Content-Range": "bytes */\(total)"])
            #expect(asked == 308 && status.value(forHTTPHeaderField: "Range") == "bytes=0-262143")
            let (done, file, _) = try await client.call("PUT", session, headers: ["Content-Range": "bytes 262144-\(total - 1)/\(total)"], body: bytes.suffix(10))
            #expect(done == 200 && file["size"] as? String == String(total) && Set(file.keys) == ["id", "size", "md5Checksum"])
            google.drive.loseSessions()
            let (lost, _, _) = try await client.call("PUT", session, headers: ["Content-Range": "bytes */\(total)"])
            #expect(lost == 404)
        }
    }
}
