import Foundation
import Testing
@testable import MetaTrain

@Suite struct DatasetsCensusTests {
    static let skipMessage: Comment = "METAREC_DATA is not set or census-income-kdd/census-income.test.gz is absent"

    @Test(.enabled(if: DatasetsFixtures.censusFile != nil, skipMessage))
    func `the real test file converts to the published counts and rates`() throws {
        let dir = DatasetsFixtures.temporaryDirectory()
        let summary = try CensusDataset.write(raw: DatasetsFixtures.censusFile!, to: dir)
        #expect(summary.totalRows == 99_762)
        let income = summary.files.reduce(0.0) { $0 + $1.labelMeans[0] * Double($1.rows) }
        let neverMarried = summary.files.reduce(0.0) { $0 + $1.labelMeans[1] * Double($1.rows) }
        #expect(Int(income.rounded()) == 6_186)          // 6.20 % (census-income.names)
        #expect(Int(neverMarried.rounded()) == 43_143)   // 43.2 %
        #expect(abs(Double(summary.file(.train).rows) / 99_762 - 0.5) < 0.01)
        #expect(abs(Double(summary.file(.validation).rows) / 99_762 - 0.25) < 0.01)
        #expect(summary.file(.train).taskKeys > 150)

        let train = try DatasetsFixtures.readCSV("\(dir)/train.csv", maxRows: 2_000)
        #expect(train.header.count == 2 + 39 + 2)
        #expect(train.header.prefix(3) == ["row_id", "crowd", "age"])
        #expect(!train.header.contains("marital_stat") && !train.header.contains("instance_weight"))
        #expect(train.header.suffix(2) == ["income", "marital"])
        #expect(train.rows.allSatisfy { $0.count == 43 })
        let yaml = String(decoding: try DatasetsFixtures.bytes(summary.configPath), as: UTF8.self)
        #expect(yaml.contains("task_key: crowd\n"))
        #expect(!yaml.contains("time:"))
        #expect(yaml.contains("{name: capital_gains, kind: numeric, normalization: log1p}"))
        #expect(yaml.contains("{name: marital, kind: binary, weight: 1.0}"))
    }

    @Test(.enabled(if: DatasetsFixtures.censusFile != nil, skipMessage))
    func `the split is stable across runs and prefixes`() throws {
        let a = DatasetsFixtures.temporaryDirectory(), b = DatasetsFixtures.temporaryDirectory()
        try CensusDataset.write(raw: DatasetsFixtures.censusFile!, to: a, options: CensusOptions(limit: 3_000))
        try CensusDataset.write(raw: DatasetsFixtures.censusFile!, to: b, options: CensusOptions(limit: 3_000))
        for split in DatasetSplit.allCases {
            #expect(try DatasetsFixtures.bytes("\(a)/\(split.fileName)") == DatasetsFixtures.bytes("\(b)/\(split.fileName)"))
        }
        let split = try HashSplit(seed: 1)
        for (name, file) in try DatasetsFixtures.readSplits(a) {
            #expect(file.rows.allSatisfy { split.split(row: Int($0[0])!) == name })
        }
        let c = DatasetsFixtures.temporaryDirectory()
        try CensusDataset.write(raw: DatasetsFixtures.censusFile!, to: c, options: CensusOptions(crowd: .stateAge, seed: 2, limit: 3_000))
        #expect(try DatasetsFixtures.bytes("\(a)/train.csv") != DatasetsFixtures.bytes("\(c)/train.csv"))
    }

    @Test func `a missing, corrupt or malformed raw file throws naming the file and line`() throws {
        let dir = DatasetsFixtures.temporaryDirectory()
        #expect(throws: DatasetError.missingFile(path: "\(dir)/absent.gz")) {
            try CensusDataset.write(raw: "\(dir)/absent.gz", to: "\(dir)/out")
        }
        let good = "38, Private, 6, 36, 1st 2nd 3rd or 4th grade, 0, Not in universe, Never married, Manufacturing-durable goods, "
            + "Machine operators assmblrs & inspctrs, White, Mexican (Mexicano), Female, Not in universe, Not in universe, "
            + "Full-time schedules, 0, 0, 0, Joint one under 65 & one 65+, Not in universe, Not in universe, Spouse of householder, "
            + "Spouse of householder, 1032.38, ?, ?, ?, Not in universe under 1 year old, ?, 4, Not in universe, Mexico, Mexico, "
            + "Mexico, Foreign born- Not a citizen of U S , 0, Not in universe, 2, 12, 95, 50000+."
        try DatasetsFixtures.writeText(good + "\n" + good.replacingOccurrences(of: ", 95,", with: ",") + "\n", to: "\(dir)/short.txt")
        #expect(throws: DatasetError.malformedLine(file: "\(dir)/short.txt", line: 2, reason: "expected 42 comma-separated fields, found 41")) {
            try CensusDataset.write(raw: "\(dir)/short.txt", to: "\(dir)/out")
        }
        try DatasetsFixtures.writeText(good.replacingOccurrences(of: "50000+.", with: "lots") + "\n", to: "\(dir)/label.txt")
        #expect(throws: DatasetError.malformedLine(file: "\(dir)/label.txt", line: 1, reason: "income (field 42) is 'lots', expected '- 50000.' or '50000+.'")) {
            try CensusDataset.write(raw: "\(dir)/label.txt", to: "\(dir)/out")
        }
        try DatasetsFixtures.writeText(good.replacingOccurrences(of: "38, Private", with: "old, Private") + "\n", to: "\(dir)/age.txt")
        #expect(throws: DatasetError.malformedLine(file: "\(dir)/age.txt", line: 1, reason: "age (field 1) is 'old', expected a number")) {
            try CensusDataset.write(raw: "\(dir)/age.txt", to: "\(dir)/out")
        }
        // Not gzip whatever its name: read as text, so the first line is at fault.
        try DatasetsFixtures.writeText("not gzip at all\n", to: "\(dir)/garbled.gz")
        #expect(throws: DatasetError.malformedLine(file: "\(dir)/garbled.gz", line: 1, reason: "expected 42 comma-separated fields, found 1")) {
            try CensusDataset.write(raw: "\(dir)/garbled.gz", to: "\(dir)/out")
        }
        // A truncated gzip stream.
        let compressed = Gzip.compress(Array(String(repeating: good + "\n", count: 50).utf8))
        try DatasetsFixtures.writeBytes(Array(compressed.dropLast(12)), to: "\(dir)/truncated.gz")
        let error = #expect(throws: DatasetError.self) { try CensusDataset.write(raw: "\(dir)/truncated.gz", to: "\(dir)/out") }
        guard case .unreadable(let file, let reason) = error else { Issue.record("got \(String(describing: error))"); return }
        #expect(file == "\(dir)/truncated.gz" && reason.contains("gzip"))
        // A gzip file converts like the plain one.
        try DatasetsFixtures.writeBytes(compressed, to: "\(dir)/fifty.gz")
        #expect(try CensusDataset.write(raw: "\(dir)/fifty.gz", to: "\(dir)/fifty").totalRows == 50)
        // A plain (uncompressed) record converts: trailing spaces trimmed, labels read.
        try DatasetsFixtures.writeText(good + "\n", to: "\(dir)/one.txt")
        let summary = try CensusDataset.write(raw: "\(dir)/one.txt", to: "\(dir)/one")
        #expect(summary.totalRows == 1)
        let row = try DatasetsFixtures.readSplits("\(dir)/one").values.flatMap(\.rows)[0]
        #expect(row[1] == "35-44;Female;1st 2nd 3rd or 4th grade")
        #expect(row.contains("Foreign born- Not a citizen of U S"))
        #expect(row.suffix(2) == ["1", "1"])
    }
}
