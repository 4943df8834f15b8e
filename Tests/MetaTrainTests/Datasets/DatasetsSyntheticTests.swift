import Foundation
import Testing
@testable import MetaTrain

@Suite struct DatasetsSyntheticTests {
    static func small(seed: UInt64 = 1, kind: DatasetConfig.LabelKind = .binary, correlation: Double = 0.5) throws -> SyntheticConfig {
        try SyntheticConfig(users: 400, rows: 24_000, correlation: correlation, features: 8, labelKind: kind, seed: seed)
    }

    @Test func `the same seed writes the same bytes and another seed different ones`() throws {
        let a = DatasetsFixtures.temporaryDirectory(), b = DatasetsFixtures.temporaryDirectory()
        let c = DatasetsFixtures.temporaryDirectory()
        let config = try SyntheticConfig(users: 50, rows: 3_000, features: 4, seed: 42)
        try SyntheticDataset.write(config, to: a)
        try SyntheticDataset.write(config, to: b)
        try SyntheticDataset.write(try SyntheticConfig(users: 50, rows: 3_000, features: 4, seed: 43), to: c)
        for file in ["train.csv", "validation.csv", "test.csv", "config.yaml"] {
            #expect(try DatasetsFixtures.bytes("\(a)/\(file)") == DatasetsFixtures.bytes("\(b)/\(file)"), "\(file)")
        }
        #expect(try DatasetsFixtures.bytes("\(a)/train.csv") != DatasetsFixtures.bytes("\(c)/train.csv"))
    }

    @Test(arguments: [-1.0, -0.5, 0, 0.5, 0.9, 1])
    func `task weights have cosine p and norm sqrt(d)`(p: Double) throws {
        let generator = SyntheticGenerator(try SyntheticConfig(correlation: p, features: 16))
        let w = generator.taskWeights
        #expect(abs(SyntheticGenerator.cosine(w[0], w[1]) - p) < 1e-12)
        for k in 0..<2 {
            #expect(abs(SyntheticGenerator.dot(w[k], w[k]).squareRoot() - 4) < 1e-12)
        }
    }

    @Test(arguments: [-0.5, 0.0, 0.5, 0.9])
    func `per-user weights keep the task correlation on average`(p: Double) throws {
        let generator = SyntheticGenerator(try SyntheticConfig(users: 2_000, correlation: p, features: 32))
        let cosines = (0..<2_000).map { u in
            let w = generator.userWeights(user: u)
            return SyntheticGenerator.cosine(w[0], w[1])
        }
        let mean = cosines.reduce(0, +) / Double(cosines.count)
        #expect(abs(mean - p) < 0.03, "mean per-user cosine \(mean)")
        // Users differ from the shared weights by about σ = 0.5 of their norm.
        let w = generator.userWeights(user: 0)[0]
        let shift = zip(w, generator.taskWeights[0]).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
        #expect(shift / generator.scale > 0.2 && shift / generator.scale < 0.9)
    }

    @Test func `labels are balanced and files split each user chronologically`() throws {
        let dir = DatasetsFixtures.temporaryDirectory()
        let summary = try SyntheticDataset.write(try Self.small(), to: dir)
        #expect(summary.totalRows == 24_000)
        for k in 0..<2 {
            let positives = summary.files.reduce(0.0) { $0 + $1.labelMeans[k] * Double($1.rows) }
            #expect(abs(positives / 24_000 - 0.5) < 0.05, "task\(k + 1) positive rate \(positives / 24_000)")
        }
        let splits = try DatasetsFixtures.readSplits(dir)
        #expect(splits[.train]!.header == ["user_id", "timestamp"] + (0..<8).map { "x\($0)" } + ["task1", "task2"])
        var times: [String: [DatasetSplit: [Int]]] = [:]
        for (split, file) in splits {
            for row in file.rows { times[row[0], default: [:]][split, default: []].append(Int(row[1])!) }
        }
        var light = 0, heavy = 0
        for (user, bySplit) in times {
            let n = bySplit.values.reduce(0) { $0 + $1.count }
            let c = ChronologicalSplit.standard.counts(rows: n)
            #expect(bySplit[.train, default: []].count == c.train, "user \(user)")
            #expect(bySplit[.validation, default: []].count == c.validation, "user \(user)")
            #expect(bySplit[.test, default: []].count == c.test, "user \(user)")
            let train = bySplit[.train, default: []], validation = bySplit[.validation, default: []]
            let test = bySplit[.test, default: []]
            #expect((train.max() ?? .min) < (validation.min() ?? .max), "user \(user)")
            #expect((train + validation).max() ?? .min < (test.min() ?? .max), "user \(user)")
            if n <= 5 { light += 1 }
            if n > 100 { heavy += 1 }
        }
        #expect(light > 10 && heavy > 10, "\(light) users with ≤ 5 rows, \(heavy) with > 100")
        #expect(summary.file(.train).taskKeys == splits[.train]!.rows.reduce(into: Set<String>()) { $0.insert($1[0]) }.count)
    }

    @Test func `regression labels and the config follow the schema`() throws {
        let dir = DatasetsFixtures.temporaryDirectory()
        try SyntheticDataset.write(try SyntheticConfig(users: 20, rows: 500, features: 3, labelKind: .regression), to: dir)
        let yaml = String(decoding: try DatasetsFixtures.bytes("\(dir)/config.yaml"), as: UTF8.self)
        #expect(yaml.contains("task_key: user_id\ntime: timestamp\nfeatures:\n  - {name: user_id, kind: categorical}\n"))
        #expect(yaml.contains("  - {name: x2, kind: numeric, normalization: none}\n"))
        #expect(yaml.contains("  - {name: task1, kind: regression, weight: 1.0}\n"))
        let rows = try DatasetsFixtures.readCSV("\(dir)/train.csv").rows
        #expect(rows.allSatisfy { $0.count == 7 && Double($0[5]) != nil && $0[5].split(separator: ".").last?.count == 4 })
    }

    @Test func `out-of-range options throw naming the flag`() {
        #expect(throws: DatasetError.invalidOption(name: "correlation", reason: "must be in [-1, 1], got 1.5")) {
            try SyntheticConfig(correlation: 1.5)
        }
        #expect(throws: DatasetError.self) { try SyntheticConfig(features: 1) }
        #expect(throws: DatasetError.self) { try SyntheticConfig(users: 0) }
        #expect(throws: DatasetError.self) { try SyntheticConfig(userPerturbation: .nan) }
    }
}
