import Foundation
@testable import MetaRecCLI
import MetaTrain
import ModelDescription
import ModelMath
import ParamServer
import Serving
import TensorCore
import Testing

/// `metarec eval-cold`: support rows through the events path, query rows as one request each.
@Suite struct UserColdEvaluationTests {
    static let header = "user_id,item_id,title,category,price,popularity,timestamp,task0,task1,role"

    /// Users 11 (6 support, 4 query), 12 (2 support, 3 query), 13 (query only, 2 rows).
    static func writeHeldOut(_ directory: String) throws -> String {
        var rng = SeededRandom(seed: 3)
        var lines = [header]
        for (user, support, query) in [(11, 6, 4), (12, 2, 3), (13, 0, 2)] {
            for j in 0..<(support + query) {
                let item = Int(rng.next() % 500)
                let role = j < support ? "support" : "query"
                lines.append("\(user),\(item),\"Title, \(item)\",\(item % 50),\(Double(item % 997) / 10),\(rng.nextUniform()),"
                             + "\(1_700_000_000 + j),\(rng.next() % 2),\(rng.next() % 2),\(role)")
            }
        }
        let path = "\(directory)/test.csv"
        try Data((lines.joined(separator: "\n") + "\n").utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    static func directory() -> String {
        let path = NSTemporaryDirectory() + "/metarec-usercold-\(UUID().uuidString)"
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func settings(_ model: ServingModel, minimumSupportRows: Int = 1) -> ServingSettings {
        var settings = ServingSettings(model.config)
        settings.adaptation = Adaptation(steps: 3, learningRate: 0.5)
        settings.guards = [AdaptationGuard](repeating: .none, count: model.config.labels.count)  // random synthetic towers
        settings.minimumSupportRows = minimumSupportRows
        return settings
    }

    static func read(_ path: String) throws -> [[String]] {
        let text = try String(contentsOfFile: path, encoding: .utf8)
        return text.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
    }

    @Test func `writes one scored row per query row and task, base and fine-tuned`() throws {
        let dir = Self.directory()
        let data = try Self.writeHeldOut(dir)
        let model = try Fixtures.model(clock: ManualClock(start: .seconds(1_700_000_000)))
        let report = try UserColdEvaluation().run(model: model, settings: Self.settings(model), dataPath: data, outputDirectory: "\(dir)/out")
        #expect(report.users == 3 && report.queryRows == 9 && report.supportRows == 8)
        #expect(report.finetunedUsers == 2 && report.fallbacks == ["no_support": 1])
        let base = try Self.read("\(dir)/out/base.csv"), tuned = try Self.read("\(dir)/out/finetuned.csv")
        #expect(base[0] == ["user", "task", "label", "score"] && tuned[0] == base[0])
        #expect(base.count == 1 + 9 * 2 && tuned.count == base.count)
        #expect(base.dropFirst().map { $0[0] } == Array(repeating: "11", count: 8) + Array(repeating: "12", count: 6) + ["13", "13", "13", "13"])
        #expect(base.dropFirst().map { $0[1] } == Array(repeating: ["task0", "task1"], count: 9).flatMap { $0 })
        #expect(zip(base, tuned).allSatisfy { $0[0...2] == $1[0...2] })
        // Fine-tuning moved the scores of the users with support, not of user 13.
        #expect(zip(base, tuned).dropFirst().prefix(14).contains { $0[3] != $1[3] })
        #expect(zip(base, tuned).suffix(4).allSatisfy { $0[3] == $1[3] })
        // The events went into the store (newest S_max rows): user 11 now has 6 support rows.
        #expect(Predictor(model: model).supportRowCount(user: "11") == 6)
    }

    @Test func `fine-tuning off gives the unadapted model's scores`() throws {
        let dir = Self.directory()
        let data = try Self.writeHeldOut(dir)
        let model = try Fixtures.model(clock: ManualClock(start: .seconds(1_700_000_000)))
        _ = try UserColdEvaluation().run(model: model, settings: Self.settings(model), dataPath: data, outputDirectory: "\(dir)/a")
        let base = try Self.read("\(dir)/a/base.csv")

        // The same weights, a fresh store and no events: the plain base-tower scores of each query.
        let fresh = try Fixtures.model(clock: ManualClock(start: .seconds(1_700_000_000)))
        let predictor = Predictor(model: fresh, settings: Self.settings(fresh))
        let table = try CSVTable(path: data)
        var expected: [String] = []
        for user in try table.heldOutUsers(userColumn: "user_id") {
            let candidates = try user.query.map { row in
                var values: [String: FeatureValue] = [:]
                for (c, name) in table.columns.enumerated() where predictor.columnRole(name) == .input {
                    values[name] = try predictor.requestValue(column: name, text: table.rows[row][c])
                }
                return values
            }
            let result = try predictor.score(ScoreRequest(user: user.user, candidates: candidates))
            #expect(result.finetuned == false && result.fallback == .noSupport)
            expected += result.scores.map { Double($0).description }
        }
        #expect(base.dropFirst().map { $0[3] } == expected)

        // And a minimum support above every user's makes the fine-tuned file the base file.
        _ = try UserColdEvaluation().run(model: fresh, settings: Self.settings(fresh, minimumSupportRows: 7), dataPath: data,
                                         outputDirectory: "\(dir)/b")
        #expect(try Self.read("\(dir)/b/finetuned.csv") == base)
    }

    @Test func `a held-out user already in the support store is an error naming the file and line`() throws {
        let dir = Self.directory()
        let data = try Self.writeHeldOut(dir)
        let model = try Fixtures.model(clock: ManualClock(start: .seconds(1_700_000_000)))
        var traffic = SyntheticTraffic(items: 500, seed: 1)
        try Predictor(model: model).record(events: traffic.events(user: "12", count: 2, tasks: 2))
        let error = #expect(throws: CellError.self) {
            try UserColdEvaluation().run(model: model, settings: Self.settings(model), dataPath: data, outputDirectory: "\(dir)/out")
        }
        #expect(error?.description.hasPrefix("\(data):12: user 12:") == true, "\(String(describing: error))")
        #expect(error?.description.contains("must not appear in the training data") == true)
    }

    @Test func `a malformed cell is reported at its file, line and column`() throws {
        let dir = Self.directory()
        let path = "\(dir)/bad.csv"
        try Data((Self.header + "\n5,1,t,1,cheap,0.5,1700000000,1,0,support\n5,2,t,1,1.0,0.5,1700000001,1,0,query\n").utf8)
            .write(to: URL(fileURLWithPath: path))
        let model = try Fixtures.model()
        let error = #expect(throws: DataError.self) {
            try UserColdEvaluation().run(model: model, settings: Self.settings(model), dataPath: path, outputDirectory: "\(dir)/out")
        }
        #expect(error?.description.hasPrefix("\(path):2:5: column \"price\"") == true, "\(String(describing: error))")
    }
}

/// The serving tests' small synthetic model, with warm item embeddings.
enum Fixtures {
    static func model(clock: any ParamServerClock = SystemClock()) throws -> ServingModel {
        let model = try ServingModel.synthetic(.small, clock: clock)
        model.warmEmbeddings(items: 500, users: 0)
        return model
    }
}
