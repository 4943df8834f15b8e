#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
@testable import ParamServer

/// Pulls `keys` and returns the rows as one flat array.
func pullRows(_ table: EmbeddingStore, _ keys: [UInt64], create: Bool) -> [Float] {
    var rows = [Float](repeating: .nan, count: keys.count * table.dimension)
    keys.withUnsafeBufferPointer { k in
        rows.withUnsafeMutableBufferPointer { table.pull(keys: k, into: $0, create: create) }
    }
    return rows
}

func pushGradients(_ table: EmbeddingStore, _ keys: [UInt64], _ gradients: [Float]) {
    keys.withUnsafeBufferPointer { k in
        gradients.withUnsafeBufferPointer { table.push(keys: k, gradients: $0) }
    }
}

func appendRow(_ store: SupportStore, task: UInt64, features: [Float], labels: [Float], at time: Timestamp = .zero) {
    features.withUnsafeBufferPointer { f in
        labels.withUnsafeBufferPointer { store.append(task: task, features: f, labels: $0, timestamp: time) }
    }
}

/// Pulls `task` and returns `(S, features (S×W), labels (S×L))`.
func pullSupport(_ store: SupportStore, task: UInt64) -> (count: Int, features: [Float], labels: [Float]) {
    let c = store.config
    var f = [Float](repeating: .nan, count: c.capacity * c.rowWidth)
    var l = [Float](repeating: .nan, count: c.capacity * c.labelWidth)
    let n = f.withUnsafeMutableBufferPointer { fb in
        l.withUnsafeMutableBufferPointer { store.pull(task: task, features: fb, labels: $0) }
    }
    return (n, Array(f.prefix(n * c.rowWidth)), Array(l.prefix(n * c.labelWidth)))
}

/// A row whose every float encodes `(task, sequence)`, so a torn read is detectable.
func rowValue(task: UInt64, sequence: Int) -> Float {
    Float(Int(task % 1000) * 10_000 + sequence)
}

/// The names in `directory` (without `.` and `..`), sorted; empty when it cannot be opened.
func directoryEntries(_ directory: String) -> [String] {
    guard let d = opendir(directory) else { return [] }
    defer { closedir(d) }
    var names: [String] = []
    while let entry = readdir(d) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(cString: $0.bindMemory(to: CChar.self).baseAddress!) }
        if name != "." && name != ".." { names.append(name) }
    }
    return names.sorted()
}
