import Foundation
import Serving
import Testing

/// The model repository's pieces (issue 23): the directory scan with labels, the deterministic
/// A/B split by hash(user), and the routing plan `metarec serve --models` resolves from them.
@Suite struct ModelRepositoryTests {
    @Test(arguments: [[0.9, 0.1], [0.5, 0.3, 0.2], [1, 0, 3]])
    func `the split sends each user to the same version every time, with shares within 2 % of the weights`(weights: [Double]) throws {
        let split = try TrafficSplit(weights.enumerated().map { .init(version: $0.offset + 1, weight: $0.element) })
        let again = try TrafficSplit(weights.enumerated().map { .init(version: $0.offset + 1, weight: $0.element) })
        let n = 100_000
        var counts = [Int](repeating: 0, count: weights.count + 1)
        for u in 0..<n {
            let v = split.version(user: "user-\(u)")
            counts[v] += 1
            if u % 97 == 0 { #expect(again.version(user: "user-\(u)") == v && split.version(user: "user-\(u)") == v) }
        }
        let total = weights.reduce(0, +)
        for (i, w) in weights.enumerated() {
            let share = Double(counts[i + 1]) / Double(n)
            #expect(abs(share - w / total) < 0.02, "version \(i + 1): share \(share), weight \(w / total)")
        }
        if weights.contains(0) { #expect(counts[weights.firstIndex(of: 0)! + 1] == 0, "a zero weight gets nobody") }
    }

    @Test func `another salt reshuffles users; a bad split is refused`() throws {
        let a = try TrafficSplit([.init(version: 1, weight: 1), .init(version: 2, weight: 1)])
        let b = try TrafficSplit([.init(version: 1, weight: 1), .init(version: 2, weight: 1)], salt: "experiment-2")
        let moved = (0..<10_000).filter { a.version(user: "\($0)") != b.version(user: "\($0)") }.count
        #expect(moved > 4_000 && moved < 6_000, "independent halves move about half the users: \(moved)")
        #expect(throws: ModelRepositoryError.invalidSplit("no version to split over")) { try TrafficSplit([]) }
        #expect(throws: ModelRepositoryError.self) { try TrafficSplit([.init(version: 1, weight: 0)]) }
        #expect(throws: ModelRepositoryError.self) { try TrafficSplit([.init(version: 1, weight: -1), .init(version: 2, weight: 2)]) }
        #expect(throws: ModelRepositoryError.self) { try TrafficSplit([.init(version: 1, weight: .nan)]) }
        // Each weight is finite, their sum is not: every bound would be NaN.
        #expect(throws: ModelRepositoryError.invalidSplit("the weights sum to inf (too large to split by)")) {
            try TrafficSplit([.init(version: 1, weight: 1e308), .init(version: 2, weight: 1e308)])
        }
        #expect(try TrafficSplit([.init(version: 1, weight: 1e307), .init(version: 2, weight: 1e307)]).version(user: "u") >= 1)
    }

    static func repository(_ files: [String: String], directories: [String]) throws -> String {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("metarec-repo-\(UUID().uuidString)").path
        for d in directories { try FileManager.default.createDirectory(atPath: root + "/" + d, withIntermediateDirectories: true) }
        for (path, text) in files { try text.write(toFile: root + "/" + path, atomically: true, encoding: .utf8) }
        return root
    }

    @Test func `a scan lists integer versions and labels, skipping what is not a version`() throws {
        let root = try Self.repository(["ranker/LABELS": "# rollout\nstable 2\ncanary 10   # the new one\n\n"],
                                       directories: ["ranker/1", "ranker/2", "ranker/10", "ranker/.tmp-11", "ranker/03", "empty", "other/5"])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let repo = try ModelRepository(root: root)
        #expect(Set(repo.models.keys) == ["ranker", "other"])
        let ranker = try #require(repo.models["ranker"])
        #expect(ranker.versions == [1, 2, 10])
        #expect(ranker.labels == ["stable": 2, "canary": 10])
        #expect(ranker.version(label: "latest") == 10 && ranker.version(label: "stable") == 2 && ranker.version(label: "nope") == nil)
        #expect(repo.path(name: "ranker", version: 2) == root + "/ranker/2")
        #expect(repo.models["other"]?.labels == [:])
    }

    @Test func `a malformed labels file names the line; a label of a missing version is refused`() throws {
        let bad = try Self.repository(["m/LABELS": "stable 1\ncanary two\n"], directories: ["m/1"])
        defer { try? FileManager.default.removeItem(atPath: bad) }
        #expect(throws: ModelRepositoryError.malformedLabels(path: bad + "/m/LABELS", line: 2, reason: #"expected "<label> <version>", got "canary two""#)) {
            try ModelRepository(root: bad)
        }
        let missing = try Self.repository(["m/LABELS": "stable 3\n"], directories: ["m/1"])
        defer { try? FileManager.default.removeItem(atPath: missing) }
        #expect(throws: ModelRepositoryError.missingVersion(path: missing + "/m/LABELS", label: "stable", version: 3)) {
            try ModelRepository(root: missing)
        }
        #expect(throws: ModelRepositoryError.self) { try ModelRepository(root: "/nonexistent-metarec-repo") }
    }

    @Test func `only a missing LABELS means no labels; one that cannot be read or is not UTF-8 is an error naming it`() throws {
        let root = try Self.repository([:], directories: ["m/1", "m/2"])
        defer { try? FileManager.default.removeItem(atPath: root) }
        let labels = root + "/m/LABELS"
        #expect(try ModelRepository(root: root).models["m"]?.labels == [:])
        // Latin-1 "stable 1 # é": read as no labels, the traffic would move to the newest version.
        try Data(Array("stable 1 # ".utf8) + [0xE9]).write(to: URL(fileURLWithPath: labels))
        #expect(throws: ModelRepositoryError.unreadable(path: labels, reason: "not UTF-8 text")) { try ModelRepository(root: root) }
        try FileManager.default.removeItem(atPath: labels)
        try FileManager.default.createDirectory(atPath: labels, withIntermediateDirectories: false)  // a read fails (EISDIR)
        let error = #expect(throws: ModelRepositoryError.self) { try ModelRepository(root: root) }
        guard case .unreadable(let path, _)? = error else { Issue.record("expected .unreadable, got \(String(describing: error))"); return }
        #expect(path == labels && error?.description.contains(labels) == true, "\(String(describing: error))")
    }

    static let ranker = ModelRepository.Model(name: "ranker", versions: [1, 2, 3, 5], labels: ["stable": 2, "canary": 3])

    @Test func `--split parses labels and versions with weights, and names a malformed pair`() throws {
        #expect(try RoutingPlan.parse("stable=90,canary=10") == [.init(.label("stable"), weight: 90), .init(.label("canary"), weight: 10)])
        #expect(try RoutingPlan.parse("3=1, 4 = 0.5") == [.init(.version(3), weight: 1), .init(.version(4), weight: 0.5)])
        for bad in ["stable", "stable=-1", "=5", "0=1", "a b=1", "stable=90,", "stable=nan"] {
            #expect(throws: ModelRepositoryError.self, "\(bad)") { try RoutingPlan.parse(bad) }
        }
        #expect(throws: ModelRepositoryError.invalidSplit(#""stable=x" is not <label or version>=<weight ≥ 0> (e.g. stable=90,canary=10)"#)) {
            try RoutingPlan.parse("canary=1,stable=x")
        }
    }

    @Test func `the default split is stable when labelled, else the newest; served is the split, the labels and the newest`() throws {
        let labelled = try RoutingPlan(model: Self.ranker, weights: [])
        #expect(labelled.split.arms == [.init(version: 2, weight: 1)] && labelled.primary == 2)
        #expect(labelled.served == [2, 3, 5], "version 1 is neither routed, labelled nor the newest")
        let plain = try RoutingPlan(model: .init(name: "m", versions: [1, 4], labels: [:]), weights: [])
        #expect(plain.split.arms == [.init(version: 4, weight: 1)] && plain.served == [4] && plain.primary == 4)
    }

    @Test func `split arms resolve labels, add up on one version, and the heaviest is the primary`() throws {
        let plan = try RoutingPlan(model: Self.ranker, weights: try RoutingPlan.parse("stable=60,canary=30,3=10,1=5"))
        #expect(plan.split.arms == [.init(version: 2, weight: 60), .init(version: 3, weight: 40), .init(version: 1, weight: 5)])
        #expect(plan.served == [1, 2, 3, 5] && plan.primary == 2 && plan.labels == Self.ranker.labels)
        #expect(try RoutingPlan(model: Self.ranker, weights: RoutingPlan.parse("2=1,3=1")).primary == 3, "a tie goes to the newer version")
        #expect(throws: ModelRepositoryError.self) { try RoutingPlan(model: Self.ranker, weights: RoutingPlan.parse("nightly=1")) }
        #expect(throws: ModelRepositoryError.self) { try RoutingPlan(model: Self.ranker, weights: RoutingPlan.parse("4=1")) }
        #expect(throws: ModelRepositoryError.self) { try RoutingPlan(model: Self.ranker, weights: RoutingPlan.parse("stable=0")) }
    }
}
