import Foundation
import ModelDescription
import ModelMath
import Testing
@testable import MetaTrain

@Suite struct DatasetsConfigTests {
    /// The YAML every generator writes is accepted by the model-config parser and validator.
    static func expectParses(_ summary: DatasetSummary) throws {
        let text = String(decoding: try DatasetsFixtures.bytes(summary.configPath), as: UTF8.self)
        let config = try ModelConfig.parse(yaml: text, source: summary.configPath)
        try config.validate(source: summary.configPath)
    }

    @Test(arguments: [DatasetConfig.LabelKind.binary, .regression])
    func `synthetic config parses`(kind: DatasetConfig.LabelKind) throws {
        let dir = DatasetsFixtures.temporaryDirectory()
        try Self.expectParses(try SyntheticDataset.write(try SyntheticConfig(users: 10, rows: 200, features: 3, labelKind: kind), to: dir))
    }

    @Test func `movielens and census configs parse`() throws {
        let raw = DatasetsFixtures.temporaryDirectory()
        try DatasetsFixtures.writeText("1\t1\t5\t10\n1\t2\t3\t20\n", to: "\(raw)/u.data")
        let flags = (0..<19).map { $0 == 1 ? "1" : "0" }.joined(separator: "|")
        try DatasetsFixtures.writeText("1|A (1995)|x||u|\(flags)\n2|B (1996)|x||u|\(flags)\n", to: "\(raw)/u.item")
        try DatasetsFixtures.writeText("1|24|M|technician|85711\n", to: "\(raw)/u.user")
        try Self.expectParses(try MovieLensDataset.write(raw: raw, to: DatasetsFixtures.temporaryDirectory()))

        let record = "38, Private, 6, 36, 10th grade, 0, Not in universe, Never married, Retail trade, Sales, White, All other, "
            + "Female, Not in universe, Not in universe, Full-time schedules, 0, 0, 0, Single, Not in universe, Not in universe, "
            + "Householder, Householder, 1032.38, ?, ?, ?, Not in universe under 1 year old, ?, 4, Not in universe, "
            + "United-States, United-States, United-States, Native- Born in the United States, 0, Not in universe, 2, 52, 95, - 50000."
        try DatasetsFixtures.writeText(record + "\n", to: "\(raw)/census.txt")
        try Self.expectParses(try CensusDataset.write(raw: "\(raw)/census.txt", to: DatasetsFixtures.temporaryDirectory()))
    }
}
