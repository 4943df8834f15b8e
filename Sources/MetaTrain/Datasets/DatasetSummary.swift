/// What a dataset command wrote: per split file the row count, the number of distinct task
/// keys (users, crowds) and the mean of each label (the positive rate for binary labels).
public struct DatasetSummary: Sendable, Equatable {
    /// Statistics of one written CSV file.
    public struct File: Sendable, Equatable {
        public let split: DatasetSplit
        /// Path of the CSV file.
        public let path: String
        /// Data rows (header excluded).
        public let rows: Int
        /// Distinct values of the task-key column in this file.
        public let taskKeys: Int
        /// Per label in config order: the mean label (positive rate for binary labels).
        public let labelMeans: [Double]
    }

    /// Output directory.
    public let directory: String
    /// Path of the written `config.yaml`.
    public let configPath: String
    /// The config written to ``configPath``.
    public let config: DatasetConfig
    /// The train, validation and test files, in that order.
    public let files: [File]

    /// Rows over all splits.
    public var totalRows: Int { files.reduce(0) { $0 + $1.rows } }

    /// The statistics of one split.
    public func file(_ split: DatasetSplit) -> File {
        files.first { $0.split == split }!
    }

    /// One line for `file`, e.g.
    /// `train.csv       209,312 rows   4,874 user_id   task1 50.3% positive  task2 49.6% positive`.
    public func line(for file: File) -> String {
        let name = file.split.fileName.rightPadded(15)
        var text = "\(name)\(DatasetSummary.grouped(file.rows).leftPadded(9)) rows  "
        text += "\(DatasetSummary.grouped(file.taskKeys).leftPadded(7)) \(config.taskKey)"
        for (label, mean) in zip(config.labels, file.labelMeans) {
            switch label.kind {
            case .binary: text += "  \(label.name) \(DatasetSummary.percent(mean)) positive"
            case .regression: text += "  \(label.name) mean \(DatasetSummary.fixed(mean, 3))"
            }
        }
        return text
    }

    static func grouped(_ n: Int) -> String {
        let digits = Array(String(n.magnitude))
        var out = ""
        for (i, digit) in digits.enumerated() {
            if i > 0 && (digits.count - i) % 3 == 0 { out.append(",") }
            out.append(digit)
        }
        return (n < 0 ? "-" : "") + out
    }

    static func percent(_ rate: Double) -> String { rate.isFinite ? fixed(100 * rate, 1) + "%" : "n/a" }

    static func fixed(_ value: Double, _ decimals: Int) -> String {
        guard value.isFinite else { return "n/a" }
        let scale = (0..<decimals).reduce(1.0) { r, _ in r * 10 }
        let units = Int((value.magnitude * scale).rounded())
        let whole = String(units / Int(scale))
        let fraction = String(units % Int(scale))
        let padded = String(repeating: "0", count: decimals - fraction.count) + fraction
        return (value < 0 && units != 0 ? "-" : "") + whole + (decimals > 0 ? "." + padded : "")
    }
}

extension String {
    fileprivate func rightPadded(_ width: Int) -> String {
        count >= width ? self : self + String(repeating: " ", count: width - count)
    }

    fileprivate func leftPadded(_ width: Int) -> String {
        count >= width ? self : String(repeating: " ", count: width - count) + self
    }
}

/// Progress of a long conversion, reported every few percent.
public struct DatasetProgress: Sendable, Equatable {
    /// What is being done, e.g. `"reading ratings.csv"`, `"writing rows"`.
    public let stage: String
    /// Units done so far (rows or lines).
    public let done: Int
    /// Units in all, when known.
    public let total: Int?
}

/// The three CSV writers of one dataset command, with per-split tallies.
/// `Key` is the task-key value type. Not thread-safe.
final class DatasetOutput<Key: Hashable> {
    let directory: String
    private let writers: [CSVWriter]          // indexed like DatasetSplit.allCases
    private var keys: [Set<Key>]
    private var labelSums: [[Double]]
    private var labelCounts: [[Int]]

    /// Creates `directory` when missing and opens the three files with `header`; validation and
    /// test get `heldOutColumns` after it (the user-cold protocol's `role`).
    init(directory: String, header: [String], labelCount: Int, heldOutColumns: [String] = []) throws {
        try DatasetFiles.createDirectory(directory)
        self.directory = directory
        writers = try DatasetSplit.allCases.map { try CSVWriter(path: "\(directory)/\($0.fileName)") }
        for (split, writer) in zip(DatasetSplit.allCases, writers) {
            try writer.writeHeader(split == .train ? header : header + heldOutColumns)
        }
        keys = Array(repeating: [], count: 3)
        labelSums = Array(repeating: Array(repeating: 0, count: labelCount), count: 3)
        labelCounts = labelSums.map { $0.map { _ in 0 } }
    }

    /// The writer of `split`; the caller writes the row's fields and calls ``record``.
    func writer(_ split: DatasetSplit) -> CSVWriter { writers[split.index] }

    /// Ends the current row of `split` and counts its task key and labels (NaN = missing).
    func record(_ split: DatasetSplit, task: Key, labels: [Double]) throws {
        let s = split.index
        try writers[s].endRow()
        keys[s].insert(task)
        for (k, value) in labels.enumerated() where !value.isNaN {
            labelSums[s][k] += value
            labelCounts[s][k] += 1
        }
    }

    /// Closes (fsync + rename) the CSV files, writes `config.yaml` atomically and summarises.
    func finish(config: DatasetConfig) throws -> DatasetSummary {
        for writer in writers { try writer.close() }
        let configPath = "\(directory)/config.yaml"
        try DatasetFiles.write(config.yaml, to: configPath)
        let files = DatasetSplit.allCases.map { split in
            let s = split.index
            return DatasetSummary.File(
                split: split, path: writers[s].path, rows: writers[s].rowCount, taskKeys: keys[s].count,
                labelMeans: zip(labelSums[s], labelCounts[s]).map { $1 > 0 ? $0 / Double($1) : .nan })
        }
        return DatasetSummary(directory: directory, configPath: configPath, config: config, files: files)
    }
}

extension DatasetSplit {
    var index: Int {
        switch self {
        case .train: 0
        case .validation: 1
        case .test: 2
        }
    }
}
