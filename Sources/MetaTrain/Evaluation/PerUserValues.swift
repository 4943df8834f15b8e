/// One per-user metric of every user of one task and variant, and their mean.
///
/// ```
/// mean = Σ_u w_u · m_u / Σ_u w_u      over the users u where the metric is defined;
///        w_u = n_u (the user's row count) for GAUC, 1 for nDCG@K and recall@K
/// ```
public struct PerUserValues: Sendable, Equatable {
    /// The metric computed.
    public let metric: PerUserMetric
    /// The metric of each user where it is defined.
    public private(set) var values: [String: Double] = [:]
    /// Each counted user's weight in the mean (row count for GAUC, else 1).
    public private(set) var weights: [String: Double] = [:]
    /// Users with rows whose metric is undefined (one label class, IDCG = 0, nothing relevant).
    public private(set) var skipped = 0

    /// Computes `metric` for every user of `users`.
    public init(metric: PerUserMetric, users: [String: UserRows], scale: LabelScale) {
        self.metric = metric
        for (user, rows) in users {
            guard let v = metric.value(of: rows, scale: scale) else {
                skipped += 1
                continue
            }
            values[user] = v
            weights[user] = metric.isRowWeighted ? Double(rows.count) : 1
        }
    }

    /// Values computed elsewhere (e.g. retrieval's recall@K over the whole catalogue), each user
    /// weighted 1; users whose value is NaN are skipped.
    public init(metric: PerUserMetric, values: [String: Double]) {
        precondition(!metric.isRowWeighted, "PerUserValues: \(metric) needs row weights")
        self.metric = metric
        for (user, v) in values {
            guard !v.isNaN else {
                skipped += 1
                continue
            }
            self.values[user] = v
            weights[user] = 1
        }
    }

    /// Users counted in the mean.
    public var users: Int { values.count }

    /// The weighted mean over counted users; NaN when no user counts.
    public var mean: Double {
        // Sorted keys: a Dictionary's order changes per process, and float sums depend on order.
        var total = 0.0, weight = 0.0
        for user in values.keys.sorted() {
            total += weights[user]! * values[user]!
            weight += weights[user]!
        }
        return weight > 0 ? total / weight : .nan
    }
}
