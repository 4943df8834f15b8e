import Foundation
import ModelDescription
import ModelMath
import Testing
@testable import MetaTrain

@Suite struct DatasetsUserColdTests {
    @Test(arguments: [(5, 1 as UInt64), (3, 7), (10, 123)])
    func `every user is a test user once, a validation user once and trains in the other folds`(folds: Int, seed: UInt64) throws {
        let protocolFolds = try UserColdFolds(folds: folds, queryRows: 10, seed: seed)
        var sizes = [Int](repeating: 0, count: folds)
        for user in 1...2000 {
            let f = protocolFolds.fold(ofUser: user)
            #expect((0..<folds).contains(f))
            sizes[f] += 1
            let splits = (0..<folds).map { protocolFolds.split(userFold: f, testFold: $0) }
            #expect(splits.count { $0 == .test } == 1, "user \(user)")
            #expect(splits.count { $0 == .validation } == 1, "user \(user)")
            #expect(splits.count { $0 == .train } == folds - 2, "user \(user)")
        }
        // Binomial sizes around 2000 / K; a gross imbalance would mean a broken hash.
        for size in sizes { #expect(abs(Double(size) - 2000 / Double(folds)) < 6 * (2000 / Double(folds)).squareRoot()) }
    }

    @Test func `fold assignment is stable for a seed and changes with it`() throws {
        let a = try UserColdFolds(folds: 5, queryRows: 10, seed: 1), b = try UserColdFolds(folds: 5, queryRows: 10, seed: 1)
        let c = try UserColdFolds(folds: 5, queryRows: 10, seed: 2)
        let users = Array(1...500)
        #expect(users.map(a.fold(ofUser:)) == users.map(b.fold(ofUser:)))
        #expect(users.map(a.fold(ofUser:)) != users.map(c.fold(ofUser:)))
        // Pinned values: a change of the hash would silently reshuffle every published fold.
        #expect((1...8).map(a.fold(ofUser:)) == [1, 0, 2, 0, 1, 3, 0, 3])
        #expect(UserColdFolds.standard == a)
        #expect(a.validationFold(forTestFold: 4) == 0 && a.validationFold(forTestFold: 1) == 2)
    }

    @Test func `the last Q rows are the query, users with at most Q rows are not held out`() throws {
        let folds = try UserColdFolds(folds: 5, queryRows: 10, seed: 1)
        #expect((0..<15).map { folds.role(rank: $0, of: 15) } == Array(repeating: .support, count: 5) + Array(repeating: .query, count: 10))
        #expect(folds.role(rank: 0, of: 11) == .support && folds.role(rank: 1, of: 11) == .query)
        #expect(folds.role(rank: 3, of: 10) == nil)
        #expect(throws: DatasetError.self) { try UserColdFolds(folds: 2) }
        #expect(throws: DatasetError.self) { try UserColdFolds(queryRows: 0) }
    }

    /// A tiny ml-latest directory: users 1…40 with 3 + u % 20 ratings each (users with ≤ Q = 4
    /// rows exist), timestamps shuffled against file order.
    static func writeRaw() throws -> String {
        let raw = DatasetsFixtures.temporaryDirectory()
        var lines = ["userId,movieId,rating,timestamp"]
        for user in 1...40 {
            let n = 3 + user % 20
            for j in 0..<n {
                let time = 1_000_000 + user * 1000 + (j * 7) % n   // a permutation of 0..<n when gcd(7, n) = 1; ties otherwise
                lines.append("\(user),\(100 + (user * 3 + j) % 25),\(Double(1 + (user + j) % 9) / 2),\(time)")
            }
        }
        try DatasetsFixtures.writeText(lines.joined(separator: "\r\n") + "\r\n", to: "\(raw)/ratings.csv")
        let movies = (100..<125).map { "\($0),\"Movie \($0), The\",Drama|Comedy" }
        try DatasetsFixtures.writeText((["movieId,title,genres"] + movies).joined(separator: "\r\n") + "\r\n", to: "\(raw)/movies.csv")
        return raw
    }

    @Test func `fold files hold each user once, held-out users sorted by time with the last Q rows as query`() throws {
        let raw = try Self.writeRaw()
        let out = DatasetsFixtures.temporaryDirectory()
        let folds = try UserColdFolds(folds: 4, queryRows: 4, seed: 3)
        let summary = try MovieLensDataset.writeUserCold(raw: raw, to: out, folds: folds)
        let rowsOfUser = Dictionary(uniqueKeysWithValues: (1...40).map { ($0, 3 + $0 % 20) })
        #expect(summary.usersPerFold.reduce(0, +) == 40)
        #expect(summary.skippedUsers == rowsOfUser.values.count { $0 <= 4 })

        let foldsFile = try DatasetsFixtures.readCSV("\(out)/folds.csv")
        #expect(foldsFile.header == ["user_id", "fold", "rows"])
        #expect(foldsFile.rows.map { Int($0[0])! } == Array(1...40))
        #expect(foldsFile.rows.allSatisfy { Int($0[1])! == folds.fold(ofUser: Int($0[0])!) && Int($0[2])! == rowsOfUser[Int($0[0])!] })

        var testedOnce: [String: Int] = [:]
        for fold in 0..<4 {
            let dir = "\(out)/fold-\(fold)"
            let splits = try DatasetsFixtures.readSplits(dir)
            #expect(splits[.train]!.header == ["user_id", "item_id", "title", "genres", "timestamp", "like", "rating"])
            #expect(splits[.test]!.header == splits[.train]!.header + ["role"])
            #expect(splits[.validation]!.header == splits[.train]!.header + ["role"])
            for (split, file) in splits {
                for row in file.rows {
                    #expect(folds.split(userFold: folds.fold(ofUser: Int(row[0])!), testFold: fold) == split, "fold \(fold) user \(row[0])")
                }
            }
            // Training users keep all their rows; held-out users with > Q rows all of theirs.
            let trainUsers = Set(splits[.train]!.rows.map { Int($0[0])! })
            #expect(trainUsers == Set((1...40).filter { folds.split(userFold: folds.fold(ofUser: $0), testFold: fold) == .train }))
            #expect(splits[.train]!.rows.count == trainUsers.reduce(0) { $0 + rowsOfUser[$1]! })
            for split in [DatasetSplit.validation, .test] {
                let rows = splits[split]!.rows
                var seen: [String] = []
                for row in rows where seen.last != row[0] { seen.append(row[0]) }
                #expect(seen == Array(Set(seen)).sorted { Int($0)! < Int($1)! }, "users contiguous, ascending")
                for user in seen {
                    let mine = rows.filter { $0[0] == user }
                    #expect(mine.count == rowsOfUser[Int(user)!]! && mine.count > 4)
                    let times = mine.map { Int($0[4])! }
                    #expect(times == times.sorted(), "user \(user) by time")
                    #expect(mine.map { $0[7] } == Array(repeating: "support", count: mine.count - 4) + Array(repeating: "query", count: 4))
                    if split == .test { testedOnce[user, default: 0] += 1 }
                }
            }
            let yaml = String(decoding: try DatasetsFixtures.bytes("\(dir)/config.yaml"), as: UTF8.self)
            #expect(yaml.contains("task_key: user_id\n") && yaml.contains("time: timestamp\n") && !yaml.contains("role"))
        }
        let eligible = (1...40).filter { rowsOfUser[$0]! > 4 }.map(String.init)
        #expect(testedOnce == Dictionary(uniqueKeysWithValues: eligible.map { ($0, 1) }))
    }

    @Test func `the role column is ignored by the CSV log reader given the written config`() throws {
        let raw = try Self.writeRaw()
        let out = DatasetsFixtures.temporaryDirectory()
        try MovieLensDataset.writeUserCold(raw: raw, to: out, folds: try UserColdFolds(folds: 3, queryRows: 4, seed: 1))
        let config = try ModelConfig.load(yamlFile: "\(out)/fold-0/config.yaml")
        let encoder = FeatureEncoder(unfittedConfig: config)
        for split in DatasetSplit.allCases {
            let path = "\(out)/fold-0/\(split.fileName)"
            guard try DatasetsFixtures.readCSV(path).rows.count > 0 else { continue }
            let reader = try CSVLogReader(path: path, encoder: encoder)
            var rows = 0
            while let batch = try reader.nextBatch(maxRows: 64) { rows += batch.count }
            #expect(rows == (try DatasetsFixtures.readCSV(path).rows.count), "\(split)")
            #expect(reader.badRowCount == 0)
        }
    }

    @Test(.enabled(if: DatasetsFixtures.movieLensSmall != nil, "METAREC_DATA is not set or movielens-latest-small is absent"))
    func `ml-latest-small in five folds tests each of the 610 users once`() throws {
        let out = DatasetsFixtures.temporaryDirectory()
        let summary = try MovieLensDataset.writeUserCold(raw: DatasetsFixtures.movieLensSmall!, to: out)
        #expect(summary.skippedUsers == 0)
        #expect(summary.foldSummaries.reduce(0) { $0 + $1.file(.test).taskKeys } == 610)
        #expect(summary.foldSummaries.allSatisfy { $0.totalRows == 100_836 })
        #expect(summary.foldSummaries.reduce(0) { $0 + $1.file(.test).rows } == 100_836)
    }
}
