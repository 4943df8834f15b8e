import Foundation
import Logging
@testable import MetaRecCLI
import MetaTrain
import Retrieval
import Serving
import Testing

/// The demo's recall → rank → serve step: the events it replays before a recommendation never
/// reach a held-out click, and the whole step runs on a small catalogue with tables that add up.
@Suite struct DemoRecommendTests {
    static func catalogue(users: Int, seed: UInt64 = 3) throws -> (directory: String, config: CatalogueSyntheticConfig) {
        let directory = NSTemporaryDirectory() + "metarec-demo-recommend-\(UUID().uuidString)"
        let config = try CatalogueSyntheticConfig(users: users, items: 60, genres: 4, meanSteps: 20, impressionsPerStep: 3, seed: seed)
        try CatalogueSyntheticDataset.write(config, to: directory)
        return (directory, config)
    }

    /// `(time, item, split)` of each of `user`'s impressions in the three ranker files, and their clicks' times by (time, item).
    static func rows(of user: String, in directory: String) throws -> (all: [(time: Int, item: Int, train: Bool)], clicks: [Int]) {
        var all: [(time: Int, item: Int, train: Bool)] = [], clicks: [(Int, Int)] = []
        for file in ["train", "validation", "test"] {
            let text = try String(contentsOfFile: "\(directory)/\(file).csv", encoding: .utf8)
            for line in text.split(separator: "\n").dropFirst() {
                let f = line.split(separator: ",")
                guard String(f[0]) == user else { continue }
                all.append((Int(f[1])!, Int(f[2])!, file == "train"))
                if f[4] == "1" { clicks.append((Int(f[1])!, Int(f[2])!)) }
            }
        }
        return (all, clicks.sorted { $0 < $1 }.map(\.0))
    }

    @Test func `replayed events are the user's held-out impressions strictly before the cut, each once`() throws {
        let (directory, _) = try Self.catalogue(users: 40)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var events = try HeldOutImpressions(directory: directory)
        var checked = 0
        for u in 1...40 {
            let user = String(u)
            let (all, clicks) = try Self.rows(of: user, in: directory)
            guard clicks.count >= 12 else {  // users with retrieval cases (2T + 2 clicks); the others split by rows
                #expect(events.take(user: user, beforeClickFromEnd: clicks.count + 1).isEmpty)
                continue
            }
            let (validationCut, testCut) = (clicks[clicks.count - 10], clicks[clicks.count - 5])
            let first = events.take(user: user, beforeClickFromEnd: 10)
            let second = events.take(user: user, beforeClickFromEnd: 5)
            #expect(events.take(user: user, beforeClickFromEnd: 5).isEmpty, "nothing is sent twice")
            func time(_ e: [String: FeatureValue]) -> Int { if case .integer(let t) = e["timestamp"]! { Int(t) } else { -1 } }
            #expect(first.allSatisfy { time($0) < validationCut } && second.allSatisfy { validationCut <= time($0) && time($0) < testCut })
            let heldOutBefore = all.filter { !$0.train && $0.time < testCut }
            #expect(first.count + second.count == heldOutBefore.count, "user \(u): every held-out impression before the cut, no training row")
            #expect(all.allSatisfy { !$0.train || $0.time < validationCut }, "user \(u): no training row at or after a held-out click")
            #expect(first.isEmpty, "user \(u): the ranker's split is at the validation clicks, so nothing precedes them outside training")
            #expect(first.map(time) == first.map(time).sorted() && second.map(time) == second.map(time).sorted())
            checked += 1
        }
        #expect(checked >= 10)
    }

    @Test func `the step recommends for every test user and its tables add up`() async throws {
        let directory = NSTemporaryDirectory() + "metarec-demo-recommend-\(UUID().uuidString)"
        let config = try CatalogueSyntheticConfig(users: 150, items: 60, genres: 4, meanSteps: 10, impressionsPerStep: 3, seed: 4)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let methods = try await DemoRecommend(out: directory, catalogue: config, epochs: 1, logger: Logger(label: "test")).run()
        #expect(methods.map(\.name).prefix(2) == ["popularity", "retrieval order (BoW)"] && methods.count == 4)
        #expect(methods[2].name.contains("unadapted") && !methods[3].name.contains("unadapted"))
        let users = methods[0].metrics.map(\.user)
        #expect(users.count > 50 && methods.allSatisfy { $0.metrics.map(\.user) == users })
        #expect(methods.allSatisfy { $0.metrics.allSatisfy { (0...1).contains($0.recall[DemoRecommend.k]!) } })
        // The popularity row is the baseline's own ranking of the same cases.
        let log = try InteractionLog.readMovieLens(directory: "\(directory)/catalogue")
        let split = NextItemSplit(log, targets: config.heldOutClicks)
        // The retrieval-order row is the retrieval model's own exact top k (evaluation's path) on the same cases.
        let model = try RetrievalModelFiles.read("\(directory)/catalogue-retrieval")
        let ranked = TwoTowerRanking.rank(split.test, parameters: model.parameters, itemEmbeddings: model.index.embeddings,
                                          maxHistory: model.manifest.maxHistory, k: DemoRecommend.k)
        #expect(methods[1].metrics.map { $0.recall[DemoRecommend.k]! }
                == zip(split.test, ranked).map { CaseMetrics($0, ranked: $1, cutoffs: [DemoRecommend.k]).recall[DemoRecommend.k]! })
        let popular = zip(split.test, Baselines.popularity(split.test, items: log.itemIDs.count, k: DemoRecommend.k))
            .map { CaseMetrics($0, ranked: $1, cutoffs: [DemoRecommend.k]).recall[DemoRecommend.k]! }
        #expect(methods[0].metrics.map { $0.recall[DemoRecommend.k]! } == popular)
        #expect(FileManager.default.fileExists(atPath: "\(directory)/catalogue-ranker") && FileManager.default.fileExists(atPath: "\(directory)/catalogue-retrieval"))
    }
}
