import TensorCore

/// Biased matrix factorisation trained by alternating least squares, with a per-user ridge
/// *fold-in* for users never seen in training (the user-cold baseline of `docs/DESIGN.md` §Personalisation).
///
/// ```
/// r̂_ui = μ + b_u + b_i + p_uᵀ q_i                    p_u, q_i ∈ ℝᶠ (f = factors)
/// L    = Σ_(u,i) (r_ui − r̂_ui)² + λ (Σ_u ‖p_u‖² + b_u² + Σ_i ‖q_i‖² + b_i²)
/// ```
/// μ is the training mean (fixed). Training (Koren, Bell & Volinsky 2009; biases as an
/// augmented constant column) starts from `q_i ~ N(0, 0.1²)` (seeded), `b_i = 0`, and
/// alternates, each step an exact ridge solve (``RidgeRegression``):
///
/// ```
/// users:  [p_u; b_u] = (ÃᵀÃ + λI)⁻¹ Ãᵀ(r_u − μ − b_I)     Ã rows [q_i, 1] over the user's items
/// items:  [q_i; b_i] = (B̃ᵀB̃ + λI)⁻¹ B̃ᵀ(r_i − μ − b_U)     B̃ rows [p_u, 1] over the item's users
/// ```
/// The fold-in of a held-out user is exactly the user step with the trained items, over the
/// support items seen in training (others carry no factors and are skipped):
///
/// ```
/// [p; b] = (ÃᵀÃ + λI)⁻¹ Ãᵀ(r − μ − b_I),   score(i) = μ + b + b_i + pᵀq_i
/// ```
/// An item unseen in training scores `μ + b` (`q_i = 0`, `b_i = 0`). Deterministic for a seed.
public struct MatrixFactorization: Sendable {
    /// Training settings.
    public struct Settings: Sendable, Equatable {
        /// Latent dimension `f`.
        public var factors: Int
        /// Ridge λ of every solve (training and fold-in), on factors and biases alike.
        public var l2: Double
        /// ALS sweeps (each: every user, then every item).
        public var epochs: Int
        /// Seed of the item factors' initialisation.
        public var seed: UInt64

        /// - Throws: ``DatasetError/invalidOption(name:reason:)`` unless `factors ≥ 1`, `l2 > 0`, `epochs ≥ 1`.
        public init(factors: Int = 32, l2: Double = 10, epochs: Int = 15, seed: UInt64 = 1) throws {
            guard factors >= 1 else { throw DatasetError.invalidOption(name: "factors", reason: "\(factors): need ≥ 1") }
            guard l2 > 0, l2.isFinite else { throw DatasetError.invalidOption(name: "l2", reason: "\(l2): need a finite λ > 0") }
            guard epochs >= 1 else { throw DatasetError.invalidOption(name: "epochs", reason: "\(epochs): need ≥ 1") }
            self.factors = factors
            self.l2 = l2
            self.epochs = epochs
            self.seed = seed
        }
    }

    public let settings: Settings
    /// μ.
    public let globalMean: Double
    /// `q_i`, `(I, f)` row-major.
    public let itemFactors: [Double]
    /// `b_i`, `(I)`.
    public let itemBiases: [Double]
    /// Training RMSE after each epoch.
    public let trainingRMSE: [Double]
    let itemIndex: [String: Int]

    /// A held-out user's folded-in vector.
    public struct UserVector: Sendable, Equatable {
        /// `p`, `(f)`.
        public var factors: [Double]
        /// `b`.
        public var bias: Double
    }

    /// Trains on every observation of `data`.
    /// - Complexity: O(epochs · (N·(f+1)² + (U + I)·(f+1)³)).
    public init(training data: RatingMatrix, settings: Settings) {
        self.settings = settings
        let f = settings.factors, d = f + 1, mu = data.globalMean
        globalMean = mu
        itemIndex = data.itemIndex
        var rng = SeededRandom(seed: settings.seed)
        var q = (0..<(data.itemCount * f)).map { _ in 0.1 * Double(rng.nextNormal()) }
        var bi = [Double](repeating: 0, count: data.itemCount)
        var p = [Double](repeating: 0, count: data.userCount * f)
        var bu = [Double](repeating: 0, count: data.userCount)
        let (byUser, byItem) = data.grouped()
        var system = RidgeSystem(dimension: d)
        var x = [Double](repeating: 0, count: d)
        var rmse: [Double] = []
        let entries = data.entries
        for _ in 0..<settings.epochs {
            // Users given items, then items given users: the same solve with the roles swapped.
            Self.sweep(groups: byUser, entries: entries, otherIsItem: true, mu: mu, otherFactors: q, otherBiases: bi,
                       factors: &p, biases: &bu, f: f, l2: settings.l2, system: &system, x: &x)
            Self.sweep(groups: byItem, entries: entries, otherIsItem: false, mu: mu, otherFactors: p, otherBiases: bu,
                       factors: &q, biases: &bi, f: f, l2: settings.l2, system: &system, x: &x)
            var sse = 0.0
            for e in entries {
                let u = Int(e.user), i = Int(e.item)
                var dot = 0.0
                for k in 0..<f { dot += p[u * f + k] * q[i * f + k] }
                let r = e.rating - (mu + bu[u] + bi[i] + dot)
                sse += r * r
            }
            rmse.append(entries.isEmpty ? 0 : (sse / Double(entries.count)).squareRoot())
        }
        itemFactors = q
        itemBiases = bi
        trainingRMSE = rmse
    }

    /// One half-step of ALS: for every group (a user's or an item's observations) solve its
    /// `[factors; bias]` given the other side.
    private static func sweep(
        groups: [[Int]], entries: [RatingMatrix.Entry], otherIsItem: Bool, mu: Double,
        otherFactors: [Double], otherBiases: [Double], factors: inout [Double], biases: inout [Double],
        f: Int, l2: Double, system: inout RidgeSystem, x: inout [Double]
    ) {
        otherFactors.withUnsafeBufferPointer { of in
            for (g, members) in groups.enumerated() {
                system.reset()
                for n in members {
                    let e = entries[n], o = Int(otherIsItem ? e.item : e.user)
                    system.add(UnsafeBufferPointer(rebasing: of[(o * f)..<((o + 1) * f)]), constant: true,
                               target: e.rating - mu - otherBiases[o])
                }
                system.solve(l2: l2, into: &x)
                for k in 0..<f { factors[g * f + k] = x[k] }
                biases[g] = x[f]
            }
        }
    }

    /// The ridge fold-in of a user from their support ratings (items unseen in training skipped;
    /// no known item gives `p = 0`, `b = 0`).
    /// - Complexity: O(S·(f+1)² + (f+1)³).
    public func foldIn(support: [(item: String, rating: Double)]) -> UserVector {
        let f = settings.factors
        var system = RidgeSystem(dimension: f + 1)
        itemFactors.withUnsafeBufferPointer { q in
            for (item, rating) in support {
                guard let i = itemIndex[item] else { continue }
                system.add(UnsafeBufferPointer(rebasing: q[(i * f)..<((i + 1) * f)]), constant: true,
                           target: rating - globalMean - itemBiases[i])
            }
        }
        var x = [Double](repeating: 0, count: f + 1)
        system.solve(l2: settings.l2, into: &x)
        return UserVector(factors: Array(x[0..<f]), bias: x[f])
    }

    /// `μ + b + b_i + pᵀq_i` (`μ + b` for an item unseen in training).
    public func score(_ user: UserVector, item: String) -> Double {
        guard let i = itemIndex[item] else { return globalMean + user.bias }
        let f = settings.factors
        var dot = 0.0
        for k in 0..<f { dot += user.factors[k] * itemFactors[i * f + k] }
        return globalMean + user.bias + itemBiases[i] + dot
    }

    /// Folds the user in on `heldOut.support` and scores `heldOut.query`.
    public func scores(_ heldOut: HeldOutRatings) -> [Double] {
        let user = foldIn(support: heldOut.support)
        return heldOut.query.map { score(user, item: $0) }
    }
}
