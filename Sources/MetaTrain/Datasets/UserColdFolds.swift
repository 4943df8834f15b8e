/// The user-cold protocol (`docs/DESIGN.md` §Personalisation; MeLU style, Lee et al. KDD 2019): users, not rows, are
/// held out. Users fall into `K` folds by a seeded hash of their id; fold `i` is the test fold
/// once, so every user is a test user exactly once. Inside the training folds one fold is the
/// validation fold (for every choice of settings), the rest train:
///
/// ```
/// fold(u)          = splitmix64(seed ⊕ splitmix64(u)) mod K
/// validation(i)    = (i + 1) mod K
/// split of u in i  = test        if fold(u) = i
///                    validation  if fold(u) = validation(i)
///                    train       otherwise
/// ```
/// A held-out (validation or test) user's rows, ranked by (timestamp, original order), are
/// split into support (sent as feedback events) and query (ranked):
///
/// ```
/// rank r of n rows:  r ≥ n − Q  → query      (the last Q rows)
///                    otherwise  → support
/// ```
/// A user with `n ≤ Q` rows would have no support row; such a user is left out of the
/// held-out files (``role(rank:of:)`` is `nil`) and still trains in the folds where it is a
/// training user. (Every ml-latest-small, ml-100k and ml-1m user has ≥ 20 rows.)
///
/// A user's fold depends only on its id and the seed: stable across runs, machines and subsets
/// of the data. Fold sizes are binomial around `users / K` (not exactly equal).
public struct UserColdFolds: Sendable, Equatable {
    /// Number of folds `K` (≥ 3: test, validation and at least one training fold).
    public let folds: Int
    /// Query rows `Q` per held-out user (the most recent ones).
    public let queryRows: Int
    /// Seed of the fold hash.
    public let seed: UInt64

    /// - Throws: ``DatasetError/invalidOption(name:reason:)`` unless `folds ≥ 3` and `queryRows ≥ 1`.
    public init(folds: Int = 5, queryRows: Int = 10, seed: UInt64 = 1) throws {
        guard folds >= 3 else {
            throw DatasetError.invalidOption(name: "folds", reason: "\(folds) folds: need ≥ 3 (test, validation and a training fold)")
        }
        guard queryRows >= 1 else {
            throw DatasetError.invalidOption(name: "query", reason: "\(queryRows) query rows: need ≥ 1")
        }
        self.folds = folds
        self.queryRows = queryRows
        self.seed = seed
    }

    /// The default protocol: 5 folds, the last 10 rows of each held-out user as query, seed 1.
    public static let standard = try! UserColdFolds()

    /// The fold `0 ..< K` of user `user`.
    public func fold(ofUser user: Int) -> Int {
        let h = HashSplit.mix(seed ^ HashSplit.mix(UInt64(bitPattern: Int64(user))))
        return Int(h % UInt64(folds))
    }

    /// The validation fold used when fold `test` is the test fold: `(test + 1) mod K`.
    public func validationFold(forTestFold test: Int) -> Int {
        precondition((0..<folds).contains(test), "UserColdFolds: fold \(test) not in 0..<\(folds)")
        return (test + 1) % folds
    }

    /// Where a user of fold `userFold` goes when `testFold` is held out.
    public func split(userFold: Int, testFold: Int) -> DatasetSplit {
        if userFold == testFold { return .test }
        return userFold == validationFold(forTestFold: testFold) ? .validation : .train
    }

    /// The role of a held-out user's row ranked `rank` (0 = earliest) among its `n` rows:
    /// `query` for the last `Q`, `support` before them; `nil` when `n ≤ Q` (the user is not held out).
    public func role(rank: Int, of n: Int) -> HeldOutRole? {
        precondition(rank >= 0 && rank < n, "UserColdFolds: rank \(rank) of \(n) rows")
        guard n > queryRows else { return nil }
        return rank >= n - queryRows ? .query : .support
    }
}

/// The role of a held-out user's row in the user-cold protocol: the `role` column of
/// `validation.csv` and `test.csv`.
public enum HeldOutRole: String, Sendable, CaseIterable {
    /// An earlier row: sent as a feedback event (support set) before the user's query is scored.
    case support
    /// One of the user's last `Q` rows: a candidate to rank.
    case query

    /// The name of the column holding the role.
    public static let columnName = "role"
}
