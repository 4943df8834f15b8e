import Foundation
import Testing
@testable import MetaTrain

@Suite struct BaselineJobTests {
    static let header = "user_id,item_id,title,timestamp,like,rating"

    /// train.csv (users 1–3), test.csv (users 7, 8 with roles; user 9 has support rows only).
    static func write() throws -> String {
        let dir = DatasetsFixtures.temporaryDirectory("metarec-baseline")
        var train = [header]
        for (u, items) in [(1, [10, 11, 12]), (2, [10, 11]), (3, [10, 13])] {
            for (j, i) in items.enumerated() { train.append("\(u),\(i),\"T, \(i)\",\(100 + j),\(j == 0 ? 1 : 0),\(j == 0 ? 4.5 : 2.0)") }
        }
        try DatasetsFixtures.writeText(train.joined(separator: "\n") + "\n", to: "\(dir)/train.csv")
        let test = [
            header + ",role",
            "7,10,x,1,1,4.0,support", "7,12,x,2,0,3.0,support", "7,11,x,3,1,5.0,query", "7,13,x,4,0,1.5,query", "7,99,x,5,,2.0,query",
            "8,11,x,1,0,2.0,query",
            "9,10,x,1,1,4.0,support",
        ]
        try DatasetsFixtures.writeText(test.joined(separator: "\n") + "\n", to: "\(dir)/test.csv")
        return dir
    }

    @Test(arguments: BaselineJob.Method.allCases)
    func `writes user,task,label,score for every query row and label with one score per row`(method: BaselineJob.Method) throws {
        let dir = try Self.write()
        var job = BaselineJob(method: method, trainingPath: "\(dir)/train.csv", dataPath: "\(dir)/test.csv", outputPath: "\(dir)/out.csv")
        job.factors = 2
        job.epochs = 2
        let report = try job.run()
        #expect(report.users == 2)
        let out = try DatasetsFixtures.readCSV("\(dir)/out.csv")
        #expect(out.header == ["user", "task", "label", "score"])
        // 4 query rows × 2 labels, less the empty like label of user 7's item 99.
        #expect(out.rows.count == 7 && report.rowsWritten == 7)
        #expect(out.rows.map { "\($0[0]) \($0[1]) \($0[2])" } == [
            "7 like 1", "7 rating 5", "7 like 0", "7 rating 1.5", "7 rating 2", "8 like 0", "8 rating 2",
        ])
        for pair in [(0, 1), (2, 3), (5, 6)] { #expect(out.rows[pair.0][3] == out.rows[pair.1][3]) }
        #expect(out.rows.allSatisfy { Double($0[3])?.isFinite == true })
        if method == .popularity { #expect(out.rows.map { Double($0[3])! } == [2, 2, 1, 1, 0, 2, 2]) }
    }

    @Test func `several l2 values need a validation file and the best one is chosen on it`() throws {
        let dir = try Self.write()
        var job = BaselineJob(method: .mf, trainingPath: "\(dir)/train.csv", dataPath: "\(dir)/test.csv", outputPath: "\(dir)/out.csv")
        job.factors = 2
        job.epochs = 2
        job.l2Candidates = [0.1, 10]
        #expect(throws: DatasetError.self) { try job.run() }
        job.validationPath = "\(dir)/test.csv"
        let report = try job.run()
        #expect(report.validation.map(\.setting) == [0.1, 10])
        let best = report.validation.max { $0.ndcg < $1.ndcg }!.setting
        guard case .matrixFactorization(let settings) = report.method else { Issue.record("\(report.method)"); return }
        #expect(settings.l2 == best)
    }

    @Test func `a bad role or rating is reported at its file, line and column`() throws {
        let dir = try Self.write()
        try DatasetsFixtures.writeText(Self.header + ",role\n7,10,x,1,1,4.0,support\n7,11,x,2,1,4.0,quer\n", to: "\(dir)/bad.csv")
        let job = BaselineJob(method: .itemMean, trainingPath: "\(dir)/train.csv", dataPath: "\(dir)/bad.csv", outputPath: "\(dir)/out.csv")
        let error = #expect(throws: DataError.self) { try job.run() }
        #expect(error?.description.hasPrefix("\(dir)/bad.csv:3:7: column \"role\"") == true, "\(String(describing: error))")
        try DatasetsFixtures.writeText(Self.header + "\n1,10,x,1,1,four\n", to: "\(dir)/badtrain.csv")
        let job2 = BaselineJob(method: .itemMean, trainingPath: "\(dir)/badtrain.csv", dataPath: "\(dir)/test.csv", outputPath: "\(dir)/out.csv")
        let error2 = #expect(throws: DataError.self) { try job2.run() }
        #expect(error2?.description.hasPrefix("\(dir)/badtrain.csv:2:6: column \"rating\": not a number") == true, "\(String(describing: error2))")
        #expect(!FileManager.default.fileExists(atPath: "\(dir)/out.csv"))
    }

    @Test func `scored rows quote user ids that need it and write exact numbers`() throws {
        let dir = DatasetsFixtures.temporaryDirectory("metarec-scored")
        let writer = try ScoredRowsWriter(path: "\(dir)/s.csv")
        try writer.write(user: "a,b", task: "like", label: 1, score: 0.1)
        try writer.write(user: "42", task: "rating", label: 4.5, score: 1e-7)
        try writer.close()
        let text = String(decoding: try DatasetsFixtures.bytes("\(dir)/s.csv"), as: UTF8.self)
        #expect(text == "user,task,label,score\n\"a,b\",like,1,0.1\n42,rating,4.5,1e-07\n")
    }
}
