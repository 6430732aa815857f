// swift-tools-version: 6.1
import PackageDescription

// An operator's own actions and worker binary, built on mistral-actions.
//
//   AcmeActions           the actions, one file each (found by the discovery plugin)
//   acme-mistral-actions  the worker binary: every mistral-actions command,
//                         over the standard catalog and AcmeActions
//   AcmeActionsTests      unit tests against the in-process OpenStack simulator
//
// This template depends on the checkout around it (`path: "../.."`); a
// package of your own depends on a release instead:
//   .package(url: "https://github.com/<org>/mistral-actions", from: "0.2.0")
let package = Package(
    name: "custom-actions",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "mistral-actions", path: "../.."),
    ],
    targets: [
        .target(
            name: "AcmeActions",
            dependencies: [
                .product(name: "ActionKit", package: "mistral-actions"),
                .product(name: "ActionCatalog", package: "mistral-actions"),
                .product(name: "OpenStackClient", package: "mistral-actions"),
            ],
            plugins: [.plugin(name: "ActionDiscoveryPlugin", package: "mistral-actions")]
        ),
        .executableTarget(
            name: "acme-mistral-actions",
            dependencies: [
                "AcmeActions",
                .product(name: "ActionCatalog", package: "mistral-actions"),
                .product(name: "MistralActionsCLI", package: "mistral-actions"),
            ]
        ),
        .testTarget(
            name: "AcmeActionsTests",
            dependencies: [
                "AcmeActions",
                .product(name: "ActionKit", package: "mistral-actions"),
                .product(name: "ActionCatalog", package: "mistral-actions"),
                .product(name: "OpenStackClient", package: "mistral-actions"),
                .product(name: "MistralActionsTesting", package: "mistral-actions"),
            ]
        ),
    ]
)
