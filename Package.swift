// swift-tools-version: 6.1
// MetaRec: multi-task (MMoE) recommendation models with MAML-meta-learned towers,
// served fine-tuned per user per request. Module graph: see README.md and STYLE in docs.
import PackageDescription

let package = Package(
    name: "MetaRec",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "metarec", targets: ["MetaRecCLI"]),
        .executable(name: "metarec-bench", targets: ["MetaRecBench"]),
        .library(name: "TensorCore", targets: ["TensorCore"]),
        // Libraries for the microbenchmark package in Benchmarks/ (depends on this one by path).
        .library(name: "ModelMath", targets: ["ModelMath"]),
        .library(name: "ModelDescription", targets: ["ModelDescription"]),
        .library(name: "ParamServer", targets: ["ParamServer"]),
        .library(name: "Serving", targets: ["Serving"]),
        // The HTTP scoring server, for apps that embed it (`buildApplication`).
        .library(name: "MetaRecServer", targets: ["MetaRecServer"]),
    ],
    traits: [
        .trait(name: "HTTPServer", description: """
            `metarec serve` over HTTP (Hummingbird 2, on swift-nio). On by default; `make demo` builds \
            without it (the demo needs no HTTP, and swift-nio is half of a fresh release build).
            """),
        .default(enabledTraits: ["HTTPServer"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "6.0.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        // Named for the connection handlers of MetaRecServer (timeouts, the connection cap); Hummingbird's own.
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.0"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // Traits off, as Hummingbird takes it: environment variables need none of them.
        .package(url: "https://github.com/apple/swift-configuration", from: "1.4.0", traits: []),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift", from: "0.2.0"),
    ],
    targets: [
        // OpenBLAS through pkg-config ("openblas"); only TensorCore/BLAS.swift imports it.
        .systemLibrary(
            name: "CBLAS",
            pkgConfig: "openblas",
            providers: [.apt(["libopenblas-dev"])]
        ),
        // zlib through pkg-config ("zlib"); only MetaTrain/Data/GzipByteSource.swift imports it.
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        // hiredis (Debian libhiredis-dev, headers in the system include path; `make deps` installs it;
        // no pkgConfig: its -D_FILE_OFFSET_BITS=64 is a flag SwiftPM refuses with a warning per build);
        // only ParamServer/Redis/RedisConnection.swift imports it.
        .systemLibrary(name: "CHiredis"),
        // Hand-written kernels (AVX-512 / AVX2 / portable, chosen at run time): GEMM, tower head,
        // gate mixture, sigmoid, softmax, Adam, the peak loop. README.md lists them.
        .target(name: "CKernels", exclude: ["README.md"]),
        .target(name: "TensorCore", dependencies: ["CBLAS", "CKernels"], exclude: ["README.md"]),
        // The model math: networks, layers, towers, MAML and adaptation (tensors in, tensors out).
        .target(name: "ModelMath", dependencies: ["TensorCore"], exclude: ["README.md"]),
        // What describes and stores a model: YAML config, feature encoding, checkpoints; where the
        // parameter server's embedding store meets the math's `EmbeddingTable`.
        .target(name: "ModelDescription",
                dependencies: ["ModelMath", "TensorCore", "ParamServer", .product(name: "Yams", package: "Yams")],
                exclude: ["README.md", "Config/README.md"]),
        // Software prefetch (header only) for the parameter server's index sweeps.
        .target(name: "PrivacyAccounting", exclude: ["README.md"]),
        .target(name: "CPrefetch"),
        .target(name: "ParamServer", dependencies: ["CPrefetch", "CHiredis"], exclude: ["README.md"]),
        // Candidate retrieval: two towers, history encoders, sampled softmax with cross-batch
        // negatives, exact top-N over the catalogue, recall/nDCG and the baselines (docs/DESIGN.md §Retrieval).
        .target(name: "Retrieval", dependencies: ["ModelMath", "ModelDescription", "TensorCore"], exclude: ["README.md"]),
        .target(name: "MetaTrain", dependencies: ["ModelMath", "ModelDescription", "ParamServer", "TensorCore", "CZlib", "PrivacyAccounting",
                                                .product(name: "Logging", package: "swift-log")], exclude: ["README.md", "Datasets/README.md"]),
        // Counting malloc replacement (glibc) for `metarec-bench serving` and the allocation tests;
        // never linked into `metarec` (MetaRecCLITests checks its symbols).
        .target(name: "CMallocCounter"),
        // Per-request fine-tuned scoring, auto-batching, feedback events, metrics (no HTTP here).
        .target(name: "Serving", dependencies: [
            "ModelMath", "ModelDescription", "ParamServer", "TensorCore",
            .product(name: "Logging", package: "swift-log"), .product(name: "CoreMetrics", package: "swift-metrics"),
        ], exclude: ["README.md"]),
        // Recall by the retrieval model, then the ranker's fine-tuned scores (`POST /v1/recommend`, the demo); no HTTP here.
        .target(name: "Recommendation", dependencies: ["ModelDescription", "Retrieval", "Serving"], exclude: ["README.md"]),
        // The HTTP scoring server (routes, lifecycle services, `buildApplication`); the only importer of Hummingbird.
        .target(name: "MetaRecServer", dependencies: [
            "ModelMath", "ModelDescription", "ParamServer", "TensorCore", "Serving", "Retrieval", "Recommendation",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "UnixSignals", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Configuration", package: "swift-configuration"),
        ], exclude: ["README.md"], resources: [.copy("openapi.yaml")]),
        // The in-process serving benchmark shared by `metarec demo` and `metarec-bench serving` (no malloc counter).
        .target(name: "ServingBench", dependencies: [
            "ModelMath", "ModelDescription", "Serving", "TensorCore", .product(name: "Histogram", package: "hdrhistogram-swift"),
        ], exclude: ["README.md"]),
        .executableTarget(
            name: "MetaRecCLI",
            dependencies: [
                "TensorCore", "ModelMath", "ModelDescription", "ParamServer", "MetaTrain", "Serving", "ServingBench", "Retrieval", "Recommendation",
                .target(name: "MetaRecServer", condition: .when(traits: ["HTTPServer"])),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Configuration", package: "swift-configuration", condition: .when(traits: ["HTTPServer"])),
            ]
        ),
        // `metarec-bench`: the benchmark harness, on the counting malloc.
        .executableTarget(
            name: "MetaRecBench",
            dependencies: [
                "TensorCore", "ModelMath", "ModelDescription", "ParamServer", "MetaTrain", "Serving", "ServingBench", "Retrieval", "CMallocCounter",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
            ],
            exclude: ["README.md"]
        ),

        // Test-only helpers: tolerance checks, finite differences, reference kernels, seeded data.
        .target(name: "TestSupport", dependencies: ["TensorCore", "ModelMath"], path: "Tests/TestSupport"),
        // Reads Sources/ and Package.swift: the module graph of README.md, checked edge by edge.
        .testTarget(name: "ArchitectureTests"),
        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore", "TestSupport"]),
        .testTarget(name: "ParamServerTests", dependencies: ["ParamServer"]),
        .testTarget(name: "PrivacyAccountingTests", dependencies: ["PrivacyAccounting"]),
        .testTarget(name: "MetaTrainTests", dependencies: [
            "MetaTrain", "ModelMath", "ModelDescription", "TensorCore", "ParamServer", "TestSupport", "PrivacyAccounting",
            .product(name: "Logging", package: "swift-log"), .product(name: "InMemoryLogging", package: "swift-log"),
        ]),
        .testTarget(name: "ModelMathTests", dependencies: ["ModelMath", "TensorCore", "TestSupport"]),
        .testTarget(name: "RetrievalTests", dependencies: ["Retrieval", "ModelMath", "ModelDescription", "TensorCore", "TestSupport"]),
        .testTarget(name: "ModelDescriptionTests", dependencies: ["ModelDescription", "ModelMath", "TensorCore", "ParamServer"]),
        .testTarget(name: "ServingTests", dependencies: [
            "Serving", "ModelMath", "ModelDescription", "ParamServer", "TensorCore", "MetaTrain", "TestSupport", "CMallocCounter",
            .product(name: "MetricsTestKit", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
        .testTarget(name: "RecommendationTests", dependencies: ["Recommendation", "Retrieval", "Serving", "ParamServer", "TensorCore"]),
        .testTarget(name: "MetaRecServerTests", dependencies: [
            "MetaRecServer", "Recommendation", "Serving", "Retrieval", "ModelMath", "ModelDescription", "ParamServer", "TensorCore",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "ServiceLifecycleTestKit", package: "swift-service-lifecycle"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "InMemoryLogging", package: "swift-log"),
            .product(name: "CoreMetrics", package: "swift-metrics"),
            .product(name: "Prometheus", package: "swift-prometheus"),
            .product(name: "Configuration", package: "swift-configuration"),
        ]),
        .testTarget(name: "MetaRecCLITests", dependencies: [
            "MetaRecCLI", "MetaTrain", "Serving", "ModelMath", "ModelDescription", "ParamServer", "TensorCore", "Retrieval",
        ]),
    ],
    swiftLanguageModes: [.v6]
)
