import Foundation
import Testing
@testable import MetaTrain

@Suite struct DatasetsMovieLensTests {
    /// Per user: the timestamps of its rows in each split file.
    static func timesByUser(_ directory: String) throws -> [String: [DatasetSplit: [Int]]] {
        var result: [String: [DatasetSplit: [Int]]] = [:]
        for (split, file) in try DatasetsFixtures.readSplits(directory) {
            let time = file.header.firstIndex(of: "timestamp")!
            for row in file.rows { result[row[0], default: [:]][split, default: []].append(Int(row[time])!) }
        }
        return result
    }

    static func expectChronological(_ times: [String: [DatasetSplit: [Int]]]) {
        for (user, bySplit) in times {
            let train = bySplit[.train, default: []], validation = bySplit[.validation, default: []]
            let test = bySplit[.test, default: []]
            #expect((train.max() ?? .min) <= (validation.min() ?? .max), "user \(user)")
            #expect(((train + validation).max() ?? .min) <= (test.min() ?? .max), "user \(user)")
            let c = ChronologicalSplit.standard.counts(rows: train.count + validation.count + test.count)
            #expect(c == (train.count, validation.count, test.count), "user \(user)")
        }
    }

    @Test(.enabled(if: DatasetsFixtures.movieLensSmall != nil, "METAREC_DATA is not set or movielens-latest-small is absent"))
    func `ml-latest-small converts with every user split chronologically`() throws {
        let dir = DatasetsFixtures.temporaryDirectory()
        let summary = try MovieLensDataset.write(raw: DatasetsFixtures.movieLensSmall!, to: dir)
        #expect(summary.totalRows == 100_836)
        let likes = summary.files.reduce(0.0) { $0 + $1.labelMeans[0] * Double($1.rows) }
        #expect(Int(likes.rounded()) == 26_818 + 8_551 + 13_211)   // ratings ≥ 4: 48.2 %
        let times = try Self.timesByUser(dir)
        #expect(times.count == 610)
        #expect(summary.file(.train).taskKeys == 610 && summary.file(.test).taskKeys == 610)
        Self.expectChronological(times)
        let train = try DatasetsFixtures.readCSV("\(dir)/train.csv")
        #expect(train.header == ["user_id", "item_id", "title", "genres", "timestamp", "like", "rating"])
        #expect(train.rows.contains { $0[2] == "American President, The (1995)" && $0[3] == "Comedy|Drama|Romance" })
        let yaml = String(decoding: try DatasetsFixtures.bytes(summary.configPath), as: UTF8.self)
        #expect(yaml.contains("  - {name: genres, kind: multi_categorical, separator: \"|\", pooling: mean}\n"))
        #expect(yaml.contains("  - {name: rating, kind: regression, weight: 1.0}\n"))
        #expect(!yaml.contains("title"))
    }

    @Test func `ml-100k layout with Latin-1 titles and genre flags`() throws {
        let raw = DatasetsFixtures.temporaryDirectory()
        try DatasetsFixtures.writeText(
            (1...6).map { "1\t\($0 % 2 + 1)\t\($0 % 5 + 1)\t\(880_000_000 + 100 * (7 - $0))" }.joined(separator: "\n")
                + "\n2\t1\t4\t881000000\n", to: "\(raw)/u.data")
        let flags1 = (0..<19).map { [3, 5].contains($0) ? "1" : "0" }.joined(separator: "|")
        let flags2 = (0..<19).map { $0 == 8 ? "1" : "0" }.joined(separator: "|")
        var item = Array("1|Toy Story (1995)|01-Jan-1995||http://x|\(flags1)\n2|Caf".utf8)
        item += [0xE9] + Array(" (1995)|01-Jan-1995||http://y|\(flags2)\n".utf8)
        try DatasetsFixtures.writeBytes(item, to: "\(raw)/u.item")
        try DatasetsFixtures.writeText("1|24|M|technician|85711\n2|53|F|other|94043\n", to: "\(raw)/u.user")
        #expect(try MovieLensLayout.detect(in: raw) == .ml100k)

        let dir = DatasetsFixtures.temporaryDirectory()
        let summary = try MovieLensDataset.write(raw: raw, to: dir)
        #expect(summary.totalRows == 7)
        let splits = try DatasetsFixtures.readSplits(dir)
        #expect(splits[.train]!.header == ["user_id", "item_id", "title", "genres", "timestamp", "gender", "age", "occupation", "like", "rating"])
        let rows = splits.values.flatMap(\.rows)
        #expect(rows.contains { $0[1] == "2" && $0[2] == "Café (1995)" && $0[3] == "Drama" })
        #expect(rows.contains { $0[1] == "1" && $0[3] == "Animation|Comedy" && $0[5] == "M" && $0[6] == "24" && $0[7] == "technician" })
        #expect(rows.allSatisfy { $0[8] == (Double($0[9])! >= 4 ? "1" : "0") })
        // User 1's 6 rows: 4 train, 1 validation, 1 test; written in time order (reverse of u.data).
        #expect(splits[.test]!.rows.filter { $0[0] == "1" }.map { $0[4] } == ["880000600"])
        Self.expectChronological(try Self.timesByUser(dir))
        let yaml = String(decoding: try DatasetsFixtures.bytes(summary.configPath), as: UTF8.self)
        #expect(yaml.contains("  - {name: occupation, kind: categorical}\n"))
    }

    @Test func `ml-1m layout with :: separators`() throws {
        let raw = DatasetsFixtures.temporaryDirectory()
        try DatasetsFixtures.writeText(
            (0..<10).map { "7::\(10 + $0 % 3)::\($0 % 5 + 1)::\(978_300_000 + $0)" }.joined(separator: "\n") + "\n", to: "\(raw)/ratings.dat")
        try DatasetsFixtures.writeBytes(
            Array("10::Toy Story (1995)::Animation|Children's|Comedy\n11::Jumanji (1995)::Adventure\n12::Le Ch".utf8)
                + [0xE2] + Array("teau (1990)::Drama\n".utf8), to: "\(raw)/movies.dat")
        try DatasetsFixtures.writeText("7::F::25::4::55117\n", to: "\(raw)/users.dat")
        let dir = DatasetsFixtures.temporaryDirectory()
        let summary = try MovieLensDataset.write(raw: raw, to: dir)
        #expect(summary.files.map(\.rows) == [7, 1, 2])
        let rows = try DatasetsFixtures.readSplits(dir).values.flatMap(\.rows)
        #expect(rows.contains { $0[2] == "Le Château (1990)" })
        #expect(rows.contains { $0[3] == "Animation|Children's|Comedy" && $0[5] == "F" && $0[6] == "25" && $0[7] == "4" })
        Self.expectChronological(try Self.timesByUser(dir))
    }

    @Test func `CRLF ratings and quoted titles of the ml-latest layout`() throws {
        let raw = DatasetsFixtures.temporaryDirectory()
        try DatasetsFixtures.writeText("userId,movieId,rating,timestamp\r\n1,11,4.5,100\r\n1,29,2.0,100\r\n1,11,3.0,50\r\n", to: "\(raw)/ratings.csv")
        try DatasetsFixtures.writeText(
            "movieId,title,genres\r\n11,\"American President, The (1995)\",Comedy|Drama\r\n29,\"\"\"Quoted\"\" (2000)\",(no genres listed)\r\n",
            to: "\(raw)/movies.csv")
        let dir = DatasetsFixtures.temporaryDirectory()
        try MovieLensDataset.write(raw: raw, to: dir)
        let text = String(decoding: try DatasetsFixtures.bytes("\(dir)/train.csv"), as: UTF8.self)
        #expect(text == "user_id,item_id,title,genres,timestamp,like,rating\n1,11,\"American President, The (1995)\",Comedy|Drama,50,0,3.0\n"
            + "1,11,\"American President, The (1995)\",Comedy|Drama,100,1,4.5\n")
        let test = String(decoding: try DatasetsFixtures.bytes("\(dir)/test.csv"), as: UTF8.self)
        #expect(test.hasSuffix("1,29,\"\"\"Quoted\"\" (2000)\",(no genres listed),100,0,2.0\n"))
    }

    @Test func `missing or garbled raw files throw naming the file and line`() throws {
        let empty = DatasetsFixtures.temporaryDirectory()
        let out = DatasetsFixtures.temporaryDirectory()
        #expect(throws: DatasetError.missingFile(path: "\(empty)/nope")) { try MovieLensDataset.write(raw: "\(empty)/nope", to: out) }
        let layoutError = #expect(throws: DatasetError.self) { try MovieLensDataset.write(raw: empty, to: out) }
        guard case .unrecognizedLayout(let directory, _) = layoutError else { Issue.record("got \(String(describing: layoutError))"); return }
        #expect(directory == empty)

        let raw = DatasetsFixtures.temporaryDirectory()
        try DatasetsFixtures.writeText("1\t2\t3\t4\n", to: "\(raw)/u.data")
        #expect(throws: DatasetError.missingFile(path: "\(raw)/u.item")) { try MovieLensDataset.write(raw: raw, to: out) }

        let latest = DatasetsFixtures.temporaryDirectory()
        try DatasetsFixtures.writeText("userId,movieId,rating,timestamp\r\n1,2,4.0,10\r\n1,2,four,11\r\n", to: "\(latest)/ratings.csv")
        try DatasetsFixtures.writeText("movieId,title,genres\n2,\"Open quote,Drama\n", to: "\(latest)/movies.csv")
        #expect(throws: DatasetError.malformedLine(file: "\(latest)/ratings.csv", line: 3, reason: "rating 'four' is not a number in 0...10")) {
            try MovieLensDataset.write(raw: latest, to: out)
        }
        try DatasetsFixtures.writeText("userId,movieId,rating,timestamp\n1,2,4.0,10\n", to: "\(latest)/ratings.csv")
        #expect(throws: DatasetError.malformedLine(file: "\(latest)/movies.csv", line: 2, reason: "unterminated quoted field 2")) {
            try MovieLensDataset.write(raw: latest, to: out)
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: out).isEmpty)
    }
}
