import Foundation
import MetaTrain
import Testing

@Suite struct ScoredRowsFileTests {
    static func write(_ text: String, name: String, in dir: String) throws -> String {
        let path = dir + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func `rows round-trip: quoted users, Double scores exactly, Float scores as the same Float`() throws {
        let dir = TrainingFixture.temporaryDirectory("metarec-scored-rows")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let rows = ScoredRows(rows: [
            .init(user: "17", task: "like", label: 1, score: Double(Float(0.1))),
            .init(user: "Smith, J.", task: "like", label: 0, score: 0.123456789012345),
            .init(user: "say \"hi\"", task: "rating", label: 4.5, score: -3e-5),
            .init(user: "17", task: "rating", label: 3, score: Double(Float(2.7182817))),
        ])
        let path = dir + "/base.csv"
        try ScoredRowsFile.write(rows, to: path)
        let text = try String(contentsOfFile: path, encoding: .utf8)
        #expect(text.hasPrefix("user,task,label,score\n17,like,1,0.1\n\"Smith, J.\",like,0,"))
        let back = try ScoredRowsFile.read(path: path)
        #expect(back.rows.map(\.user) == rows.rows.map(\.user) && back.rows.map(\.task) == rows.rows.map(\.task))
        #expect(back.rows.map(\.label) == rows.rows.map(\.label))
        #expect(back.rows[1].score == rows.rows[1].score && back.rows[2].score == rows.rows[2].score)
        #expect(Float(back.rows[0].score) == Float(0.1) && Float(back.rows[3].score) == Float(2.7182817))
        // Distinct Floats stay distinct and in order after the round trip.
        let floats = (0..<200).map { Double(Float(0.5) + Float($0) * Float(0.5).ulp) }
        try ScoredRowsFile.write(ScoredRows(rows: floats.map { .init(user: "u", task: "t", label: 0, score: $0) }), to: path)
        let read = try ScoredRowsFile.read(path: path).rows.map(\.score)
        #expect(zip(read, read.dropFirst()).allSatisfy { $0 < $1 } && read.map(Float.init) == floats.map(Float.init))
    }

    @Test func `columns are found by name; extra columns are ignored`() throws {
        let dir = TrainingFixture.temporaryDirectory("metarec-scored-rows-order")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try Self.write("score,fold,label,user,task\n0.5,1,1,u1,like\n", name: "a.csv", in: dir)
        #expect(try ScoredRowsFile.read(path: path) == ScoredRows(rows: [.init(user: "u1", task: "like", label: 1, score: 0.5)]))
    }

    @Test(arguments: [
        ("user,task,label\nu1,like,1\n", "a.csv:1:1: missing column \"score\" (header: user,task,label)"),
        ("user,task,label,score\nu1,like,1,0.5\nu2,like,yes,0.5\n", "a.csv:3:3: column \"label\": not a finite number: \"yes\""),
        ("user,task,label,score\nu1,like,1,nan\n", "a.csv:2:4: column \"score\": not a finite number: \"nan\""),
        ("user,task,label,score\nu1,like,1\n", "a.csv:2:4: ragged row: 3 fields, the header has 4"),
        ("user,task,label,score\n\"u1\n2\",like,1,0.5\n,like,0,0.5\n", "a.csv:4:1: column \"user\": empty value"),
        ("user,task,label,score\n", "a.csv:2:1: header only: no data rows"),
        ("", "a.csv:1:1: empty file: no header row"),
    ])
    func `bad input names file, line and column`(text: String, message: String) throws {
        let dir = TrainingFixture.temporaryDirectory("metarec-scored-rows-bad")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = try Self.write(text, name: "a.csv", in: dir)
        let error = #expect(throws: DataError.self) { try ScoredRowsFile.read(path: path) }
        #expect(error?.description == dir + "/" + message)
    }

    @Test func `fold files are concatenated; a user in two files of one side is an error`() throws {
        let dir = TrainingFixture.temporaryDirectory("metarec-scored-rows-folds")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let f1 = try Self.write("user,task,label,score\nu1,like,1,0.5\nu1,like,0,0.2\n", name: "f1.csv", in: dir)
        let f2 = try Self.write("user,task,label,score\nu2,like,1,0.5\n", name: "f2.csv", in: dir)
        let f3 = try Self.write("user,task,label,score\nu3,like,1,0.5\nu1,like,1,0.9\n", name: "f3.csv", in: dir)
        #expect(try ScoredRowsFile.read(paths: [f1, f2]).rows.map(\.user) == ["u1", "u1", "u2"])
        let error = #expect(throws: DataError.self) { try ScoredRowsFile.read(paths: [f1, f2, f3]) }
        #expect(error?.description == "\(f3):3:1: column \"user\": user \"u1\" is also in \(f1) (the files of one side must hold disjoint users)")
    }
}

@Suite struct PerUserReportTests {
    @Test func `compare infers each task's scale and counts users of one side only`() throws {
        var a = ScoredRows(), b = ScoredRows()
        for u in 0..<30 {
            for i in 0..<6 {
                let y = Double((u + i) % 2), r = Double((u * 3 + i) % 5) + 0.5
                a.rows.append(.init(user: "u\(u)", task: "like", label: y, score: Double(i)))
                a.rows.append(.init(user: "u\(u)", task: "rating", label: r, score: Double(i)))
                guard u < 28 else { continue }   // B lacks two users
                b.rows.append(.init(user: "u\(u)", task: "like", label: y, score: y + Double(i) / 10))
                b.rows.append(.init(user: "u\(u)", task: "rating", label: r, score: r))
            }
        }
        b.rows.append(.init(user: "new", task: "like", label: 1, score: 1))
        let reports = PerUserReport.compare(a: a, b: b, ks: [3], resamples: 200, seed: 1)
        #expect(reports.map(\.task) == ["like", "rating"])
        #expect(reports[0].scale == .binary && reports[0].metrics.map(\.description) == ["gauc", "ndcg@3", "recall@3"])
        #expect(reports[1].scale == .graded && reports[1].metrics.map(\.description) == ["ndcg@3"])
        #expect(reports[0].usersOnlyInA == 2 && reports[0].usersOnlyInB == 1)
        #expect(reports[1].usersOnlyInA == 2 && reports[1].usersOnlyInB == 0)
        // B ranks every user perfectly: its means are 1 and every CI lies above zero.
        for report in reports {
            for (m, d) in report.differences.enumerated() {
                #expect(report.b![m].mean == 1)
                let d = try #require(d)
                #expect(d.users == 28 && d.isAboveZero, "\(report.task) \(report.metrics[m])")
            }
        }
    }
}
