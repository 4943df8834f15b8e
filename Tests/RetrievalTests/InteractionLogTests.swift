import Foundation
import Testing
import Retrieval
import TensorCore

@Suite struct InteractionLogTests {
    static func directory(movies: String, ratings: String) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("retrieval-log-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try movies.write(toFile: dir + "/movies.csv", atomically: true, encoding: .utf8)
        try ratings.write(toFile: dir + "/ratings.csv", atomically: true, encoding: .utf8)
        return dir
    }

    @Test func `CRLF files, quoted titles and time order are read`() throws {
        let dir = try Self.directory(
            movies: "movieId,title,genres\r\n1,Toy Story (1995),Animation|Comedy\r\n5,\"Face, The (1990)\",Drama\r\n9,None,(no genres listed)\r\n",
            ratings: "userId,movieId,rating,timestamp\r\n2,5,4.0,30\r\n2,1,3.5,10\r\n2,9,1.0,30\r\n1,9,5.0,7\r\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let log = try InteractionLog.readMovieLens(directory: dir)
        #expect(log.itemIDs == [1, 5, 9])
        #expect(log.genres == ["Animation", "Comedy", "Drama"])
        #expect(log.userIDs == [1, 2])
        #expect(log.sequences == [[2], [0, 1, 2]])  // user 2: t=10 movie 1, then t=30 movies 5 and 9 by id
        let half = 1 / Float(2).squareRoot()
        #expect(log.features.scalars == [half, half, 0, 0, 0, 1, 0, 0, 0])
    }

    @Test func `a rating of an unknown movie is an error naming the line`() throws {
        let dir = try Self.directory(movies: "movieId,title,genres\n1,A,Drama\n",
                                     ratings: "userId,movieId,rating,timestamp\n1,1,4,1\n1,2,4,2\n")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(throws: RetrievalError.malformedData(file: dir + "/ratings.csv", line: 3, reason: "movie 2 is not in movies.csv")) {
            try InteractionLog.readMovieLens(directory: dir)
        }
    }

    @Test func `the split keeps targets out of histories`() {
        let log = InteractionLog(itemIDs: Array(0..<20), genres: [], features: Tensor(shape: [20, 0]), userIDs: [1, 2],
                                 sequences: [(0..<12).map { Int32($0) }, [1, 2, 3]])
        let split = NextItemSplit(log, targets: 2)
        #expect(split.test.count == 1)  // user 2 has fewer than 2T + 2 items
        #expect(Array(split.test[0].targets) == [10, 11] && Array(split.test[0].history) == Array(0..<10))
        #expect(Array(split.validation[0].targets) == [8, 9] && Array(split.validation[0].history) == Array(0..<8))
        #expect(split.trainingPositions.count == 7)
    }

    @Test func `TF Lite's protocol: every position one example, held out once, its history the context before it`() {
        let sequences: [[Int32]] = [(0..<30).map { Int32($0) }, [3, 1, 4, 1, 5], [7]]
        let log = InteractionLog(itemIDs: Array(0..<40), genres: [], features: Tensor(shape: [40, 0]), userIDs: [1, 2, 3],
                                 sequences: sequences)
        let split = NextItemSplit.randomExamples(log, context: 10, testShare: 0.1, validationShare: 0.1, seed: 4)
        // 29 + 4 examples (a user with one item has none): 3 test, 3 validation, 27 training.
        #expect(split.test.count == 3 && split.validation.count == 3 && split.trainingPositions.count == 27)
        var seen = Set<[Int]>()
        for c in split.test + split.validation {
            let s = sequences[c.user]
            let t = c.targets.startIndex
            #expect(c.targets.count == 1 && Array(c.history) == Array(s[max(0, t - 10)..<t]), "user \(c.user), position \(t)")
            seen.insert([c.user, t])
        }
        for (entry, t) in split.trainingPositions {
            #expect(t >= 1)
            seen.insert([split.training[entry].user, t])
        }
        #expect(seen.count == 33, "every example exactly once across the three parts")
        let again = NextItemSplit.randomExamples(log, context: 10, testShare: 0.1, validationShare: 0.1, seed: 4)
        #expect(again.test.map { [$0.user, $0.targets.startIndex] } == split.test.map { [$0.user, $0.targets.startIndex] }, "seeded")
    }

    static var movieLens: String? {
        guard let root = ProcessInfo.processInfo.environment["METAREC_DATA"], !root.isEmpty else { return nil }
        let dir = root + "/movielens-latest-small"
        return FileManager.default.fileExists(atPath: dir + "/ratings.csv") ? dir : nil
    }

    @Test(.enabled(if: movieLens != nil, "METAREC_DATA is not set or movielens-latest-small is absent"))
    func `ml-latest-small has the documented counts`() throws {
        let log = try InteractionLog.readMovieLens(directory: Self.movieLens!)
        #expect(log.itemIDs.count == 9742 && log.userIDs.count == 610)
        #expect(log.sequences.reduce(0) { $0 + $1.count } == 100_836)
        #expect(log.genres.count == 19)
    }
}
