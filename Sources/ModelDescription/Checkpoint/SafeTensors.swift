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

    /// The largest header accepted (the Python reference's own limit is 100 MB); a model's header
    /// is a few kilobytes.
    public static let maxHeaderBytes = 100_000_000

    /// Parses a safetensors file's bytes into named tensors and metadata.
    ///
    /// Every header field is outside input: lengths, shapes and offsets are checked with
    /// overflow-reporting arithmetic against the file's size before anything is allocated, so a
    /// crafted header (a huge shape or offset, a truncated data section) is an error naming the
    /// file, the tensor and the field, never a trap or a giant allocation.
    /// - Throws: ``CheckpointError/malformed(path:reason:)`` naming `path` and what is wrong.
    public static func decode(_ data: Data, path: String) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        func fail(_ reason: String) -> CheckpointError { .malformed(path: path, reason: reason) }
        guard data.count >= 8 else { throw fail("file is \(data.count) bytes, shorter than the 8-byte header length") }
        let headerLength = data.prefix(8).enumerated().reduce(UInt64(0)) { $0 | (UInt64($1.element) << (8 * UInt64($1.offset))) }
        guard headerLength <= UInt64(data.count - 8) else {
            throw fail("header length \(headerLength) exceeds the file size \(data.count) (truncated file or bad header)")
        }
        guard headerLength <= UInt64(maxHeaderBytes) else { throw fail("header length \(headerLength) exceeds \(maxHeaderBytes) bytes") }
        let start = data.startIndex
        let headerData = data.subdata(in: (start + 8)..<(start + 8 + Int(headerLength)))
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
            let entry = try TensorEntry(name: name, value: value, dataCount: dataCount, fail: fail)
            var scalars = [Float](repeating: 0, count: entry.count)
            scalars.withUnsafeMutableBytes { dst in
                let from = start + dataStart + entry.begin
                data.copyBytes(to: dst.bindMemory(to: UInt8.self), from: from..<(from + 4 * entry.count))
            }
            tensors[name] = Tensor(shape: entry.shape, scalars: scalars)
        }
        return (tensors, metadata)
    }

    /// One tensor's header entry, checked: `shape` has 1…3 non-negative dimensions whose product
    /// (and its byte size) does not overflow, and `data_offsets = [begin, end]` with
    /// `end − begin = 4 · count` lies inside the data section.
    private struct TensorEntry {
        let shape: [Int]
        let count: Int
        let begin: Int

        init(name: String, value: Any, dataCount: Int, fail: (String) -> CheckpointError) throws {
            guard let entry = value as? [String: Any] else { throw fail("tensor \(name): entry is not a JSON object") }
            guard let dtype = entry["dtype"] as? String else { throw fail("tensor \(name): dtype is missing or not a string") }
            guard dtype == "F32" else { throw fail("tensor \(name): dtype \(dtype), only F32 is supported") }
            guard let rawShape = entry["shape"] as? [Any] else { throw fail("tensor \(name): shape is missing or not a list") }
            guard (1...3).contains(rawShape.count) else {
                throw fail("tensor \(name): shape has \(rawShape.count) dimensions, only 1 to 3 are supported")
            }
            var shape: [Int] = []
            var count = 1
            for (i, raw) in rawShape.enumerated() {
                guard let n = Self.integer(raw) else {
                    throw fail("tensor \(name): shape[\(i)] = \(raw) is not a non-negative integer below 2^53")
                }
                let (product, overflow) = count.multipliedReportingOverflow(by: n)
                guard !overflow else { throw fail("tensor \(name): shape \(rawShape) has more elements than an Int holds") }
                shape.append(n)
                count = product
            }
            let (bytes, bytesOverflow) = count.multipliedReportingOverflow(by: 4)
            guard !bytesOverflow, bytes <= dataCount else {
                throw fail("tensor \(name): shape \(shape) needs \(bytesOverflow ? "more than Int.max" : String(bytes)) bytes; "
                           + "the data section has \(dataCount)")
            }
            guard let rawOffsets = entry["data_offsets"] as? [Any], rawOffsets.count == 2 else {
                throw fail("tensor \(name): data_offsets is missing or not a list of two integers")
            }
            guard let begin = Self.integer(rawOffsets[0]), let end = Self.integer(rawOffsets[1]) else {
                throw fail("tensor \(name): data_offsets \(rawOffsets) are not non-negative integers below 2^53")
            }
            // Both are below 2^53, so neither sum overflows.
            guard end == begin + bytes, end <= dataCount else {
                throw fail("tensor \(name): data_offsets [\(begin), \(end)] do not fit shape \(shape) (\(bytes) bytes) "
                           + "in \(dataCount) data bytes")
            }
            (self.shape, self.count, self.begin) = (shape, count, begin)
        }

        /// A JSON number that is a whole number in `0 ..< 2^53` (exact in a Double), else nil.
        static func integer(_ value: Any) -> Int? {
            guard let number = value as? NSNumber else { return nil }
            let d = number.doubleValue
            guard d.isFinite, d >= 0, d < 9_007_199_254_740_992, d == d.rounded(.towardZero) else { return nil }
            return Int(d)
        }
    }
}

extension ModelParameters {
    /// Every tensor named by path (`experts.0.layers.0.weight`, …), in checkpoint order.
    public var namedTensors: [(name: String, tensor: Tensor)] {
        var out: [(name: String, tensor: Tensor)] = []
        forEachTensor { out.append((name: $0, tensor: $1)) }
        return out
    }

    /// Loads every tensor of `self`'s structure from `tensors`, checking names, shapes (a swapped
    /// or misplaced tensor has another shape than the config gives its name) and values.
    /// - Throws: ``CheckpointError/mismatch(path:reason:)`` for a missing, extra or misshapen
    ///   tensor; ``CheckpointError/malformed(path:reason:)`` for a NaN or infinite value, naming
    ///   the tensor and the first such index.
    public mutating func load(from tensors: [String: Tensor], path: String) throws {
        var seen = Set<String>()
        try updateEachTensor { name, t in
            guard let stored = tensors[name] else { throw CheckpointError.mismatch(path: path, reason: "tensor \(name) is missing") }
            guard stored.shape == t.shape else {
                throw CheckpointError.mismatch(path: path, reason: "tensor \(name) has shape \(stored.shape), the config gives \(t.shape)")
            }
            guard stored.isFinite else {
                let i = stored.scalars.firstIndex { !$0.isFinite } ?? 0
                throw CheckpointError.malformed(path: path, reason: "tensor \(name) has a non-finite value (\(stored.scalars[i])) at index \(i)")
            }
            t = stored
            seen.insert(name)
        }
        if let extra = tensors.keys.first(where: { !seen.contains($0) && !$0.hasPrefix("optimizer.") }) {
            throw CheckpointError.mismatch(path: path, reason: "unexpected tensor \(extra)")
        }
    }
}
