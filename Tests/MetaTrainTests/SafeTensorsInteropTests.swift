import Foundation
import ModelDescription
import ModelMath
import TensorCore
import Testing
@testable import MetaTrain

/// `model.safetensors` read by the reference implementation: Python's `safetensors` + `numpy`
/// (PyPI), run through `$METAREC_PYTHON` (`make test` creates `.build-venv/` and sets it).
/// Python is used only here and in Benchmarks/.
@Suite(.enabled(if: InteropPython.path != nil,
                // Skipped, not passed: run through `make test`, which sets METAREC_PYTHON.
                "METAREC_PYTHON is unset: run `make test` (it creates .build-venv with safetensors + numpy) or export METAREC_PYTHON=/path/to/python"))
struct SafeTensorsInteropTests {
    static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Scripts/safetensors_interop.py").path

    /// Runs the interop script; fails the test with Python's output when it exits non-zero.
    static func runPython(_ arguments: [String], in directory: String) throws {
        let python = try #require(InteropPython.path)
        let log = directory + "/python.log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: python)
        process.arguments = [script] + arguments
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        process.waitUntilExit()
        try? handle.close()
        let output = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        try #require(process.terminationStatus == 0, "\(python) \(arguments.joined(separator: " ")) failed:\n\(output)")
    }

    /// What Python saw: per tensor its dtype, shape and values, and the metadata.
    struct Dump {
        var tensors: [String: (dtype: String, shape: [Int], values: [Double])]
        var metadata: [String: String]

        init(_ path: String) throws {
            let object = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path)))
            let root = try #require(object as? [String: Any])
            metadata = try #require(root["metadata"] as? [String: String])
            tensors = [:]
            for (name, value) in try #require(root["tensors"] as? [String: Any]) {
                let entry = try #require(value as? [String: Any])
                tensors[name] = (try #require(entry["dtype"] as? String),
                                 try #require(entry["shape"] as? [Int]),
                                 try #require(entry["values"] as? [Double]))
            }
        }
    }

    /// Number of values of `tensor` that differ bit for bit from Python's float64 copies.
    static func mismatches(_ tensor: Tensor, _ values: [Double]) -> Int {
        guard tensor.count == values.count else { return max(tensor.count, values.count) }
        return zip(tensor.scalars, values).filter { $0.bitPattern != Float($1).bitPattern }.count
    }

    @Test func `model.safetensors loads in Python with the tensor names, shapes and values Swift wrote`() throws {
        let dir = TrainingFixture.temporaryDirectory("metarec-interop")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var config = TrainingFixture.config
        config.labels.append(.init(name: "rating", kind: .regression))
        config.model.experts = 3
        config.model.expertLayers = [8, 6]
        config.model.towerLayers = [5]
        var parameters = ModelParameters(spec: config.networkSpec, seed: 42)
        // Non-zero biases too, so a bias read from the wrong offset cannot pass as zeros.
        var i: Float = 0
        parameters.updateEachTensor { name, tensor in
            guard name.hasSuffix(".bias") else { return }
            for j in tensor.scalars.indices {
                i += 1
                tensor.scalars[j] = i * 0.125 - 3
            }
        }
        let directory = ModelDirectory(path: dir)
        try directory.writeParameters(parameters, modelVersion: "00c0ffee12345678")

        try Self.runPython(["dump", directory.parametersPath, dir + "/dump.json"], in: dir)
        let dump = try Dump(dir + "/dump.json")

        // Names and shapes from the config alone (D = 4 + 4 + 1: user and genres embeddings, age).
        let d = 9
        var expected: [String: [Int]] = [:]
        for e in 0..<3 {
            expected["experts.\(e).layers.0.weight"] = [d, 8]
            expected["experts.\(e).layers.0.bias"] = [8]
            expected["experts.\(e).layers.1.weight"] = [8, 6]
            expected["experts.\(e).layers.1.bias"] = [6]
        }
        for k in 0..<2 {
            expected["gates.\(k).weight"] = [d, 3]
            expected["gates.\(k).bias"] = [3]
            expected["towers.\(k).layers.0.weight"] = [6, 5]
            expected["towers.\(k).layers.0.bias"] = [5]
            expected["towers.\(k).layers.1.weight"] = [5, 1]
            expected["towers.\(k).layers.1.bias"] = [1]
        }
        #expect(Set(dump.tensors.keys) == Set(expected.keys))
        for (name, shape) in expected { #expect(dump.tensors[name]?.shape == shape, "\(name)") }

        var compared = 0
        for (name, tensor) in parameters.namedTensors {
            let seen = try #require(dump.tensors[name], "\(name) missing in Python")
            #expect(seen.dtype == "float32", "\(name)")
            #expect(seen.shape == tensor.shape, "\(name)")
            #expect(Self.mismatches(tensor, seen.values) == 0, "\(name): values differ")
            compared += tensor.count
        }
        #expect(compared == parameters.parameterCount && compared > 0)
        #expect(dump.metadata["model_version"] == "00c0ffee12345678")
        #expect(dump.metadata["format"] == "metarec")
    }

    @Test func `1-D, 2-D and 3-D tensors with extreme values round-trip through Python`() throws {
        let dir = TrainingFixture.temporaryDirectory("metarec-interop")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let tensors: [(name: String, tensor: Tensor)] = [
            ("z.last.in.order", Tensor(shape: [5], scalars: [-0.0, .leastNonzeroMagnitude, .greatestFiniteMagnitude, -1e-30, 1])),
            ("a.matrix", Tensor(shape: [3, 2], scalars: [1, 2, 3, 4, 5, 6].map { Float($0) / 3 })),
            ("m.cube", Tensor(shape: [2, 3, 4], scalars: (0..<24).map { Float($0) * -0.7 })),
            ("empty.ish", Tensor(shape: [1, 1], scalars: [42])),
        ]
        let path = dir + "/t.safetensors"
        try ModelDescription.AtomicFile.write(SafeTensors.encode(tensors, metadata: ["k": "v"]), to: path)

        try Self.runPython(["dump", path, dir + "/dump.json"], in: dir)
        let dump = try Dump(dir + "/dump.json")
        #expect(dump.tensors.count == tensors.count)
        for (name, tensor) in tensors {
            let seen = try #require(dump.tensors[name], "\(name)")
            #expect(seen.shape == tensor.shape, "\(name)")
            #expect(Self.mismatches(tensor, seen.values) == 0, "\(name): \(seen.values) vs \(tensor.scalars)")
        }
        #expect(dump.metadata == ["k": "v"])
    }

    @Test func `a file written by Python's safetensors decodes in Swift`() throws {
        let dir = TrainingFixture.temporaryDirectory("metarec-interop")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/py.safetensors"
        try Self.runPython(["write", path], in: dir)
        let (tensors, metadata) = try SafeTensors.decode(ModelDirectory.read(path), path: path)
        #expect(metadata == ["writer": "python", "model_version": "0123456789abcdef"])
        #expect(tensors["b.vector"] == Tensor(shape: [4], scalars: [1.5, -2.25, 0, Float(3.0e-39 as Double)]))
        #expect(tensors["a.matrix"] == Tensor(shape: [2, 3], scalars: (0..<6).map { Float($0) / 8 }))
        #expect(tensors["c.cube"] == Tensor(shape: [2, 3, 4], scalars: (0..<24).map { (Float($0) - 12) * 0.5 }))
        #expect(tensors.count == 3)
    }
}

/// `$METAREC_PYTHON`: a Python with `safetensors` and `numpy` (outside the suite type, which
/// its own `.enabled(if:)` trait cannot reference).
enum InteropPython {
    static let path: String? = {
        guard let path = ProcessInfo.processInfo.environment["METAREC_PYTHON"], !path.isEmpty else { return nil }
        return path
    }()
}
