import Foundation
import ModelDescription
import ModelMath
@testable import MetaTrain

/// A temporary directory for one test, removed by `cleanUp()`.
struct CSVScratchDirectory {
    let path: String

    init() {
        path = FileManager.default.temporaryDirectory
            .appendingPathComponent("metarec-csv-\(UInt64.random(in: 0...UInt64.max))").path
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// Writes `bytes` to `name` and returns the full path.
    func write(_ name: String, bytes: [UInt8]) -> String {
        let file = path + "/" + name
        _ = FileManager.default.createFile(atPath: file, contents: Data(bytes))
        return file
    }

    func write(_ name: String, _ text: String) -> String { write(name, bytes: Array(text.utf8)) }

    func cleanUp() { try? FileManager.default.removeItem(atPath: path) }
}

/// The config most reader tests use: user (task key, also a feature), ts, genres, age, like.
let csvConfig = ModelConfig(
    taskKey: "user", time: "ts",
    features: [
        .init(name: "user", kind: .categorical),
        .init(name: "genres", kind: .multiCategorical(separator: "|", pooling: .mean)),
        .init(name: "age", kind: .numeric(normalization: .none)),
    ],
    labels: [.init(name: "like", kind: .binary)])

let csvEncoder = FeatureEncoder(unfittedConfig: csvConfig)

/// Every row of `path`, read in batches of `batchSize`.
func csvReadAll(_ path: String, options: CSVReadOptions = .init(), batchSize: Int = 3,
             encoder: FeatureEncoder = csvEncoder) throws(DataError) -> (EncodedBatch, CSVLogReader) {
    let reader = try CSVLogReader(path: path, encoder: encoder, options: options)
    var all = encoder.makeBatch()
    while let b = try reader.nextBatch(maxRows: batchSize) { all.append(contentsOf: b) }
    return (all, reader)
}

/// Every record of `path` as strings (tokenizer only).
func csvRecords(_ path: String, options: CSVReadOptions = .init()) throws(DataError) -> [[String]] {
    let t = try CSVTokenizer(path: path, options: options)
    var out: [[String]] = []
    while try t.nextRecord() { out.append((0..<t.fieldCount).map(t.fieldString)) }
    return out
}

/// The description of the error reading `path` throws (nil when it reads cleanly).
func csvReadError(_ path: String, options: CSVReadOptions = .init()) -> String? {
    do {
        _ = try csvReadAll(path, options: options)
        return nil
    } catch {
        return error.description
    }
}
