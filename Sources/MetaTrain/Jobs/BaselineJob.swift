/// `metarec baseline`: fits a baseline on a training log and writes the scores of a user-cold
/// held-out file's query rows as a scored-rows file (``ScoredRowsWriter``).
///
/// ```
/// train.csv   user, item, rating columns            → RatingMatrix → Baseline
/// data.csv    user, item, rating, role, label columns → per user: support (item, rating), query items
/// out.csv     per query row and label: user, label name, label value, score (the same for every label)
/// ```
/// With several candidate settings (``l2Candidates`` for `mf`, ``priorCounts`` for `item-mean`)
/// the one with the highest mean nDCG@10 of the rating on the validation file's users
/// (``RankingCriterion``) is kept; the data file is never read for the choice.
/// A query row whose label cell is empty is not written for that label. With ``supportLimit``
/// only a user's last `n` support rows are used (the model's support store keeps `S_max`).
public struct BaselineJob: Sendable {
    public enum Method: String, Sendable, CaseIterable {
        case itemMean = "item-mean"
        case popularity
        case mf
    }

    public var method: Method
    public var trainingPath: String
    public var dataPath: String
    public var outputPath: String
    /// Held-out file for choosing among several candidate settings.
    public var validationPath: String?
    public var userColumn = "user_id"
    public var itemColumn = "item_id"
    /// The rating the baselines fit (training) and fold in (support).
    public var ratingColumn = "rating"
    /// Labels written per query row (task = label name).
    public var labels = ["like", "rating"]
    /// `item-mean` prior counts m to choose from (one: no choice).
    public var priorCounts: [Double] = [5]
    /// `mf` ridge λ values to choose from (one: no choice).
    public var l2Candidates: [Double] = [10]
    public var factors = 32
    public var epochs = 15
    public var seed: UInt64 = 1
    /// Use only each held-out user's last `n` support rows (`nil`: all).
    public var supportLimit: Int?

    public init(method: Method, trainingPath: String, dataPath: String, outputPath: String) {
        self.method = method
        self.trainingPath = trainingPath
        self.dataPath = dataPath
        self.outputPath = outputPath
    }

    /// What a run chose and wrote.
    public struct Report: Sendable {
        /// The method with the chosen setting.
        public var method: BaselineMethod
        /// Validation mean nDCG@10 of every candidate, when there was a choice.
        public var validation: [(setting: Double, ndcg: Double)] = []
        /// Held-out users scored and rows written.
        public var users = 0
        public var rowsWritten = 0
    }

    /// Runs the job; `log` receives progress lines (stderr in the CLI).
    /// - Throws: ``DataError`` naming `file:line:column` for malformed input,
    ///   ``DatasetError`` for bad settings or an unwritable output.
    public func run(log: (String) -> Void = { _ in }) throws -> Report {
        let candidates = try methodCandidates()
        guard !candidates.isEmpty else { throw DatasetError.invalidOption(name: "l2", reason: "no candidate setting") }
        let training = try Self.readTraining(trainingPath, user: userColumn, item: itemColumn, rating: ratingColumn)
        log("\(trainingPath): \(training.entries.count) ratings, \(training.userCount) users, \(training.itemCount) items")
        var report = Report(method: candidates[0].method)
        var chosen: Baseline?
        if candidates.count > 1 {
            guard let validationPath else {
                throw DatasetError.invalidOption(name: "validation", reason: "several candidate settings need a validation file to choose on")
            }
            let validation = try readHeldOut(validationPath, labels: [])
            var best = -Double.infinity
            for candidate in candidates {
                let fitted = Baseline(fitting: candidate.method, to: training)
                let ndcg = Self.meanNDCG(fitted, validation)
                log("validation nDCG@10 \(candidate.setting): \(ndcg)")
                report.validation.append((candidate.setting, ndcg))
                if ndcg > best { best = ndcg; chosen = fitted; report.method = candidate.method }
            }
        } else {
            chosen = Baseline(fitting: candidates[0].method, to: training)
        }
        if case .matrixFactorization(let mf) = chosen!, let last = mf.trainingRMSE.last {
            log("mf: f \(mf.settings.factors), λ \(mf.settings.l2), \(mf.settings.epochs) epochs, training RMSE \(last)")
        }
        let data = try readHeldOut(dataPath, labels: labels)
        let writer = try ScoredRowsWriter(path: outputPath)
        for user in data.users {
            let scores = chosen!.scores(user.ratings)
            for (j, row) in user.queryLabels.enumerated() {
                for (task, label) in zip(labels, row) {
                    guard let label else { continue }
                    try writer.write(user: user.id, task: task, label: label, score: scores[j])
                }
            }
        }
        try writer.close()
        report.users = data.users.count
        report.rowsWritten = writer.rowCount
        return report
    }

    private func methodCandidates() throws -> [(setting: Double, method: BaselineMethod)] {
        switch method {
        case .popularity:
            return [(0, .popularity)]
        case .itemMean:
            for m in priorCounts where !(m >= 0 && m.isFinite) {
                throw DatasetError.invalidOption(name: "prior-count", reason: "\(m): need a finite m ≥ 0")
            }
            return priorCounts.map { ($0, .itemMean(priorCount: $0)) }
        case .mf:
            return try l2Candidates.map {
                ($0, .matrixFactorization(try MatrixFactorization.Settings(factors: factors, l2: $0, epochs: epochs, seed: seed)))
            }
        }
    }

    /// The mean over users of ``RankingCriterion/ndcg(scores:ratings:k:)`` at K = 10.
    static func meanNDCG(_ baseline: Baseline, _ data: HeldOutData) -> Double {
        var sum = 0.0, n = 0
        for user in data.users where !user.queryRatings.contains(where: \.isNaN) {
            if let v = RankingCriterion.ndcg(scores: baseline.scores(user.ratings), ratings: user.queryRatings, k: 10) {
                sum += v
                n += 1
            }
        }
        return n > 0 ? sum / Double(n) : .nan
    }

    /// The `(user, item, rating)` observations of a training log.
    static func readTraining(_ path: String, user: String, item: String, rating: String) throws -> RatingMatrix {
        let table = try CSVTable(path: path, columns: [user, item, rating])
        var data = RatingMatrix()
        for r in table.rows.indices {
            guard let value = try table.number(row: r, column: 2) else { continue }  // unrated rows do not train
            data.add(user: table.rows[r][0], item: table.rows[r][1], rating: value)
        }
        return data
    }

    /// Held-out users of a user-cold file, as the baselines need them.
    struct HeldOutData {
        struct User {
            var id: String
            var ratings: HeldOutRatings
            /// Per query row, the query row's rating (NaN when empty), for the validation criterion.
            var queryRatings: [Double]
            /// Per query row, each requested label (`nil` when the cell is empty).
            var queryLabels: [[Double?]]
        }
        var users: [User] = []
    }

    func readHeldOut(_ path: String, labels: [String]) throws -> HeldOutData {
        var columns = [userColumn, itemColumn, ratingColumn, HeldOutRole.columnName]
        for label in labels where !columns.contains(label) { columns.append(label) }
        let table = try CSVTable(path: path, columns: columns)
        let labelColumns = labels.map { table.column(named: $0)! }
        var data = HeldOutData()
        for user in try table.heldOutUsers(userColumn: userColumn) {
            var support: [(item: String, rating: Double)] = []
            for r in user.support {
                guard let rating = try table.number(row: r, column: 2) else {
                    throw table.invalidValue(row: r, column: 2, reason: "a support row needs a rating")
                }
                support.append((table.rows[r][1], rating))
            }
            if let supportLimit, support.count > supportLimit { support.removeFirst(support.count - supportLimit) }
            var queryLabels: [[Double?]] = []
            var queryRatings: [Double] = []
            for r in user.query {
                queryLabels.append(try labelColumns.map { c throws(DataError) in try table.number(row: r, column: c) })
                queryRatings.append(try table.number(row: r, column: 2) ?? .nan)
            }
            data.users.append(.init(
                id: user.user, ratings: HeldOutRatings(support: support, query: user.query.map { table.rows[$0][1] }),
                queryRatings: queryRatings, queryLabels: queryLabels))
        }
        return data
    }
}
