import BackupCore
import Foundation
import Hummingbird

/// The OpenAPI 3.1 description of the API: `Sources/Server/Resources/openapi.json`, kept by hand
/// beside the routes (the route table test and the schemathesis run keep them honest) and served
/// at /api/v1/openapi.json without a token.
enum OpenAPIDocument {
    static let resourceName = "openapi"

    /// A missing resources folder is a clear start-up error rather than the accessor's crash.
    static func load() throws -> ByteBuffer {
        guard let url = ServerResources.url(resourceName, withExtension: "json") else {
            throw BackupError(.configuration, "The API description openapi.json is missing; install caps-backup_Server.resources next to the caps-backup binary.")
        }
        return ByteBuffer(bytes: try Data(contentsOf: url))
    }
}

struct OpenAPIRoutes {
    let services: APIServices

    func register(on router: Router<APIRequestContext>) {
        router.get("/api/v1/openapi.json") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: services.openAPI))
        }
    }
}
