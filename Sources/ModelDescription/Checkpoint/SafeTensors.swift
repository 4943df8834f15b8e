import ModelMath
import Foundation
import TensorCore

/// Reads and writes the `safetensors` format (Hugging Face), float32 only:
///
/// ```
/// [8 bytes: N, little-endian u64][N bytes: JSON header][raw little-endian tensor bytes]
/// header = {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, …,
///           "__metadata__": {"key": "value", …}}
/// ```
/// Offsets are relative to the start of the data section. The files load in Python with
/// `safetensors.numpy.load_file`.
public enum SafeTensors {
    /// Serialises named tensors (in the given order) and string metadata.
    public static func encode(_ tensors: [(name: String, tensor: Tensor)], metadata: [String: String] = [:]) -> Data {
        var header: [String: Any] = [:]
        var offset = 0
        for (name, tensor) in tensors {
            let bytes = tensor.count * 4
            header[name] = ["dtype": "F32", "shape": tensor.shape, "data_offsets": [offset, offset + bytes]] as [String: Any]
            offset += bytes
        }
        if !metadata.isEmpty { header["__metadata__"] = metadata }
        var json = try! JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
        // Pad the header with spaces to a multiple of 8 so the data section is aligned.
        while (json.count % 8) != 0 { json.append(0x20) }
        var data = Data(capacity: 8 + json.count + offset)
        var length = UInt64(json.count).littleEndian
        withUnsafeBytes(of: &length) { data.append(contentsOf: $0) }
        data.append(json)
        for (_, tensor) in tensors {
            tensor.withUnsafeBufferPointer { buffer in
                // Float32 is little-endian on every platform Swift targets here (x86-64, arm64).
                data.append(UnsafeBufferPointer(start: UnsafeRawPointer(buffer.baseAddress!).assumingMemoryBound(to: UInt8.self), count: buffer.count * 4))
            }
        }
        return data
    }

    /// Parses a safetensors file's bytes into named tensors and metadata.
    /// - Throws: ``CheckpointError/malformed(path:reason:)`` naming `path` and what is wrong.
    public static func decode(_ data: Data, path: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        func fail(_ reason: String) -> CheckpointError { .malformed(path: path, reason: reason) }
        guard data.count >= 8 else { throw fail("file is \(data.count) bytes, shorter than the 8-byte header length") }
        let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | (UInt64($1.element) << (8 * UInt64($1.offset))) }
        guard headerLength <= UInt64(data.count - 8) else { throw fail("header length \(headerLength) exceeds the file size \(data.count)") }
        let headerData = data.subdata(in: 8..<(8 + Int(headerLength)))
        guard let header = (try? JSONSerialization.jsonObject(with: headerData)) as? [String: Any] else {
            throw fail("header is not a JSON object")
        }
        let dataStart = 8 + Int(headerLength)
        let dataCount = data.count - dataStart
        var tensors: [String: Tensor] = [:]
        var metadata: [String: String] = [:]
        for (name, value) in header {
            if name == "__metadata__" {
                guard let m = value as? [String: String] else { throw fail("__metadata__ is not a string map") }
                metadata = m
                continue
            }
            guard let entry = value as? [String: Any],
                  let dtype = entry["dtype"] as? String,
                  let shape = (entry["shape"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                  let offsets = (entry["data_offsets"] as? [Any])?.compactMap({ ($0 as? NSNumber)?.intValue }),
                  offsets.count == 2
            else { throw fail("tensor \(name): entry needs dtype, shape and data_offsets") }
            guard dtype == "F32" else { throw fail("tensor \(name): dtype \(dtype), only F32 is supported") }
            guard (1...3).contains(shape.count), shape.allSatisfy({ $0 >= 0 }) else { throw fail("tensor \(name): unsupported shape \(shape)") }
            let count = shape.reduce(1, *)
            guard offsets[0] >= 0, offsets[1] == offsets[0] + count * 4, offsets[1] <= dataCount else {
                throw fail("tensor \(name): data_offsets \(offsets) do not fit shape \(shape) in \(dataCount) data bytes")
            }
            var scalars = [Float](repeating: 0, count: count)
            scalars.withUnsafeMutableBytes { dst in
                data.copyBytes(to: dst.bindMemory(to: UInt8.self), from: (dataStart + offsets[0])..<(dataStart + offsets[1]))
            }
            tensors[name] = Tensor(shape: shape, scalars: scalars)
        }
        return (tensors, metadata)
    }
}

extension ModelParameters {
    /// Every tensor named by path (`experts.0.layers.0.weight`, …), in checkpoint order.
    public var namedTensors: [(name: String, tensor: Tensor)] {
        var out: [(name: String, tensor: Tensor)] = []
        forEachTensor { out.append((name: $0, tensor: $1)) }
        return out
    }

    /// Loads every tensor of `self`'s structure from `tensors`, checking names and shapes.
    /// - Throws: ``CheckpointError/mismatch(path:reason:)`` for a missing, extra or misshapen tensor.
    public mutating func load(from tensors: [String: Tensor], path: String) throws {
        var seen = Set<String>()
        try updateEachTensor { name, t in
            guard let stored = tensors[name] else { throw CheckpointError.mismatch(path: path, reason: "tensor \(name) is missing") }
            guard stored.shape == t.shape else {
                throw CheckpointError.mismatch(path: path, reason: "tensor \(name) has shape \(stored.shape), the config gives \(t.shape)")
            }
            t = stored
            seen.insert(name)
        }
        if let extra = tensors.keys.first(where: { !seen.contains($0) && !$0.hasPrefix("optimizer.") }) {
            throw CheckpointError.mismatch(path: path, reason: "unexpected tensor \(extra)")
        }
    }
}
