import Foundation

/// The OpenAPI 3.1 document of the HTTP API (`openapi.yaml` beside this file, a resource of the
/// module), served at `GET /openapi.yaml` and checked against the running server by `make test`
/// (openapi-spec-validator, schemathesis). The server does not use it to read requests: its
/// own JSON reader does (`Serving/JSONReader.swift`).
enum OpenAPIDocument {
    /// The document's bytes, read once; empty when the resource bundle was not installed beside
    /// the executable (the route then answers 404).
    static let bytes: [UInt8] = {
        for path in candidatePaths {
            if let data = FileManager.default.contents(atPath: path) { return Array(data) }
        }
        return []
    }()

    /// SwiftPM's resource bundle beside the executable (`metarec` as built or installed with it),
    /// then the bundle of the build tree, then the source file (tests run from the build tree).
    /// Looked up by hand: `Bundle.module` stops the process when the bundle is missing.
    static var candidatePaths: [String] {
        let name = "MetaRec_MetaRecServer.resources/openapi.yaml"
        var paths = [Bundle.main.bundleURL.appendingPathComponent(name).path]
        if let executable = Bundle.main.executableURL?.resolvingSymlinksInPath().deletingLastPathComponent() {
            paths.append(executable.appendingPathComponent(name).path)
        }
        for bundle in Bundle.allBundles { paths.append(bundle.bundleURL.appendingPathComponent(name).path) }
        paths.append(URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("openapi.yaml").path)
        return paths
    }
}
