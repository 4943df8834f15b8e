import Foundation
import MetaTrain
import TensorCore
import Testing

@Suite struct PairedBootstrapTests {
    /// The definition, written out: resample users by index with the same generator, take the
    /// weighted means of both variants on the resample, sort, read the percentiles.
    static func naive(a: PerUserValues, b: PerUserValues, resamples: Int, seed: UInt64) -> (mean: Double, low: Double, high: Double) {
        let users = a.values.keys.filter { b.values[$0] != nil }.sorted()
        func delta(_ sample: [String]) -> Double {
            let ma = sample.map { a.weights[$0]! * a.values[$0]! }.reduce(0, +) / sample.map { a.weights[$0]! }.reduce(0, +)
            let mb = sample.map { b.weights[$0]! * b.values[$0]! }.reduce(0, +) / sample.map { b.weights[$0]! }.reduce(0, +)
            return mb - ma
        }
        var rng = SeededRandom(seed: seed)
        var draws: [Double] = []
        for _ in 0..<resamples { draws.append(delta((0..<users.count).map { _ in users[Int.random(in: 0..<users.count, using: &rng)] })) }
        draws.sort()
        func q(_ p: Double) -> Double {
            let x = p * Double(draws.count - 1), i = Int(x.rounded(.down))
            return i + 1 < draws.count ? draws[i] * (1 - (x - Double(i))) + draws[i + 1] * (x - Double(i)) : draws[i]
        }
        return (delta(users), q(0.025), q(0.975))
    }

    /// Variant B: the same users, labels and scores moved toward the labels by `lift`.
    static func improved(_ users: [String: UserRows], lift: Double) -> [String: UserRows] {
        users.mapValues { UserRows(labels: $0.labels, scores: zip($0.labels, $0.scores).map { y, s in s + lift * (y >= 0.5 ? 1 : -1) }) }
    }

    @Test func `precomputed values equal the values computed from rows and skip NaN`() {
        let users = PlantedUsers.make(users: 20, seed: 4)
        let computed = PerUserValues(metric: .recall(k: 3), users: users, scale: .binary)
        var given = computed.values
        given["absent"] = .nan
        let precomputed = PerUserValues(metric: .recall(k: 3), values: given)
        #expect(precomputed.values == computed.values && precomputed.weights == computed.weights)
        #expect(precomputed.mean == computed.mean && precomputed.skipped == 1)
    }

    @Test(arguments: [PerUserMetric.gauc, .ndcg(k: 5), .recall(k: 3)])
    func `the bootstrap matches the naive definition`(metric: PerUserMetric) throws {
        let usersA = PlantedUsers.make(users: 50, seed: 3)
        let a = PerUserValues(metric: metric, users: usersA, scale: .binary)
        let b = PerUserValues(metric: metric, users: Self.improved(usersA, lift: 0.2), scale: .binary)
        let d = try #require(PairedBootstrap.difference(a: a, b: b, resamples: 300, seed: 9))
        let naive = Self.naive(a: a, b: b, resamples: 300, seed: 9)
        #expect(abs(d.mean - naive.mean) < 1e-12 && abs(d.low - naive.low) < 1e-12 && abs(d.high - naive.high) < 1e-12)
        #expect(abs(d.mean - (b.mean - a.mean)) < 1e-12, "all users in both: the estimate is the difference of the means")
        #expect(d.users == a.users && d.resamples == 300)
    }

    @Test(arguments: [1, 2, 3])
    func `a clearly better variant gets a CI above zero`(seed: UInt64) throws {
        let usersA = PlantedUsers.make(users: 200, seed: seed)
        for metric in LabelScale.binary.metrics(ks: [5]) {
            let a = PerUserValues(metric: metric, users: usersA, scale: .binary)
            let b = PerUserValues(metric: metric, users: Self.improved(usersA, lift: 0.5), scale: .binary)
            let d = try #require(PairedBootstrap.difference(a: a, b: b, resamples: 1000, seed: seed))
            #expect(d.isAboveZero, "\(metric): [\(d.low), \(d.high)]")
            #expect(d.low <= d.mean && d.mean <= d.high)
            // And the mirror image: A − B lies below zero.
            let back = try #require(PairedBootstrap.difference(a: b, b: a, resamples: 1000, seed: seed))
            #expect(back.high < 0)
        }
    }

    @Test(arguments: [1, 2, 3])
    func `identical variants get the interval [0, 0]`(seed: UInt64) throws {
        let a = PerUserValues(metric: .gauc, users: PlantedUsers.make(users: 200, seed: seed), scale: .binary)
        let same = try #require(PairedBootstrap.difference(a: a, b: a, resamples: 500, seed: seed))
        #expect(same.mean == 0 && same.low == 0 && same.high == 0 && same.containsZero)
    }

    @Test func `equally good variants get a CI containing zero about 95 % of the time`() throws {
        // B = A's scores plus small independent noise: no systematic change, so the 95 % interval
        // should miss 0 in about 1 of 20 noise draws (P(more than 4 misses of 20) ≈ 0.3 %).
        let usersA = PlantedUsers.make(users: 200, seed: 1)
        var covered = 0, widths: [Double] = []
        for noiseSeed in 0..<20 as Range<UInt64> {
            var rng = SeededRandom(seed: 1000 + noiseSeed)
            var noisy: [String: UserRows] = [:]
            for user in usersA.keys.sorted() {   // sorted: a Dictionary's order changes per process
                let rows = usersA[user]!
                noisy[user] = UserRows(labels: rows.labels, scores: rows.scores.map { $0 + Double.random(in: -0.02...0.02, using: &rng) })
            }
            for metric in [PerUserMetric.gauc, .ndcg(k: 5)] {
                let a = PerUserValues(metric: metric, users: usersA, scale: .binary)
                let b = PerUserValues(metric: metric, users: noisy, scale: .binary)
                let d = try #require(PairedBootstrap.difference(a: a, b: b, resamples: 500, seed: noiseSeed))
                if d.containsZero { covered += 1 }
                widths.append(d.high - d.low)
            }
        }
        #expect(covered >= 36, "\(covered) of 40 intervals contain 0")
        #expect(widths.allSatisfy { $0 > 0 && $0 < 0.05 }, "\(widths)")
    }

    @Test func `users defined in only one variant are left out`() throws {
        let a = PerUserValues(metric: .ndcg(k: 3), users: ["x": UserRows(labels: [1, 0], scores: [1, 0]),
                                                           "y": UserRows(labels: [1, 0], scores: [0, 1])], scale: .binary)
        let b = PerUserValues(metric: .ndcg(k: 3), users: ["y": UserRows(labels: [1, 0], scores: [1, 0]),
                                                           "z": UserRows(labels: [1, 0], scores: [1, 0])], scale: .binary)
        let d = try #require(PairedBootstrap.difference(a: a, b: b, resamples: 100, seed: 1))
        #expect(d.users == 1)
        #expect(abs(d.mean - (1 - 1 / log2(3.0))) < 1e-12, "y only")
        let none = PerUserValues(metric: .ndcg(k: 3), users: ["w": UserRows(labels: [1], scores: [1])], scale: .binary)
        #expect(PairedBootstrap.difference(a: a, b: none) == nil)
    }

    @Test func `a seed reproduces the interval; percentiles interpolate`() {
        let usersA = PlantedUsers.make(users: 80, seed: 4)
        let a = PerUserValues(metric: .gauc, users: usersA, scale: .binary)
        let b = PerUserValues(metric: .gauc, users: Self.improved(usersA, lift: 0.1), scale: .binary)
        #expect(PairedBootstrap.difference(a: a, b: b, seed: 5) == PairedBootstrap.difference(a: a, b: b, seed: 5))
        #expect(PairedBootstrap.difference(a: a, b: b, seed: 5) != PairedBootstrap.difference(a: a, b: b, seed: 6))
        #expect(PairedBootstrap.quantile([0, 10, 20], 0.25) == 5)
        #expect(PairedBootstrap.quantile([0, 10, 20], 1) == 20)
        #expect(PairedBootstrap.quantile([7], 0.975) == 7)
    }
}
