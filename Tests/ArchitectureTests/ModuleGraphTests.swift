import Foundation
import Testing

/// The module graph of README.md, read from the sources: every `import` of every file under
/// `Sources/`, and every target's declared dependencies in `Package.swift`. Prints the graph and
/// fails on an edge the architecture does not allow, or an import a target does not declare.
@Suite struct ModuleGraphTests {
    /// Modules of the operating system and the toolchain; importing them is never an edge.
    static let platform: Set<String> = ["Darwin", "Glibc", "Musl", "Foundation", "Dispatch", "Synchronization"]

    /// Every edge the architecture allows, from a module to the modules it may import. Modules of
    /// this package and packages it depends on alike; an import not listed here fails the test.
    static let allowed: [String: Set<String>] = [
        "CKernels": [], "CBLAS": [], "CZlib": [], "CPrefetch": [], "CMallocCounter": [], "CHiredis": [],
        "TensorCore": ["CBLAS", "CKernels"],
        "ParamServer": ["CPrefetch", "CHiredis"],
        "PrivacyAccounting": [],
        "ModelMath": ["TensorCore"],
        "Retrieval": ["ModelMath", "ModelDescription", "TensorCore"],
        "ModelDescription": ["ModelMath", "TensorCore", "ParamServer", "Yams"],
        // swift-log and swift-metrics are APIs, not backends: the libraries log and count through them,
        // the executable (or an embedding app) picks the handler and the factory.
        "MetaTrain": ["ModelMath", "ModelDescription", "ParamServer", "TensorCore", "CZlib", "PrivacyAccounting", "Logging"],
        "Serving": ["ModelMath", "ModelDescription", "ParamServer", "TensorCore", "Logging", "CoreMetrics"],
        // Recall, then the ranker: POST /v1/recommend and the demo's in-process recommendations.
        "Recommendation": ["ModelDescription", "Retrieval", "Serving"],
        // NIOCore, NIOHTTPTypes and HummingbirdCore for the connection handlers (timeouts, the connection cap).
        // Retrieval for POST /v1/recommend (recall before the ranker); it sits beside Serving.
        "MetaRecServer": ["Serving", "Retrieval", "Recommendation", "ModelMath", "ModelDescription", "ParamServer", "TensorCore", "Hummingbird",
                          "HummingbirdCore", "NIOCore", "NIOHTTPTypes",
                          "ServiceLifecycle", "UnixSignals", "Logging", "CoreMetrics", "Prometheus", "Configuration"],
        "ServingBench": ["Serving", "ModelMath", "ModelDescription", "ParamServer", "TensorCore", "Histogram"],
        "MetaRecBench": ["ServingBench", "MetaTrain", "Serving", "Retrieval", "ModelMath", "ModelDescription", "ParamServer",
                         "TensorCore", "CMallocCounter", "ArgumentParser", "Histogram"],
        // Never CMallocCounter: `metarec serve` runs on the system allocator.
        "MetaRecCLI": ["MetaRecServer", "ServingBench", "MetaTrain", "Serving", "Retrieval", "Recommendation", "ModelMath", "ModelDescription",
                       "ParamServer", "TensorCore", "ArgumentParser", "Logging", "Configuration"],
    ]

    /// C libraries whose import is confined to one file, like swift-numerics' shims: the C surface
    /// never reaches a public API.
    static let singleFileImports: [String: String] = [
        "CBLAS": "TensorCore/BLAS.swift",
        "CZlib": "MetaTrain/Data/GzipByteSource.swift",
        "CHiredis": "ParamServer/Redis/RedisConnection.swift",
    ]

    static var root: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }

    /// `module → (file relative to Sources/ → imported modules)` for every Swift file under `Sources/`.
    static func sourceImports() throws -> [String: [String: Set<String>]] {
        let sources = root.appendingPathComponent("Sources")
        var out: [String: [String: Set<String>]] = [:]
        let modules = try FileManager.default.contentsOfDirectory(atPath: sources.path)
        for module in modules.sorted() {
            let folder = sources.appendingPathComponent(module)
            guard let files = FileManager.default.enumerator(atPath: folder.path) else { continue }
            for case let file as String in files where file.hasSuffix(".swift") {
                let text = try String(contentsOf: folder.appendingPathComponent(file), encoding: .utf8)
                out[module, default: [:]]["\(module)/\(file)"] = imports(in: text)
            }
        }
        return out
    }

    /// The modules a Swift file imports (`import X`, `@testable import X`, `import struct X.Y`).
    static func imports(in text: String) -> Set<String> {
        var out: Set<String> = []
        for line in text.split(separator: "\n", omittingEmptySubsequences: true) {
            var words = line.split(separator: " ").map(String.init)
            while let first = words.first, first.hasPrefix("@") || ["public", "package", "internal"].contains(first) {
                words.removeFirst()
            }
            guard words.first == "import", words.count >= 2 else { continue }
            let path = words.count >= 3 && ["struct", "class", "enum", "protocol", "func", "typealias"].contains(words[1])
                ? words[2] : words[1]
            out.insert(String(path.split(separator: ".")[0]))
        }
        return out
    }

    /// Each target's declared dependencies in `Package.swift` (`.target(name: "X", dependencies: [...])`
    /// at the targets list's indentation, products as their product names, conditional targets included).
    static func declaredDependencies() throws -> [String: Set<String>] {
        let manifest = try String(contentsOf: root.appendingPathComponent("Package.swift"), encoding: .utf8)
        var out: [String: Set<String>] = [:]
        let targetStarts = manifest.ranges(of: /\n {8}\.(target|executableTarget|testTarget|systemLibrary)\(\s*name: "([A-Za-z]+)"/)
        for (i, start) in targetStarts.enumerated() {
            let end = i + 1 < targetStarts.count ? targetStarts[i + 1].lowerBound : manifest.endIndex
            let body = manifest[start.lowerBound..<end]
            guard let name = try /name: "([A-Za-z]+)"/.firstMatch(in: body)?.1 else { continue }
            var deps: Set<String> = []
            if let list = Self.bracketed(after: "dependencies: [", in: body) {
                for product in list.matches(of: /\.product\(name: "([A-Za-z]+)"/) { deps.insert(String(product.1)) }
                let withoutProducts = list.replacing(/\.product\([^)]*\)/, with: "")
                for target in withoutProducts.matches(of: /"([A-Za-z]+)"/) { deps.insert(String(target.1)) }
            }
            out[String(name)] = deps
        }
        return out
    }

    /// The text between `opening` (ending in `[`) and its matching `]`.
    static func bracketed(after opening: String, in text: Substring) -> Substring? {
        guard let start = text.range(of: opening)?.upperBound else { return nil }
        var depth = 1
        var i = start
        while i < text.endIndex {
            if text[i] == "[" { depth += 1 }
            if text[i] == "]" { depth -= 1; if depth == 0 { return text[start..<i] } }
            i = text.index(after: i)
        }
        return nil
    }

    @Test func `every import is an allowed edge of the module graph`() throws {
        let graph = try Self.sourceImports()
        #expect(graph.keys.contains("ModelMath") && graph.keys.contains("ParamServer"), "no sources found under \(Self.root.path)")
        var report = "module graph (from the sources' imports):\n"
        for (module, files) in graph.sorted(by: { $0.key < $1.key }) {
            let edges = files.values.reduce(into: Set<String>()) { $0.formUnion($1) }.subtracting(Self.platform)
            report += "  \(module) -> \(edges.sorted().joined(separator: ", "))\n"
            let allowed = try #require(Self.allowed[module], "\(module) is not in the architecture: add it to `allowed`")
            for (file, imported) in files.sorted(by: { $0.key < $1.key }) {
                for forbidden in imported.subtracting(Self.platform).subtracting(allowed).sorted() {
                    Issue.record("forbidden edge \(module) -> \(forbidden) (Sources/\(file))")
                }
            }
        }
        print(report)
    }

    @Test func `every imported module is a declared dependency of its target`() throws {
        let graph = try Self.sourceImports(), declared = try Self.declaredDependencies()
        for (module, files) in graph {
            let imported = files.values.reduce(into: Set<String>()) { $0.formUnion($1) }.subtracting(Self.platform)
            let missing = imported.subtracting(declared[module] ?? [])
            #expect(missing.isEmpty, "\(module) imports \(missing.sorted()) without declaring it in Package.swift")
        }
    }

    @Test func `each C library is imported by one file`() throws {
        let graph = try Self.sourceImports()
        for (library, owner) in Self.singleFileImports {
            let importers = graph.values.flatMap { $0 }.filter { $0.value.contains(library) }.map(\.key)
            #expect(importers == [owner], "\(library) is imported by \(importers.sorted()), expected only \(owner)")
        }
    }

    @Test func `the import reader sees every form of import`() {
        let text = "import A\n@testable import B\nimport struct C.D\n// import E\npublic import F\nlet importG = 1\n"
        #expect(Self.imports(in: text) == ["A", "B", "C", "F"])
    }
}
