/// One of the three files a dataset command writes.
public enum DatasetSplit: String, CaseIterable, Sendable, Hashable {
    case train, validation, test

    /// `train.csv`, `validation.csv`, `test.csv`.
    public var fileName: String { "\(rawValue).csv" }
}

/// Chronological split per task key (user): each task's latest rows are the test set, the
/// rows just before them the validation set, the rest training.
///
/// For a task with `n` rows ranked `r = 0…n−1` by (timestamp, original order):
/// ```
/// n_test = round(test_fraction · n)         rounded half away from zero
/// n_val  = round(validation_fraction · n)
/// r ≥ n − n_test                 → test
/// n − n_test − n_val ≤ r < n − n_test → validation
/// otherwise                      → train
/// ```
/// With the defaults (0.2, 0.1) a user with 1–2 rows is all training, 3–4 rows give one test
/// row, 5 rows give 3/1/1. Every user's training rows precede its validation rows, which
/// precede its test rows.
public struct ChronologicalSplit: Sendable, Equatable {
    /// Share of each task's rows that goes to validation.
    public let validationFraction: Double
    /// Share of each task's (latest) rows that goes to test.
    public let testFraction: Double

    /// - Throws: ``DatasetError/invalidOption(name:reason:)`` unless both fractions are in
    ///   [0, 1] and sum to at most 1.
    public init(validationFraction: Double = 0.1, testFraction: Double = 0.2) throws {
        guard (0...1).contains(validationFraction), (0...1).contains(testFraction),
              validationFraction + testFraction <= 1 else {
            throw DatasetError.invalidOption(
                name: "split", reason: "fractions \(validationFraction), \(testFraction) must be in [0, 1] and sum to ≤ 1")
        }
        self.validationFraction = validationFraction
        self.testFraction = testFraction
    }

    /// The default 70 / 10 / 20 split.
    public static let standard = try! ChronologicalSplit()

    /// Rows of a task with `n` rows that go to each split.
    public func counts(rows n: Int) -> (train: Int, validation: Int, test: Int) {
        let test = min(n, Int((Double(n) * testFraction).rounded()))
        let validation = min(n - test, Int((Double(n) * validationFraction).rounded()))
        return (n - test - validation, validation, test)
    }

    /// The split of the row ranked `rank` (0 = earliest) among a task's `n` rows.
    public func split(rank: Int, of n: Int) -> DatasetSplit {
        precondition(rank >= 0 && rank < n, "ChronologicalSplit: rank \(rank) of \(n) rows")
        let c = counts(rows: n)
        if rank >= c.train + c.validation { return .test }
        return rank >= c.train ? .validation : .train
    }
}

/// Seeded hash split of row indices: stable across runs, machines and prefixes of the file
/// (a row's split depends only on its index and the seed).
///
/// ```
/// u = splitmix64(seed ⊕ splitmix64(index)) / 2⁶⁴      uniform in [0, 1)
/// u < train_fraction → train;  u < train + validation → validation;  else test
/// ```
public struct HashSplit: Sendable, Equatable {
    /// Hash seed.
    public let seed: UInt64
    /// Expected share of rows in train.
    public let trainFraction: Double
    /// Expected share of rows in validation.
    public let validationFraction: Double

    /// - Throws: ``DatasetError/invalidOption(name:reason:)`` unless both fractions are in
    ///   [0, 1] and sum to at most 1.
    public init(seed: UInt64, trainFraction: Double = 0.5, validationFraction: Double = 0.25) throws {
        guard (0...1).contains(trainFraction), (0...1).contains(validationFraction),
              trainFraction + validationFraction <= 1 else {
            throw DatasetError.invalidOption(
                name: "split", reason: "fractions \(trainFraction), \(validationFraction) must be in [0, 1] and sum to ≤ 1")
        }
        self.seed = seed
        self.trainFraction = trainFraction
        self.validationFraction = validationFraction
    }

    /// The split of row `index` (0-based).
    public func split(row index: Int) -> DatasetSplit {
        let u = Double(HashSplit.mix(seed ^ HashSplit.mix(UInt64(truncatingIfNeeded: index))) >> 11) * 0x1p-53
        if u < trainFraction { return .train }
        return u < trainFraction + validationFraction ? .validation : .test
    }

    /// SplitMix64 finaliser (Steele, Lea & Flood 2014): a bijective 64-bit mix.
    static func mix(_ value: UInt64) -> UInt64 {
        var z = value &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
