// swift-tools-version:6.1
import PackageDescription

/// Swift settings shared by every Swift target: Swift 6 language mode, strict concurrency.
let strict: [SwiftSetting] = [
    .swiftLanguageMode(.v6),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
    .enableUpcomingFeature("InternalImportsByDefault"),
]

/// A dispatch algorithm plugin written in Swift, built as `libmserve-algorithm-NAME.so`.
func algorithmPlugin(_ name: String, target: String) -> (Product, Target) {
    (
        .library(name: "mserve-algorithm-\(name)", type: .dynamic, targets: [target]),
        .target(
            name: target,
            dependencies: ["MServePlugin"],
            path: "plugins/\(name)",
            swiftSettings: strict
        )
    )
}

let swiftPlugins = [
    algorithmPlugin("orig", target: "OrigAlgorithm"),
    algorithmPlugin("even", target: "EvenAlgorithm"),
    algorithmPlugin("match", target: "MatchAlgorithm"),
    algorithmPlugin("chbl", target: "ChblAlgorithm"),
    algorithmPlugin("route-by-function", target: "RouteByFunctionAlgorithm"),
]

/// The dispatch plugin written in C (it proves the ABI language-neutral), built as
/// `libmserve-algorithm-least-loaded.so` against plugins/include/mserve_plugin.h.
let cPlugins: [(Product, Target)] = [
    (
        .library(name: "mserve-algorithm-least-loaded", type: .dynamic, targets: ["LeastLoadedAlgorithm"]),
        .target(
            name: "LeastLoadedAlgorithm",
            path: "plugins/least-loaded",
            publicHeadersPath: ".",
            cSettings: [.headerSearchPath("../include")]
        )
    ),
]

/// The servant plugins: the demo API (Swift) and a statistics API (C, against
/// plugins/include/mserve_servant_plugin.h), built as `libmserve-servant-NAME.so`.
let servantPlugins: [(Product, Target)] = [
    (
        .library(name: "mserve-servant-demo-api", type: .dynamic, targets: ["DemoAPIServantPlugin"]),
        .target(
            name: "DemoAPIServantPlugin",
            dependencies: ["DemoAPI", "MServeServantPluginKit"],
            path: "plugins/demo-api/Plugin",
            swiftSettings: strict
        )
    ),
    (
        .library(name: "mserve-servant-stats", type: .dynamic, targets: ["StatsServantPlugin"]),
        .target(
            name: "StatsServantPlugin",
            path: "plugins/stats-c",
            publicHeadersPath: ".",
            cSettings: [.headerSearchPath("../include")],
            linkerSettings: [.linkedLibrary("m")]
        )
    ),
]

let package = Package(
    name: "mserve",
    products: [
        .executable(name: "mserve", targets: ["MServeCLI"]),
        .executable(name: "mserve-bench", targets: ["MServeBench"]),
        .executable(name: "mserve-example-servant", targets: ["MServeExampleServant"]),
        .executable(name: "mserve-example-client", targets: ["MServeExampleClient"]),
        .library(name: "ZeroMQ", targets: ["ZeroMQ"]),
        .library(name: "QData", targets: ["QData"]),
        .library(name: "MServeQuery", targets: ["MServeQuery"]),
        .library(name: "MServePlugin", targets: ["MServePlugin"]),
        .library(name: "MServeProtocol", targets: ["MServeProtocol"]),
        .library(name: "MServeBroker", targets: ["MServeBroker"]),
        .library(name: "MServeServant", targets: ["MServeServant"]),
        .library(name: "MServeServantPluginKit", targets: ["MServeServantPluginKit"]),
        .library(name: "MServeClient", targets: ["MServeClient"]),
        .library(name: "MServeTesting", targets: ["MServeTesting"]),
        .library(name: "MServeHub", targets: ["MServeHub"]),
        .library(name: "MServePasswords", targets: ["MServePasswords"]),
        .library(name: "MServeMonitoring", targets: ["MServeMonitoring"]),
    ] + swiftPlugins.map(\.0) + cPlugins.map(\.0) + servantPlugins.map(\.0),
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.0.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.1.0"),
        // Metrics: the broker and hub count in plain integers on their loops; the HTTP side
        // publishes them in the Prometheus text format with swift-prometheus, served over HTTP
        // by Hummingbird (without its optional traits: no swift-configuration, less to build).
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1", traits: []),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        // Tests only: property-based checks with seeds and shrinking, on Swift Testing.
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
    ],
    targets: [
        // libzmq, from the system (Debian: libzmq3-dev).
        .systemLibrary(
            name: "CZeroMQ",
            path: "Sources/CZeroMQ",
            providers: [.apt(["libzmq3-dev"])]
        ),
        .target(
            name: "ZeroMQ",
            dependencies: [
                "CZeroMQ", "POSIXFiles",
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),

        // The operating system's file calls, for files whose permission bits matter from their
        // first instant (secret keys), and the check that no other user controls a file or a
        // directory (the hub directory, plugins).
        .target(name: "POSIXFiles", swiftSettings: strict),

        // The calls that make a descriptor close-on-exec as it is made (accept4, pipe2), which
        // Swift's Glibc module does not import: no process MServe starts, nor the Swift
        // runtime's crash reporter, inherits a socket, a pipe or a file of its own.
        .target(name: "CCloseOnExec"),

        // The operating system's socket API, for plain TCP (the kdb+ door, the HTTP side, q
        // servants), name lookup, port probes and free ports.
        .target(name: "POSIXSockets", dependencies: ["CCloseOnExec"], swiftSettings: strict),

        // This process's resident memory, and giving freed memory back to the system (glibc's
        // allocator controls through CMalloc).
        .systemLibrary(name: "CMalloc", path: "Sources/CMalloc"),
        .target(name: "ProcessMemory", dependencies: ["CMalloc"], swiftSettings: strict),
        // Child processes started with posix_spawn, not Foundation's Process (the test
        // support's; see SpawnedProcess).
        .target(name: "CProcessSpawn"),

        // q values and the kdb+ IPC codec.
        .target(name: "QData", swiftSettings: strict),

        // q query parsing, routing strings, secure invocation.
        .target(name: "MServeQuery", dependencies: ["QData"], swiftSettings: strict),

        // The dispatch plugin ABI: the C header, and the Swift side (loader, algorithm protocol).
        .systemLibrary(name: "CMServePlugin", path: "plugins/include"),
        .target(
            name: "MServePlugin",
            dependencies: ["CMServePlugin", "QData", "MServeQuery", "POSIXFiles"],
            swiftSettings: strict
        ),

        // Wire protocol between clients, broker and servants; the info dictionary.
        .target(
            name: "MServeProtocol",
            dependencies: ["QData", "MServeQuery"],
            swiftSettings: strict
        ),

        // Passwords: the kdb+ users file's SHA digests, and the salted slow hashes the hub keeps,
        // from the system's OpenSSL libcrypto (Debian: libssl-dev) through CPasswordCrypto.
        .target(name: "CPasswordCrypto", linkerSettings: [.linkedLibrary("crypto")]),
        .target(name: "MServePasswords", dependencies: ["CPasswordCrypto"], swiftSettings: strict),

        // What the broker's, the servant's and the hub's admission share: the refused-peer log.
        .target(
            name: "MServeAdmission",
            dependencies: ["ZeroMQ", "MServeProtocol", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),

        .target(
            name: "MServeBroker",
            dependencies: [
                "MServeAdmission", "ZeroMQ", "POSIXSockets", "QData", "MServeQuery", "MServeProtocol", "MServePlugin", "MServePasswords",
                "ProcessMemory", "POSIXFiles",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // The servant plugin ABI's Swift side for plugin authors: functions on q values.
        // (The C header is plugins/include/mserve_servant_plugin.h, module CMServeServantPlugin.)
        .target(
            name: "MServeServantPluginKit",
            dependencies: ["CMServePlugin", "QData"],
            swiftSettings: strict
        ),
        // The quickstart's demo API (proc1, proc2, …), shared by its plugin and DemoFunctions.
        .target(
            name: "DemoAPI",
            dependencies: ["MServeServantPluginKit", "QData"],
            path: "plugins/demo-api/DemoAPI",
            swiftSettings: strict
        ),
        .target(
            name: "MServeServant",
            dependencies: [
                "MServeAdmission", "ZeroMQ", "QData", "MServeQuery", "MServeProtocol", "CMServePlugin",
                "MServeServantPluginKit", "ProcessMemory", "POSIXFiles",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .target(
            name: "MServeClient",
            dependencies: [
                "ZeroMQ", "QData", "MServeProtocol", "POSIXSockets",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        // The hub: registration, liveness, memory stats and crash reports in SQLite, name resolution.
        .target(
            name: "MServeHub",
            dependencies: [
                "MServeAdmission", "ZeroMQ", "POSIXFiles", "POSIXSockets", "QData", "MServeProtocol", "MServePasswords",
                "ProcessMemory", .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // Helpers for testing servants and clients written with MServe.
        .target(
            name: "MServeTesting",
            dependencies: [
                "QData", "MServeQuery", "MServeProtocol", "MServePlugin", "MServeBroker",
                "MServeServant", "MServeClient", "DemoAPI",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // The HTTP side of a broker or hub: /metrics (Prometheus), the status page, health checks.
        .target(
            name: "MServeMonitoring",
            dependencies: [
                "MServeBroker", "MServeHub", "MServeProtocol", "ZeroMQ", "POSIXSockets",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "MServeCLI",
            dependencies: [
                "ZeroMQ", "POSIXSockets", "QData", "MServeQuery", "MServeProtocol", "MServePlugin",
                "MServeBroker", "MServeServant", "MServeClient", "MServeHub", "MServePasswords", "MServeMonitoring",
                "POSIXFiles", "CCloseOnExec",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),

        // Tiny examples of the library: a servant with one function, and a client.
        .executableTarget(
            name: "MServeExampleServant",
            dependencies: [
                "MServeServant", "QData",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(name: "MServeExampleClient", dependencies: ["MServeClient"], swiftSettings: strict),

        // Benchmarks (run with -c release; see bench/README.md).
        .executableTarget(
            name: "MServeBench",
            dependencies: [
                "ZeroMQ", "POSIXSockets", "QData", "MServeQuery", "MServeProtocol", "MServePlugin", "MServeServant",
                "MServeClient", "MServeBroker",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "bench/MServeBench",
            swiftSettings: strict
        ),

        .testTarget(name: "ZeroMQTests", dependencies: ["ZeroMQ", "POSIXFiles", "MServeTestSupport"], swiftSettings: strict),
        .testTarget(name: "POSIXSocketsTests", dependencies: ["POSIXSockets"], swiftSettings: strict),
        .testTarget(name: "MServePasswordsTests", dependencies: ["MServePasswords"], swiftSettings: strict),
        .testTarget(name: "POSIXFilesTests", dependencies: ["POSIXFiles", "MServeTestSupport"], swiftSettings: strict),
        .testTarget(name: "ProcessMemoryTests", dependencies: ["ProcessMemory"], swiftSettings: strict),
        .testTarget(
            name: "QDataTests",
            dependencies: ["QData", "MServeTestScheduling", "MServeTestRandom", .product(name: "PropertyBased", package: "swift-property-based")],
            resources: [.copy("Vectors")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "MServePluginTests",
            dependencies: ["MServePlugin", "CMServePlugin", "MServeTestSupport", "MServeTestScheduling"], swiftSettings: strict),
        .testTarget(
            name: "MServeBrokerTests",
            dependencies: [
                "MServeBroker", "MServeServant", "QData", "MServeQuery", "MServeProtocol", "ZeroMQ", "MServeTesting",
                "MServeTestSupport", "MServePasswords",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "MServeQueryTests",
            dependencies: ["MServeQuery", "MServeTestScheduling", .product(name: "PropertyBased", package: "swift-property-based")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "MServeProtocolTests",
            dependencies: ["MServeProtocol", "MServeTestScheduling"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "MServeServantTests",
            dependencies: [
                "MServeServant", "MServeTesting", "MServeProtocol", "QData", "ZeroMQ", "MServeTestSupport",
                "MServeTestScheduling",
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "MServeServantPluginTests",
            dependencies: [
                "MServeServant", "MServeServantPluginKit", "MServeTesting", "MServeClient",
                "MServeProtocol", "QData", "MServeTestSupport", "MServeTestScheduling", "MServeTestRandom",
                .product(name: "PropertyBased", package: "swift-property-based"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "MServeClientTests",
            dependencies: ["MServeClient", "MServeProtocol", "QData", "ZeroMQ", "POSIXSockets", "MServeTestSupport"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "MServeTestingTests",
            dependencies: [
                "MServeTesting", "MServeServant", "MServeClient", "MServePlugin", "QData",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "MServeHubTests",
            dependencies: [
                "MServeHub", "MServeAdmission", "ZeroMQ", "POSIXSockets", "QData", "MServeProtocol", "MServeTestSupport", "MServeTesting",
                "MServePasswords",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        .testTarget(
            name: "MServeMonitoringTests",
            dependencies: [
                "MServeMonitoring", "MServeBroker", "MServeHub", "MServeServant", "MServeClient", "MServeTesting",
                "MServeTestSupport", "POSIXSockets", "QData",
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "InMemoryLogging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strict
        ),
        // Traits that bound how many tests of a kind run at once (CPU-bound ones, clusters of
        // processes), so that the suite shares a two-core machine without starving its timed tests.
        .target(
            name: "MServeTestScheduling", dependencies: ["CTestParallelism"], path: "Tests/MServeTestScheduling",
            swiftSettings: strict),
        // How many tests run at once: a cap set as the test bundle loads, before Swift Testing reads it.
        .target(name: "CTestParallelism", path: "Tests/CTestParallelism"),
        // The seeded random source the property tests share.
        .target(name: "MServeTestRandom", dependencies: ["QData"], path: "Tests/MServeTestRandom", swiftSettings: strict),
        .testTarget(name: "MServeTestSchedulingTests", dependencies: ["MServeTestScheduling"], swiftSettings: strict),
        // What the integration tests share to run real mserve processes.
        .target(
            name: "MServeTestSupport",
            dependencies: ["MServeProtocol", "MServeServant", "ZeroMQ", "POSIXSockets", "CProcessSpawn", "CCloseOnExec"],
            path: "Tests/MServeTestSupport", swiftSettings: strict),
        .testTarget(name: "MServeTestSupportTests", dependencies: ["MServeTestSupport"], swiftSettings: strict),
        // The benchmark harness's own code (its CSV files and printed lines), without running a benchmark.
        .testTarget(
            name: "MServeBenchTests",
            dependencies: ["MServeBench", .product(name: "ArgumentParser", package: "swift-argument-parser")],
            swiftSettings: strict),
        .testTarget(
            name: "MServeIntegrationTests",
            dependencies: [
                "MServeTestSupport", "MServeTestScheduling",
                "ZeroMQ", "POSIXSockets", "QData", "MServeProtocol", "MServeClient", "MServeTesting", "MServeHub",
            ],
            swiftSettings: strict
        ),
    ] + swiftPlugins.map(\.1) + cPlugins.map(\.1) + servantPlugins.map(\.1)
)
