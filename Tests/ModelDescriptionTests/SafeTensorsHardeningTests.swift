import Foundation
import Testing
import ModelDescription
import ModelMath
import TensorCore

/// Crafted and damaged `model.safetensors` files: each is refused with a message naming the file
/// and the field (or tensor), never an overflow trap or a giant allocation.
@Suite struct SafeTensorsHardeningTests {
    /// A safetensors file from a header written as JSON text and `dataBytes` zero bytes of data.
    static func crafted(header: String, dataBytes: Int = 16, declaredLength: UInt64? = nil) -> Data {
        var json = Data(header.utf8)
        while json.count % 8 != 0 { json.append(0x20) }
        var length = (declaredLength ?? UInt64(json.count)).littleEndian
        var data = Data(bytes: &length, count: 8)
        data.append(json)
        data.append(Data(count: dataBytes))
        return data
    }

    static func decodeError(_ data: Data, path: String = "/m/model.safetensors") -> String? {
        do {
            _ = try SafeTensors.decode(data, path: path)
            return nil
        } catch {
            return "\(error)"
        }
    }

    static let craftedHeaders: [(header: String, mentions: String)] = [
        (#"{"w": {"dtype": "F32", "shape": [4611686018427387904, 4], "data_offsets": [0, 16]}}"#, "shape"),
        (#"{"w": {"dtype": "F32", "shape": [4294967296, 4294967296, 4294967296], "data_offsets": [0, 16]}}"#, "shape"),
        (#"{"w": {"dtype": "F32", "shape": [1e300], "data_offsets": [0, 16]}}"#, "shape[0]"),
        (#"{"w": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 16]}}"#, "shape[0]"),
        (#"{"w": {"dtype": "F32", "shape": [2.5], "data_offsets": [0, 16]}}"#, "shape[0]"),
        (#"{"w": {"dtype": "F32", "shape": ["4"], "data_offsets": [0, 16]}}"#, "shape[0]"),
        (#"{"w": {"dtype": "F32", "shape": [1000000], "data_offsets": [0, 4000000]}}"#, "data section has 16"),
        (#"{"w": {"dtype": "F32", "shape": [4], "data_offsets": [9223372036854775800, 9223372036854775816]}}"#, "data_offsets"),
        (#"{"w": {"dtype": "F32", "shape": [4], "data_offsets": [4503599627370496, 4503599627370512]}}"#, "data_offsets"),
        (#"{"w": {"dtype": "F32", "shape": [4], "data_offsets": [8, 24]}}"#, "data_offsets"),
        (#"{"w": {"dtype": "F32", "shape": [4], "data_offsets": [0]}}"#, "data_offsets"),
        (#"{"w": {"dtype": "F32", "shape": [2, 2, 2, 2], "data_offsets": [0, 64]}}"#, "dimensions"),
        (#"{"w": {"dtype": "F64", "shape": [2], "data_offsets": [0, 16]}}"#, "dtype"),
        (#"{"w": [1, 2]}"#, "entry"),
    ]

    @Test(arguments: craftedHeaders)
    func `a crafted header is refused, naming the file, tensor and field`(header: String, mentions: String) {
        let message = Self.decodeError(Self.crafted(header: header))
        #expect(message?.contains("/m/model.safetensors") == true, "\(message ?? "decoded")")
        #expect(message?.contains("tensor w") == true, "\(message ?? "decoded")")
        #expect(message?.contains(mentions) == true, "\(message ?? "decoded")")
    }

    @Test(arguments: [UInt64.max, UInt64(1) << 62, 200_000_000])
    func `a header length beyond the file is refused`(declared: UInt64) {
        let message = Self.decodeError(Self.crafted(header: "{}", declaredLength: declared))
        #expect(message?.contains("header length") == true, "\(message ?? "decoded")")
    }

    @Test func `a file cut at any length is refused, never trapped`() throws {
        let whole = SafeTensors.encode([(name: "a", tensor: Tensor(shape: [3, 2], scalars: [1, 2, 3, 4, 5, 6])),
                                        (name: "b", tensor: Tensor(shape: [2], scalars: [7, 8]))])
        #expect(try SafeTensors.decode(whole, path: "x").tensors.count == 2)
        for cut in 0..<whole.count {
            #expect(Self.decodeError(whole.prefix(cut), path: "/m/cut.safetensors")?.contains("/m/cut.safetensors") == true,
                    "cut at \(cut)")
        }
    }

    /// A model directory holding `tensors` as its `model.safetensors`.
    static func directory(with tensors: [(name: String, tensor: Tensor)]) throws -> ModelDirectory {
        let path = NSTemporaryDirectory() + "safetensors-hardening-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let directory = ModelDirectory(path: path)
        try SafeTensors.encode(tensors, metadata: ["model_version": "v"]).write(to: URL(fileURLWithPath: directory.parametersPath))
        return directory
    }

    static let spec = NetworkSpec(architecture: .mmoe(experts: 2), inputWidth: 6, bottomWidths: [5], towerWidths: [3], taskCount: 2)

    @Test func `swapped tensors are refused with the tensor's name`() throws {
        let parameters = ModelParameters(spec: Self.spec, seed: 1)
        var tensors = parameters.namedTensors
        // An expert's weight and bias stored under each other's name (a writer that mixed them up).
        let w = tensors.firstIndex { $0.name == "experts.0.layers.0.weight" }!
        let b = tensors.firstIndex { $0.name == "experts.0.layers.0.bias" }!
        (tensors[w].name, tensors[b].name) = (tensors[b].name, tensors[w].name)
        let directory = try Self.directory(with: tensors)
        #expect {
            _ = try directory.readParameters(like: parameters)
        } throws: { error in
            let m = "\(error)"
            return m.contains(directory.parametersPath) && m.contains("tensor experts.0.layers.0.") && m.contains("the config gives")
        }
    }

    @Test(arguments: [Float.nan, .infinity, -.infinity])
    func `non-finite weights are refused at load with the tensor's name`(bad: Float) throws {
        var parameters = ModelParameters(spec: Self.spec, seed: 2)
        let template = parameters
        parameters.towers[1].layers[0].weight.scalars[4] = bad
        let directory = try Self.directory(with: parameters.namedTensors)
        #expect {
            _ = try directory.readParameters(like: template)
        } throws: { error in
            "\(error)".contains("tensor towers.1.layers.0.weight has a non-finite value (\(bad)) at index 4")
                && "\(error)".contains(directory.parametersPath)
        }
        // The same file with the value made finite loads.
        parameters.towers[1].layers[0].weight.scalars[4] = 0.5
        let fixed = try Self.directory(with: parameters.namedTensors)
        #expect(try fixed.readParameters(like: template).0 == parameters)
    }
}
