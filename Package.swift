// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "caps-backup",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "caps-backup", targets: ["caps-backup"]),
        .library(name: "BackupCore", targets: ["BackupCore"]),
    ],
    dependencies: [
        .package(url: "https://github.com/groue/GRDB.swift", from: "7.10.0"),
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        // Google Drive's REST API: streaming request bodies, timeouts and connection pooling that Foundation's
        // URLSession on Linux lacks. Already built for Hummingbird's SwiftNIO, so it adds little.
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
    ],
    targets: [
        // libdeflate from Debian (`libdeflate-dev`): ~4x faster than zlib at the same ratio.
        .systemLibrary(name: "CLibDeflate", pkgConfig: "libdeflate", providers: [.apt(["libdeflate-dev"])]),
        // sqlite3_db_config and the other variadic SQLite calls Swift cannot make.
        .target(name: "CSQLiteShims", linkerSettings: [.linkedLibrary("sqlite3")]),
        // The domain: catalog, snapshots, archives, jobs. Knows nothing of HTTP or Google.
        .target(
            name: "BackupCore",
            dependencies: [
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "GRDBSQLite", package: "GRDB.swift"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "TOMLKit", package: "TOMLKit"),
                "CLibDeflate",
                "CSQLiteShims",
            ]),
        // Where archives are copied off this server: one folder per backend (Local/, InMemory/, GoogleDrive/),
        // each behind BackupCore's `Destination` protocol and checked by one contract suite.
        .target(name: "Destinations", dependencies: [
            "BackupCore", .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
        ]),
        // A fake Google (OAuth 2.0 + Drive v3) written from Google's public documentation, strict where Google
        // is: for the tests, the benchmarks and the demo, since real Google cannot be reached from here.
        .target(name: "FakeGoogle", dependencies: [
            .product(name: "Hummingbird", package: "hummingbird"), .product(name: "Crypto", package: "swift-crypto"),
        ]),
        .executableTarget(name: "fake-google", dependencies: ["FakeGoogle"]),
        // A realistic POS store for demos, tests and benchmarks: seeder and write simulator.
        .target(name: "DemoStore", dependencies: [
            .product(name: "GRDB", package: "GRDB.swift"), .product(name: "GRDBSQLite", package: "GRDB.swift"),
        ]),
        // Schedules, the scheduler service, retention runs: when jobs happen.
        .target(name: "Scheduling", dependencies: ["BackupCore"]),
        // The HTTP API and the dashboard's server side.
        .target(
            name: "Server",
            dependencies: [
                "BackupCore", "Scheduling", "Destinations",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "GRDB", package: "GRDB.swift"),
            ],
            // Resources/web: the dashboard, bundled from web/ by `make web` (git-ignored, rebuilt by make).
            resources: [.copy("Resources/openapi.json"), .copy("Resources/web")]),
        .executableTarget(
            name: "caps-backup",
            dependencies: [
                "BackupCore", "Destinations", "DemoStore", "Scheduling", "Server",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),
        .testTarget(name: "BackupCoreTests", dependencies: ["BackupCore"]),
        .testTarget(name: "DemoStoreTests", dependencies: ["DemoStore"]),
        .testTarget(name: "DestinationsTests", dependencies: ["Destinations", "BackupCore", "FakeGoogle"]),
        .testTarget(name: "EndToEndTests", dependencies: ["BackupCore", "DemoStore", "FakeGoogle"]),
        .testTarget(name: "SchedulingTests", dependencies: ["Scheduling", "BackupCore"]),
        .testTarget(
            name: "ServerTests",
            dependencies: [
                "Server", "BackupCore", "Destinations", "FakeGoogle",
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]),
    ],
    swiftLanguageModes: [.v6]
)
