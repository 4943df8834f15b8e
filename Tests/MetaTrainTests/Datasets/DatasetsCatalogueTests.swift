import Foundation
import Testing
@testable import MetaTrain

/// The synthetic catalogue log (recall → rank → serve): seeded files for both stages that agree
/// with each other, and the planted structure each stage is meant to find.
@Suite struct DatasetsCatalogueTests {
    @Test func `the catalogue log is seeded and its ranker, retrieval and catalogue files agree`() throws {
        let a = DatasetsFixtures.temporaryDirectory(), b = DatasetsFixtures.temporaryDirectory(), c = DatasetsFixtures.temporaryDirectory()
        let config = try CatalogueSyntheticConfig(users: 60, items: 50, genres: 5, meanSteps: 8, impressionsPerStep: 3, seed: 4)
        let summary = try CatalogueSyntheticDataset.write(config, to: a)
        try CatalogueSyntheticDataset.write(config, to: b)
        try CatalogueSyntheticDataset.write(try CatalogueSyntheticConfig(users: 60, items: 50, genres: 5, meanSteps: 8, impressionsPerStep: 3, seed: 5), to: c)
        for file in ["train.csv", "validation.csv", "test.csv", "config.yaml", "ratings.csv", "movies.csv", "items.csv"] {
            #expect(try DatasetsFixtures.bytes("\(a)/\(file)") == DatasetsFixtures.bytes("\(b)/\(file)"), "\(file)")
        }
        #expect(try DatasetsFixtures.bytes("\(a)/ratings.csv") != DatasetsFixtures.bytes("\(c)/ratings.csv"), "another seed, another log")

        let splits = try DatasetsFixtures.readSplits(a)
        #expect(splits[.train]!.header == ["user_id", "timestamp", "item_id", "genre", "click", "like"])
        let all = DatasetSplit.allCases.flatMap { splits[$0]!.rows }
        #expect(all.count == summary.totalRows)
        // Every row is a shown item of its user's session: the generator's sessions, re-counted.
        let generator = CatalogueSyntheticGenerator(config)
        let sessions = (0..<60).map { generator.session(user: $0) }
        #expect(all.count == sessions.map(\.count).reduce(0, +))
        #expect(all.allSatisfy { $0[5] == "0" || $0[4] == "1" }, "only a clicked item is liked")
        let items = try DatasetsFixtures.readCSV("\(a)/items.csv")
        #expect(items.header == ["item_id", "genre"] && items.rows.count == 50)
        let genreOf = Dictionary(uniqueKeysWithValues: items.rows.map { ($0[0], $0[1]) })
        #expect(all.allSatisfy { genreOf[$0[2]] == $0[3] }, "a row's genre is its item's")
        let movies = try DatasetsFixtures.readCSV("\(a)/movies.csv")
        #expect(movies.rows.map { [$0[0], $0[2]] } == items.rows)
        // ratings.csv holds exactly the clicks, liked ones rated 5.
        let ratings = try DatasetsFixtures.readCSV("\(a)/ratings.csv")
        #expect(ratings.header == ["userId", "movieId", "rating", "timestamp"])
        let clicks = all.filter { $0[4] == "1" }.map { [$0[0], $0[2], $0[5] == "1" ? "5" : "3", $0[1]] }
        #expect(ratings.rows.sorted { $0.lexicographicallyPrecedes($1) } == clicks.sorted { $0.lexicographicallyPrecedes($1) })
        // Split at the held-out clicks (T = 5 by default): a user with at least 12 clicks has no training
        // row at or after their first validation click (the 10th from the end, by (time, item) as
        // ratings.csv orders them), no validation row at or after their first test click, and their
        // last 5 clicks in test; other users' rows are split chronologically.
        var splitAtClicks = 0
        for user in Set(all.map { $0[0] }) {
            func times(_ split: DatasetSplit) -> [Int] { splits[split]!.rows.filter { $0[0] == user }.map { Int($0[1])! } }
            let clicks = all.filter { $0[0] == user && $0[4] == "1" }.map { (Int($0[1])!, Int($0[2])!) }.sorted { $0 < $1 }
            let (train, validation, test) = (times(.train), times(.validation), times(.test))
            if clicks.count >= 12 {
                splitAtClicks += 1
                let (firstValidation, firstTest) = (clicks[clicks.count - 10].0, clicks[clicks.count - 5].0)
                #expect(train.allSatisfy { $0 < firstValidation } && validation.allSatisfy { firstValidation <= $0 && $0 < firstTest },
                        "user \(user)")
                let testClicks = splits[.test]!.rows.filter { $0[0] == user && $0[4] == "1" }.map { (Int($0[1])!, Int($0[2])!) }
                #expect(Set(clicks.suffix(5).map { "\($0)" }).isSubset(of: Set(testClicks.map { "\($0)" })), "user \(user)")
            } else if let last = train.max(), let first = test.min() {
                #expect(last <= first, "user \(user)")
            }
        }
        #expect(splitAtClicks >= 5, "the log has users split at their clicks")
        let yaml = String(decoding: try DatasetsFixtures.bytes(summary.configPath), as: UTF8.self)
        #expect(yaml.contains("{name: item_id, kind: categorical}") && yaml.contains("{name: like, kind: binary"))
    }

    /// Likes follow the user's own taste (two favourite genres); clicks follow the current
    /// interest, so a click's genre repeats the previous click's far above chance.
    @Test func `likes concentrate on the favourite genres and the next click follows the last one`() throws {
        let generator = CatalogueSyntheticGenerator(try CatalogueSyntheticConfig(users: 300, items: 400, genres: 10, meanSteps: 20, seed: 2))
        var shownFavourite = 0, shown = 0, likedFavourite = 0, liked = 0, repeats = 0, pairs = 0
        var genreCounts = [Int](repeating: 0, count: 10), clicks = 0
        for u in 0..<300 {
            let favourites = Set(generator.taste(user: u).favourites)
            let session = generator.session(user: u)
            var previous: Int?
            for impression in session {
                let g = generator.itemGenre[impression.item]
                shown += 1
                if favourites.contains(g) { shownFavourite += 1 }
                if impression.like {
                    liked += 1
                    if favourites.contains(g) { likedFavourite += 1 }
                }
                guard impression.click else { continue }
                genreCounts[g] += 1
                clicks += 1
                if let previous {
                    pairs += 1
                    if previous == g { repeats += 1 }
                }
                previous = g
            }
        }
        let favouriteShareOfShown = Double(shownFavourite) / Double(shown)
        let favouriteShareOfLiked = Double(likedFavourite) / Double(liked)
        #expect(liked > 200 && favouriteShareOfLiked > 2 * favouriteShareOfShown,
                "liked \(liked): \(favouriteShareOfLiked) of likes vs \(favouriteShareOfShown) of impressions in favourite genres")
        let chance = genreCounts.map { Double($0) / Double(clicks) }.map { $0 * $0 }.reduce(0, +)
        #expect(Double(repeats) / Double(pairs) > 2 * chance, "next click repeats the genre \(Double(repeats) / Double(pairs)) vs chance \(chance)")
    }

    @Test func `bad catalogue settings are refused by name`() {
        #expect(throws: DatasetError.invalidOption(name: "genres", reason: "must be in 2...items (10), got 11")) {
            try CatalogueSyntheticConfig(items: 10, genres: 11)
        }
        #expect(throws: DatasetError.invalidOption(name: "impressions", reason: "must be in 1...100, got 0")) {
            try CatalogueSyntheticConfig(impressionsPerStep: 0)
        }
        #expect(throws: DatasetError.invalidOption(name: "steps", reason: "must be in 4...10000, got 3")) {
            try CatalogueSyntheticConfig(meanSteps: 3)
        }
        #expect(throws: DatasetError.invalidOption(name: "users", reason: "must be in 1...1000000, got 0")) {
            try CatalogueSyntheticConfig(users: 0)
        }
    }
}
