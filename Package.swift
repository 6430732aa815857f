// swift-tools-version: 6.1
import PackageDescription

// Module map of the project (a reader should guess where a thing lives):
//   CRabbitMQ, CLibPQ        system libraries (librabbitmq-dev, libpq-dev)
//   AMQPClient               the only importer of CRabbitMQ: connections, channels, consume, publish
//   PostgresClient           the only importer of CLibPQ: connections, queries, transactions
//   OrderedJSON              JSON values that keep key order; a fast parser and Python-compatible writer
//   CheckedNumbers           numbers from outside into integers and durations, never trapping
//   SystemSupport            detached system threads, literal text replacement (no Foundation)
//   OsloMessaging            oslo.messaging RPC over AMQPClient: envelope, context, RPC server and client
//   OsloConfig               oslo-style INI files and the typed worker configuration
//   MistralProtocol          Mistral's run_action arguments, serialized actions and results
//   ActionKit                the action protocol: typed parameters, descriptors, registry, context
//   ActionDiscoveryTool/-Plugin  build step listing every MistralAction type of a target
//   ActionCatalog            the actions this binary ships (one file each)
//   ActionSync               keeps Mistral's code_sources / dynamic_action_definitions in step (libpq)
//   StartClaims              records action starts in PostgreSQL so a redelivered request is not run twice
//   OpenStackClient          OpenStack over HTTP: credentials from the request, catalog, retries, limits
//   OpenStackSimulator       a faithful OpenStack API simulator (Keystone, Cinder, Nova, Glance, Trove)
//   openstack-simulator      its executable (tests and the README demo use it)
//   CommandRunner            runs allowlisted local commands in their own process group
//   Worker                   the executor service: consume, route, run, heartbeat, report, relay
//   StatusServer             HTTP /healthz, /readyz, /metrics (Prometheus text) on SwiftNIO
//   MistralActionsCLI        the commands of `mistral-actions` (callable from tests)
//   MistralActionsTesting    unit tests of actions against the in-process simulator (SDK product)
//   mistral-actions          the thin executable
//   FuzzTargets, mistral-actions-fuzz  libFuzzer targets (Fuzz/); corpus replayed by FuzzCorpusTests
//   mistral-actions-instructions  the hot-path workload bench/instructions.sh counts (bench/instructions/)
//   mistral-actions-startup  registration of 1,000 actions, timed by bench/startup.sh (bench/startup/)

let strictSettings: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

// How the release worker binary is linked on Linux (issue 13: its memory).
// Measured idle, consuming, against the default dynamic link with gold
// (33.1 MB VmRSS): the Swift runtime and FoundationEssentials linked in
// (-static-stdlib, their used parts only, no symbol binding across
// libraries; the two libraries the static FoundationEssentials needs are
// named, as the dynamic modules we compile against do not ask for them),
// without exporting every symbol (-export-dynamic, which the static
// standard library adds, makes the dynamic loader search a 3 MB symbol
// table for every other library's symbols), with lld's packed relative
// relocations (DT_RELR, glibc 2.36: 36,000 relocations in 16 KB instead of
// 1.1 MB): 27.4 MB idle, 46 MB instead of 52 MB at 64 actions in flight,
// same CPU per action. Debug builds (the tests) stay dynamic.
let workerReleaseLinkerFlags = [
    "-static-stdlib", "-l_FoundationCollections", "-l_FoundationCShims",
    "-Xlinker", "--no-export-dynamic",
    "-use-ld=lld", "-Xlinker", "-z", "-Xlinker", "pack-relative-relocs",
]

let package = Package(
    name: "mistral-actions",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "mistral-actions", targets: ["mistral-actions"]),
        .executable(name: "openstack-simulator", targets: ["openstack-simulator"]),
        // The SDK (issue 15): an operator's own package depends on these to
        // write actions, build its own worker binary and test its actions
        // (examples/custom-actions is the template).
        .library(name: "ActionKit", targets: ["ActionKit", "OrderedJSON"]),
        .library(name: "OpenStackClient", targets: ["OpenStackClient"]),
        .library(name: "ActionCatalog", targets: ["ActionCatalog"]),
        .library(name: "MistralActionsCLI", targets: ["MistralActionsCLI"]),
        .library(name: "MistralActionsTesting", targets: ["MistralActionsTesting", "OpenStackSimulator"]),
        .plugin(name: "ActionDiscoveryPlugin", targets: ["ActionDiscoveryPlugin"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CRabbitMQ",
            pkgConfig: "librabbitmq",
            providers: [.apt(["librabbitmq-dev"])]
        ),
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        .target(
            name: "AMQPClient",
            dependencies: [
                "CRabbitMQ",
                "SystemSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "PostgresClient",
            dependencies: [
                "CLibPQ",
                "SystemSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "OsloConfig",
            dependencies: ["CheckedNumbers", "SystemSupport"],
            swiftSettings: strictSettings
        ),
        .target(
            name: "OrderedJSON",
            dependencies: [],
            swiftSettings: strictSettings
        ),
        .target(
            name: "CheckedNumbers",
            dependencies: [],
            swiftSettings: strictSettings
        ),
        .target(
            name: "SystemSupport",
            dependencies: [],
            swiftSettings: strictSettings
        ),
        .target(
            name: "OsloMessaging",
            dependencies: [
                "CheckedNumbers",
                "OrderedJSON",
                "AMQPClient",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "MistralProtocol",
            dependencies: ["OrderedJSON", "OsloMessaging"],
            swiftSettings: strictSettings
        ),
        .target(
            name: "ActionKit",
            dependencies: [
                "CheckedNumbers",
                "OrderedJSON",
                "OsloMessaging",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "ActionDiscoveryTool",
            dependencies: [],
            swiftSettings: strictSettings
        ),
        .plugin(
            name: "ActionDiscoveryPlugin",
            capability: .buildTool(),
            dependencies: ["ActionDiscoveryTool"]
        ),
        .target(
            name: "OpenStackClient",
            dependencies: [
                "CheckedNumbers",
                "OrderedJSON",
                "OsloMessaging",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "OpenStackSimulator",
            dependencies: [
                "OrderedJSON",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "openstack-simulator",
            dependencies: [
                "OpenStackSimulator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "CommandRunner",
            dependencies: ["SystemSupport"],
            swiftSettings: strictSettings
        ),
        .target(
            name: "ActionCatalog",
            dependencies: [
                "ActionKit",
                "CheckedNumbers",
                "OrderedJSON",
                "OsloMessaging",
                "OpenStackClient",
                "CommandRunner",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings,
            plugins: ["ActionDiscoveryPlugin"]
        ),
        .target(
            name: "ActionSync",
            dependencies: [
                "ActionKit",
                "CheckedNumbers",
                "OrderedJSON",
                "PostgresClient",
                "SystemSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "StartClaims",
            dependencies: [
                "CheckedNumbers",
                "PostgresClient",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "Worker",
            dependencies: [
                "AMQPClient",
                "CheckedNumbers",
                "ActionKit",
                "MistralProtocol",
                "OrderedJSON",
                "OsloConfig",
                "OsloMessaging",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "StatusServer",
            dependencies: [
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strictSettings
        ),
        .target(
            name: "MistralActionsCLI",
            dependencies: [
                "OsloConfig",
                "AMQPClient",
                "PostgresClient",
                "ActionKit",
                "ActionCatalog",
                "ActionSync",
                "OpenStackClient",
                "CommandRunner",
                "StartClaims",
                "Worker",
                "StatusServer",
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        // Unit tests of actions against the in-process OpenStack simulator
        // (a product, so that operators test their own actions the same way).
        .target(
            name: "MistralActionsTesting",
            dependencies: [
                "ActionCatalog", "ActionKit", "OpenStackClient", "OpenStackSimulator", "OrderedJSON", "OsloMessaging",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .executableTarget(
            name: "mistral-actions",
            dependencies: [
                "MistralActionsCLI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            swiftSettings: strictSettings,
            linkerSettings: [.unsafeFlags(workerReleaseLinkerFlags, .when(platforms: [.linux], configuration: .release))]
        ),
        // What the test targets share: the servers' addresses, bounded
        // waits, counters and signals, rabbitmqctl (postgres-nio's
        // _ConnectionPoolTestUtils). Target-specific helpers stay in their target.
        .target(
            name: "MistralActionsTestSupport",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/TestSupport",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "CheckedNumbersTests",
            dependencies: ["CheckedNumbers"],
            swiftSettings: strictSettings
        ),
        // Fuzzing (issue 10): the targets as a library, a libFuzzer entry
        // point (built with -sanitize=fuzzer -DFUZZING by scripts/fuzz.sh; a
        // corpus replayer otherwise) and the corpus replay test.
        .target(
            name: "FuzzTargets",
            dependencies: [
                "ActionCatalog", "ActionKit", "AMQPClient", "MistralProtocol", "OpenStackClient", "OpenStackSimulator",
                "OrderedJSON", "OsloConfig", "OsloMessaging", "Worker",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Fuzz/Targets",
            swiftSettings: strictSettings
        ),
        .target(
            name: "FuzzDriverShim",
            path: "Fuzz/Shim"
        ),
        .executableTarget(
            name: "mistral-actions-fuzz",
            dependencies: ["FuzzTargets", "FuzzDriverShim"],
            path: "Fuzz/Entry",
            swiftSettings: strictSettings
        ),
        // The workload bench/instructions.sh counts instructions of under
        // callgrind (decode, route, encode one action): the CI regression guard.
        .executableTarget(
            name: "mistral-actions-instructions",
            dependencies: ["ActionCatalog", "ActionKit", "MistralProtocol", "OrderedJSON", "OsloMessaging", "Worker"],
            path: "bench/instructions",
            swiftSettings: strictSettings
        ),
        // Registration of 1,000 synthetic actions, timed: bench/startup.sh.
        .executableTarget(
            name: "mistral-actions-startup",
            dependencies: [
                "ActionKit", "ActionSync", "OrderedJSON", "PostgresClient",
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "bench/startup",
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "FuzzCorpusTests",
            dependencies: ["FuzzTargets", "MistralProtocol", "OrderedJSON"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "MistralProtocolTests",
            dependencies: ["MistralProtocol", "OrderedJSON", "OsloMessaging"],
            resources: [.copy("Fixtures")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ActionKitTests",
            dependencies: [
                "ActionKit", "ActionCatalog", "ActionSync", "OrderedJSON", "OsloMessaging", "MistralActionsCLI",
                "MistralActionsTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "WorkerTests",
            dependencies: [
                "Worker", "ActionCatalog", "ActionKit", "ActionSync", "MistralProtocol", "OrderedJSON", "OsloMessaging",
                "OsloConfig", "MistralActionsTestSupport", "StatusServer",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ActionSyncTests",
            dependencies: [
                "ActionSync", "ActionKit", "OrderedJSON", "PostgresClient", "MistralActionsTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "StartClaimsTests",
            dependencies: [
                "StartClaims", "PostgresClient",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: ["OrderedJSON", "MistralActionsTestSupport"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "OsloConfigTests",
            dependencies: ["OsloConfig"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "AMQPClientTests",
            dependencies: [
                "AMQPClient",
                "MistralActionsTestSupport",
                "SystemSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "OrderedJSONTests",
            dependencies: ["OrderedJSON"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "OsloMessagingTests",
            dependencies: [
                "OsloMessaging",
                "MistralProtocol",
                "OrderedJSON",
                "AMQPClient",
                "MistralActionsTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            resources: [.copy("Fixtures")],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "OpenStackClientTests",
            dependencies: [
                "OpenStackClient", "OrderedJSON", "OsloMessaging", "MistralActionsTestSupport",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "OpenStackSimulatorTests",
            dependencies: [
                "OpenStackSimulator", "OrderedJSON", "MistralActionsTestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "CommandRunnerTests",
            dependencies: ["CommandRunner"],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "ActionCatalogTests",
            dependencies: [
                "ActionCatalog", "ActionKit", "OpenStackClient", "OpenStackSimulator", "CommandRunner",
                "OrderedJSON", "OsloMessaging", "MistralActionsTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
        .testTarget(
            name: "PostgresClientTests",
            dependencies: [
                "PostgresClient",
                "MistralActionsTestSupport",
                .product(name: "Logging", package: "swift-log"),
            ],
            swiftSettings: strictSettings
        ),
    ]
)
