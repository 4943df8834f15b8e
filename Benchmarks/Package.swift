// swift-tools-version: 6.1
// MetaRec microbenchmarks (ordo-one/benchmark): wall clock and malloc counts of the hot paths,
// checked against committed p90 thresholds in Thresholds/. Its own package, so `swift test` at the
// root never builds the benchmark tooling. How to run: README.md here.
import PackageDescription

// A path dependency's identity is its folder's name (here the checkout's, e.g. `main` or `MetaRec`),
// not the manifest's `name`, so products of the root package are looked up under that name.
let metaRec = String(Context.packageDirectory.split(separator: "/").dropLast().last ?? "MetaRec").lowercased()

let package = Package(
    name: "MetaRecBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        // The root package (TensorCore, ModelMath, ModelDescription, ParamServer, Serving library products).
        .package(path: ".."),
        // jemalloc is not needed: the MallocInterposer trait counts mallocs through
        // ordo-one/malloc-interposer. Naming the trait turns off the default RuntimeInterposer one.
        .package(url: "https://github.com/ordo-one/benchmark", from: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        .executableTarget(
            name: "MetaRecBenchmarks",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "TensorCore", package: metaRec),
                .product(name: "ModelMath", package: metaRec),
                .product(name: "ModelDescription", package: metaRec),
                .product(name: "ParamServer", package: metaRec),
                .product(name: "Serving", package: metaRec),
            ],
            path: "Benchmarks/MetaRecBenchmarks",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
