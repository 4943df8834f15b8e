import Foundation
import Synchronization
@testable import MetaTrain

/// Paths and helpers shared by the dataset tests.
enum DatasetsFixtures {
    /// `$METAREC_DATA` (the shared data folder; the Makefile sets it), or `nil`.
    static let dataRoot: String? = {
        guard let root = ProcessInfo.processInfo.environment["METAREC_DATA"], !root.isEmpty else { return nil }
        return root
    }()

    /// `$METAREC_DATA/census-income-kdd/census-income.test.gz` when present.
    static let censusFile: String? = existing(dataRoot.map { "\($0)/census-income-kdd/census-income.test.gz" })

    /// `$METAREC_DATA/movielens-latest-small` when its ratings file is present.
    static let movieLensSmall: String? = existing(dataRoot.map { "\($0)/movielens-latest-small/ratings.csv" })
        .map { String($0.dropLast("/ratings.csv".count)) }

    private static func existing(_ path: String?) -> String? {
        guard let path, FileManager.default.fileExists(atPath: path) else { return nil }
        return path
    }

    /// A fresh empty directory under the system temporary directory, removed when the test
    /// process exits (converted datasets are tens of megabytes).
    static func temporaryDirectory(_ label: String = "metarec-datasets") -> String {
        var template = Array("\(NSTemporaryDirectory())/\(label).XXXXXX".utf8CString)
        let path = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        precondition(path != nil, "mkdtemp failed")
        let directory = String(cString: path!)
        let first = created.withLock { list in
            list.append(directory)
            return list.count == 1
        }
        if first {
            atexit {
                for directory in DatasetsFixtures.created.withLock({ $0 }) {
                    try? FileManager.default.removeItem(atPath: directory)
                }
            }
        }
        return directory
    }

    private static let created = Mutex<[String]>([])

    /// Writes raw bytes (e.g. Latin-1 text) to `path`.
    static func writeBytes(_ bytes: [UInt8], to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    /// Writes UTF-8 text to `path`.
    static func writeText(_ text: String, to path: String) throws {
        try writeBytes(Array(text.utf8), to: path)
    }

    /// A CSV file as a header and rows of fields (RFC 4180, one record per line).
    static func readCSV(_ path: String, maxRows: Int = .max) throws -> (header: [String], rows: [[String]]) {
        var header: [String] = []
        var rows: [[String]] = []
        var reason = ""
        struct Enough: Error {}
        do {
        try LineReader.forEachLine(in: path) { line, number in
            if rows.count >= maxRows { throw Enough() }
            guard let fields = ByteFields.quotedFields(line, reason: &reason) else {
                throw DatasetError.malformedLine(file: path, line: number, reason: reason)
            }
            if number == 1 { header = fields } else { rows.append(fields) }
        }
        } catch is Enough {}
        return (header, rows)
    }

    /// The three split files of `directory` read back, keyed by split.
    static func readSplits(_ directory: String) throws -> [DatasetSplit: (header: [String], rows: [[String]])] {
        var result: [DatasetSplit: (header: [String], rows: [[String]])] = [:]
        for split in DatasetSplit.allCases { result[split] = try readCSV("\(directory)/\(split.fileName)") }
        return result
    }

    static func bytes(_ path: String) throws -> Data {
        try Data(contentsOf: URL(fileURLWithPath: path))
    }
}
