#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TensorCore

/// Users browsing a catalogue (``CatalogueSyntheticConfig``): what they are shown, click and
/// like, with the ground truth known, so that both recall (next clicked items from the history)
/// and per-user ranking (this user's taste among the shown items) have a signal to find.
///
/// Drawn once from the seed (`r` = ``CatalogueSyntheticConfig/latentWidth``):
/// ```
/// c_g ~ N(0, I_r)                          genre centroids, g = 0 … G−1
/// genre(i) ~ U{0 … G−1},  q_i = c_genre(i) + 0.5·N(0, I_r),  b_i = 1.0·N(0, 1)   items i = 0 … N−1
/// ```
/// Per user `u` (its own stream): two distinct favourite genres `g₁, g₂`, taste
/// `p_u = (c_g₁ + c_g₂)/2 + 0.3·N(0, I_r)`, a log-normal session of `T_u` steps (mean
/// `meanSteps`), interest `s₀ = p_u`. At step `t`, with `a_i = ⟨q_i, s_t⟩/√r`:
/// ```
/// shown  = one item ~ softmax_i(β·a_i + b_i)  (organic, β = 3), and impressionsPerStep − 1 items ~ exp(b_i)  (popular)
/// click  ~ Bernoulli σ(1.5·a_i + 0.5·b_i − 3)            like | click ~ Bernoulli σ(2·⟨q_i, p_u⟩/√r − 2.5)
/// after a click on j:  s ← (1 − ρ)·s + ρ·(p_u + q_j)/2   (ρ = 0.4: recent clicks steer the next ones)
/// ```
/// Clicks follow the current interest (recall's signal: the history predicts the next items);
/// likes follow the user's own taste (ranking's: which shown items this user likes).
public struct CatalogueSyntheticGenerator: Sendable {
    /// One shown item of a session.
    public struct Impression: Sendable, Equatable {
        /// Step of the session (impressions of one step share it).
        public var step: Int
        /// Catalogue index `0 ..< N`.
        public var item: Int
        public var click: Bool
        /// Only a clicked item can be liked.
        public var like: Bool
    }

    public let config: CatalogueSyntheticConfig
    /// `c_g`, `(G, r)` row-major.
    public let genreCentroids: [Double]
    /// Each item's genre, `(N)`.
    public let itemGenre: [Int]
    /// `q_i`, `(N, r)` row-major.
    public let itemVectors: [Double]
    /// `b_i`, `(N)`.
    public let popularity: [Double]
    /// Cumulative `exp(b_i)`, for drawing popular items.
    private let popularityCDF: [Double]

    public init(_ config: CatalogueSyntheticConfig) {
        self.config = config
        let r = CatalogueSyntheticConfig.latentWidth
        var rng = SeededRandom(seed: SyntheticGenerator.streamSeed(config.seed, .shared))
        genreCentroids = (0..<(config.genres * r)).map { _ in rng.normal() }
        var genre: [Int] = [], vectors: [Double] = [], bias: [Double] = []
        for _ in 0..<config.items {
            let g = Int(rng.next() % UInt64(config.genres))
            genre.append(g)
            for j in 0..<r { vectors.append(genreCentroids[g * r + j] + CatalogueSyntheticConfig.itemSpread * rng.normal()) }
            bias.append(CatalogueSyntheticConfig.popularitySpread * rng.normal())
        }
        (itemGenre, itemVectors, popularity) = (genre, vectors, bias)
        var total = 0.0
        popularityCDF = bias.map { total += exp($0); return total }
    }

    /// User `u`'s two favourite genres and taste `p_u` (`r`), deterministic in (seed, u).
    public func taste(user u: Int) -> (favourites: [Int], vector: [Double]) {
        var rng = userStream(u)
        return taste(using: &rng)
    }

    /// User `u`'s whole session, in step order (deterministic in (seed, u)).
    public func session(user u: Int) -> [Impression] {
        let r = CatalogueSyntheticConfig.latentWidth, scale = 1 / Double(r).squareRoot()
        var rng = userStream(u)
        let (_, p) = taste(using: &rng)
        let steps = max(4, min(10 * config.meanSteps, Int(Double(config.meanSteps) * exp(0.8 * rng.normal() - 0.32))))
        var s = p
        var logits = [Double](repeating: 0, count: config.items)
        var out: [Impression] = []
        out.reserveCapacity(steps * config.impressionsPerStep)
        for step in 0..<steps {
            for i in 0..<config.items {
                logits[i] = CatalogueSyntheticConfig.choiceSharpness * scale * dot(i, s) + popularity[i]
            }
            var shown = [draw(softmaxOf: logits, using: &rng)]
            var attempts = 0
            while shown.count < config.impressionsPerStep && attempts < 100 * config.impressionsPerStep {
                attempts += 1
                let i = drawPopular(using: &rng)
                if !shown.contains(i) { shown.append(i) }
            }
            for i in shown {
                let a = scale * dot(i, s)
                let click = rng.nextDouble() < sigmoid(1.5 * a + 0.5 * popularity[i] - 3)
                let like = click && rng.nextDouble() < sigmoid(2 * scale * dot(i, p) - 2.5)
                out.append(Impression(step: step, item: i, click: click, like: like))
            }
            for impression in out.suffix(shown.count) where impression.click {
                let base = impression.item * r, rho = CatalogueSyntheticConfig.drift
                for j in 0..<r { s[j] = (1 - rho) * s[j] + rho * 0.5 * (p[j] + itemVectors[base + j]) }
            }
        }
        return out
    }

    private func userStream(_ u: Int) -> SeededRandom {
        SeededRandom(seed: SyntheticGenerator.streamSeed(config.seed, .user) ^ HashSplit.mix(UInt64(u)))
    }

    private func taste(using rng: inout SeededRandom) -> (favourites: [Int], vector: [Double]) {
        let r = CatalogueSyntheticConfig.latentWidth
        let g1 = Int(rng.next() % UInt64(config.genres))
        var g2 = Int(rng.next() % UInt64(config.genres - 1))
        if g2 >= g1 { g2 += 1 }
        let vector = (0..<r).map { j in 0.5 * (genreCentroids[g1 * r + j] + genreCentroids[g2 * r + j]) + 0.3 * rng.normal() }
        return ([g1, g2], vector)
    }

    /// `⟨q_i, v⟩`.
    private func dot(_ i: Int, _ v: [Double]) -> Double {
        let r = CatalogueSyntheticConfig.latentWidth, base = i * r
        var sum = 0.0
        for j in 0..<r { sum += itemVectors[base + j] * v[j] }
        return sum
    }

    /// An index drawn with probability `softmax(logits)`.
    private func draw(softmaxOf logits: [Double], using rng: inout SeededRandom) -> Int {
        let top = logits.max()!
        var total = 0.0
        for x in logits { total += exp(x - top) }
        var target = rng.nextDouble() * total
        for (i, x) in logits.enumerated() {
            target -= exp(x - top)
            if target <= 0 { return i }
        }
        return logits.count - 1
    }

    /// An item drawn with probability `∝ exp(b_i)`.
    private func drawPopular(using rng: inout SeededRandom) -> Int {
        let target = rng.nextDouble() * popularityCDF[popularityCDF.count - 1]
        var (lower, upper) = (0, popularityCDF.count - 1)
        while lower < upper {  // first i with CDF[i] > target
            let mid = (lower + upper) / 2
            if popularityCDF[mid] > target { upper = mid } else { lower = mid + 1 }
        }
        return lower
    }

    private func sigmoid(_ x: Double) -> Double { 1 / (1 + exp(-x)) }
}
