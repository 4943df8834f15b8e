import Foundation
import Testing
@testable import MetaTrain

/// The multi-scene datasets: the synthetic generator's ground truth, the MovieLens-100K
/// (RecBole atomic files) age-group converter and the census scene option.
@Suite struct DatasetsScenesTests {
    @Test func `Zipf traffic: shares sum to 1, the top 20 % of 10 scenes hold about 80 %, users partition the scenes`() throws {
        let truth = SceneSyntheticGenerator(try SceneSyntheticConfig(scenes: 10, zipfExponent: 2, users: 2000))
        #expect(abs(truth.shares.reduce(0, +) - 1) < 1e-12)
        #expect(truth.shares == truth.shares.sorted(by: >))
        #expect(abs(truth.shares[0] + truth.shares[1] - 0.806) < 0.005)
        #expect(truth.userStart.first == 0 && zip(truth.userStart, truth.userStart.dropFirst()).allSatisfy { $1 - $0 >= 10 })
        for u in [0, 500, truth.userStart[9], truth.userStart[10] - 1] {
            let s = truth.scene(ofUser: u)
            #expect(truth.userStart[s] <= u && u < truth.userStart[s + 1])
        }
        // Shared weights: unit norm, cosine ρ; scene weights unit norm.
        let w = truth.sharedWeights
        #expect(abs(SyntheticGenerator.dot(w[0], w[1]) - SceneSyntheticConfig.taskCorrelation) < 1e-12)
        #expect(truth.sceneWeights.allSatisfy { $0.allSatisfy { abs(SyntheticGenerator.dot($0, $0) - 1) < 1e-12 } })
        #expect(truth.drawScene(0) == 0 && truth.drawScene(0.999_999_9) == 9)
    }

    @Test func `the synthetic scenes log is seeded, follows its ground truth and names its scene column`() throws {
        let a = DatasetsFixtures.temporaryDirectory(), b = DatasetsFixtures.temporaryDirectory()
        let config = try SceneSyntheticConfig(scenes: 4, zipfExponent: 1, users: 200, rows: 20_000, biasSpread: 2, seed: 5)
        let summary = try SceneSyntheticDataset.write(config, to: a)
        try SceneSyntheticDataset.write(config, to: b)
        for file in ["train.csv", "validation.csv", "test.csv", "config.yaml", "scenes.csv"] {
            #expect(try DatasetsFixtures.bytes("\(a)/\(file)") == DatasetsFixtures.bytes("\(b)/\(file)"), "\(file)")
        }
        #expect(summary.totalRows == 20_000)
        #expect(abs(Double(summary.file(.train).rows) / 20_000 - 0.8) < 0.01)
        #expect(abs(Double(summary.file(.test).rows) / 20_000 - 0.1) < 0.01)
        let yaml = String(decoding: try DatasetsFixtures.bytes(summary.configPath), as: UTF8.self)
        #expect(yaml.contains("scene: scene\n") && yaml.contains("{name: scene, kind: categorical}"))
        let train = try DatasetsFixtures.readCSV("\(a)/train.csv")
        #expect(train.header == ["user_id", "scene", "timestamp"] + (0..<8).map { "x\($0)" } + (0..<4).map { "z\($0)" } + ["click", "like"])
        // Traffic and click rates per scene follow the ground truth.
        let truth = SceneSyntheticGenerator(config)
        for s in 0..<4 {
            let rows = train.rows.filter { $0[1] == SceneSyntheticDataset.sceneName(s) }
            #expect(abs(Double(rows.count) / Double(train.rows.count) - truth.shares[s]) < 0.015)
            #expect(rows.allSatisfy { truth.scene(ofUser: Int($0[0])! - 1) == s })
        }
        let rates = (0..<4).map { s in
            let rows = train.rows.filter { $0[1] == SceneSyntheticDataset.sceneName(s) }
            return Double(rows.count { $0[15] == "1" }) / Double(rows.count)
        }
        let biases = truth.biases.map { $0[0] }
        let high = biases.indices.max { biases[$0] < biases[$1] }!, low = biases.indices.min { biases[$0] < biases[$1] }!
        #expect(biases[high] - biases[low] > 1, "seed 5 spreads the shifts")
        #expect(rates[high] > rates[low] + 0.1, "the largest label shift has the highest click rate: \(rates), \(biases)")
        let scenes = try DatasetsFixtures.readCSV("\(a)/scenes.csv")
        #expect(scenes.rows.count == 4 && scenes.rows.allSatisfy { Double($0[8])! > 0.6 && Double($0[9])! > 0.6 })
    }

    /// Atomic files in RecBole's layout: users aged 24, 25, 34, 35 and 60; ratings 1 … 5.
    static func writeAtomicFiles(to dir: String, rows: Int) throws {
        try DatasetsFixtures.writeText(
            "user_id:token\tage:token\tgender:token\toccupation:token\tzip_code:token\n"
                + zip(1...5, [24, 25, 34, 35, 60]).map { "\($0)\t\($1)\t\($0 % 2 == 0 ? "F" : "M")\tother\t0000\($0)\n" }.joined(),
            to: dir + "/ml-100k.user")
        try DatasetsFixtures.writeText(
            "item_id:token\tmovie_title:token_seq\trelease_year:token\tclass:token_seq\n1\tToy Story\t1995\tAnimation Children's Comedy\n2\tX\t1990\tDrama\n",
            to: dir + "/ml-100k.item")
        try DatasetsFixtures.writeText(
            "user_id:token\titem_id:token\trating:float\ttimestamp:float\n"
                + (0..<rows).map { "\($0 % 5 + 1)\t\($0 % 2 + 1)\t\($0 % 5 + 1)\t\(880_000_000 + $0)\n" }.joined(),
            to: dir + "/ml-100k.inter")
    }

    @Test func `MovieLens-100K atomic files: scenes are age groups, like is rating above 3, the split is random 8-1-1`() throws {
        let raw = DatasetsFixtures.temporaryDirectory(), out = DatasetsFixtures.temporaryDirectory()
        try Self.writeAtomicFiles(to: raw, rows: 5_000)
        let summary = try MovieLensScenesDataset.write(raw: raw, to: out, seed: 3)
        #expect(summary.totalRows == 5_000)
        #expect(abs(Double(summary.file(.train).rows) / 5_000 - 0.8) < 0.02)
        #expect(abs(Double(summary.file(.validation).rows) / 5_000 - 0.1) < 0.02)
        let split = try HashSplit(seed: 3, trainFraction: 0.8, validationFraction: 0.1)
        let expectedScene = ["1": "under25", "2": "25to34", "3": "25to34", "4": "35plus", "5": "35plus"]
        for (name, file) in try DatasetsFixtures.readSplits(out) {
            #expect(file.header == ["user_id", "item_id", "scene", "gender", "occupation", "genres", "release_year", "timestamp", "like"])
            for row in file.rows {
                let index = Int(row[7])! - 880_000_000
                #expect(split.split(row: index) == name)
                #expect(row[2] == expectedScene[row[0]])
                #expect(row[8] == (index % 5 + 1 > 3 ? "1" : "0"), "rating \(index % 5 + 1)")
                #expect(row[5] == (row[1] == "1" ? "Animation|Children's|Comedy" : "Drama"))
            }
        }
        let yaml = String(decoding: try DatasetsFixtures.bytes(summary.configPath), as: UTF8.self)
        #expect(yaml.contains("scene: scene\n") && yaml.contains("task_key: user_id\n"))
        #expect(MovieLensScenesDataset.scene(age: 24) == "under25" && MovieLensScenesDataset.scene(age: 35) == "35plus")
    }

    @Test func `MovieLens-100K: a rating of an unknown user or a missing file throws naming it`() throws {
        let raw = DatasetsFixtures.temporaryDirectory(), out = DatasetsFixtures.temporaryDirectory()
        try Self.writeAtomicFiles(to: raw, rows: 10)
        try DatasetsFixtures.writeText("user_id:token\titem_id:token\trating:float\ttimestamp:float\n9\t1\t4\t1\n", to: raw + "/ml-100k.inter")
        #expect { try MovieLensScenesDataset.write(raw: raw, to: out) } throws: { error in
            guard case DatasetError.malformedLine(let file, let line, let reason) = error else { return false }
            return file.hasSuffix("ml-100k.inter") && line == 2 && reason.contains("user 9")
        }
        try FileManager.default.removeItem(atPath: raw + "/ml-100k.item")
        #expect { try MovieLensScenesDataset.write(raw: raw, to: out) } throws: { error in
            guard case DatasetError.missingFile(let path) = error else { return false }
            return path.hasSuffix("ml-100k.item")
        }
    }

    @Test func `census: the scene must be a categorical column and lands in the config`() throws {
        #expect(CensusSchema.categoricalNames.contains("class_of_worker") && !CensusSchema.categoricalNames.contains("age"))
        #expect { try CensusDataset.write(raw: "/nonexistent", to: DatasetsFixtures.temporaryDirectory(), options: CensusOptions(scene: "age")) }
            throws: { error in
                guard case DatasetError.invalidOption(let name, _) = error else { return false }
                return name == "scene"
            }
        guard let census = DatasetsFixtures.censusFile else { return }
        let out = DatasetsFixtures.temporaryDirectory()
        let summary = try CensusDataset.write(raw: census, to: out, options: CensusOptions(limit: 2_000, scene: "class_of_worker"))
        let yaml = String(decoding: try DatasetsFixtures.bytes(summary.configPath), as: UTF8.self)
        #expect(yaml.contains("scene: class_of_worker\n"))
    }
}
