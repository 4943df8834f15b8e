/// The support-set encoder (issue 19): a user's support items pooled into extra input blocks of
/// the bottom, so the *shared* network sees who the user is from what they rated.
///
/// For a row of user `u`, the support set `S` is `u`'s strictly earlier rows in event order (at
/// most `S_max` = ``capacity``, the newest kept): in training the earlier rows of the log, at
/// serving the rows in the support store. With `e(i)` the embedding row of support row `i`'s
/// ``sourceColumn`` key (the same row the categorical feature reads, so the pool's gradient
/// reaches the item embeddings, as in SVD++, Koren 2008) and `y_i` its label ``labelColumn``:
///
/// ```
/// mean:            pool = Σ_{i∈S} (1/n) · e(i)                       n = |S|
/// label_weighted:  pool = Σ_{i∈S} w_i · e(i),  w_i = (y_i − ȳ) / m   ȳ, m: mean and count of the
///                                                                    labelled y_i; w_i = 0 unlabelled
/// empty S → zeros
/// x = [ e(cat) | pool(multi) | pool_1 | … | pool_P | numeric ]        P = pools.count blocks of d
/// ```
/// With ``ownEmbeddings`` the pools read their own rows instead, `y(i)` under the key
/// `fmix64(key_i ^ salt)` (SVD++'s separate implicit-feedback factors `y_j`): the item's
/// representation as a candidate and as evidence of a user's taste are then learnt apart.
///
/// The label-weighted pool is offset-free (a user who rates everything 5 and one who rates
/// everything 3 but with the same preferences get the same vector): it is a taste direction.
///
/// Each pool is a weighted multi-categorical column appended after the config's own
/// (``EncodedBatch/multiCategorical``), pooled by `EmbeddingBag` with `.weighted`; the weights
/// are constants (labels), the embeddings are differentiated.
public struct SupportEncoder: Sendable, Equatable {
    /// One pooled block.
    public enum Pool: String, Sendable, Equatable, Codable, CaseIterable {
        /// `w_i = 1/n`.
        case mean
        /// `w_i = (y_i − ȳ) / m`, rating-centred.
        case labelWeighted = "label_weighted"
    }

    /// The pooled blocks, in input order (`P ≥ 1`).
    public var pools: [Pool]
    /// Index of the source feature among the categorical features (`0 ..< Fc`).
    public var sourceColumn: Int
    /// Index of the weighting label (`0 ..< K`); required by `.labelWeighted`.
    public var labelColumn: Int?
    /// `S_max`: at most this many newest support rows are pooled.
    public var capacity: Int
    /// Whether the pools read their own embedding rows (keys re-hashed with ``ownKeySalt``)
    /// rather than the source feature's.
    public var ownEmbeddings = false

    /// The salt of the pools' own keys.
    public static let ownKeySalt: UInt64 = 0x5350_4F4F_4C5F_5949  // "SPOOL_YI"

    /// The embedding key a pool reads for support key `key`.
    @inline(__always)
    public func poolKey(_ key: UInt64) -> UInt64 {
        guard ownEmbeddings else { return key }
        var h = key ^ Self.ownKeySalt
        h ^= h >> 33; h &*= 0xff51_afd7_ed55_8ccd; h ^= h >> 33; h &*= 0xc4ce_b9fe_1a85_ec53; h ^= h >> 33
        return h
    }

    public init(pools: [Pool], sourceColumn: Int, labelColumn: Int?, capacity: Int, ownEmbeddings: Bool = false) {
        precondition(!pools.isEmpty && sourceColumn >= 0 && capacity > 0, "SupportEncoder: pools \(pools), source \(sourceColumn), S_max \(capacity)")
        precondition(labelColumn != nil || !pools.contains(.labelWeighted), "SupportEncoder: label_weighted needs a label column")
        self.pools = pools
        self.sourceColumn = sourceColumn
        self.labelColumn = labelColumn
        self.capacity = capacity
        self.ownEmbeddings = ownEmbeddings
    }

    /// Appends one row's bags, one to each of `columns` (``pools`` order), for the support rows
    /// with `keys` and `labels` (the weighting label of each; NaN = missing), oldest first; only
    /// the newest ``capacity`` are pooled.
    public func appendBags(keys: ArraySlice<UInt64>, labels: ArraySlice<Float>, to columns: inout [MultiCategoricalColumn],
                           weights scratch: inout [Float]) {
        precondition(keys.count == labels.count && columns.count == pools.count,
                     "SupportEncoder.appendBags: \(keys.count) keys, \(labels.count) labels, \(columns.count) columns for \(pools.count) pools")
        let keys = keys.suffix(capacity), labels = labels.suffix(capacity), n = keys.count
        for (p, pool) in pools.enumerated() {
            scratch.removeAll(keepingCapacity: true)
            switch pool {
            case .mean:
                scratch.append(contentsOf: repeatElement(n > 0 ? 1 / Float(n) : 0, count: n))
            case .labelWeighted:
                var sum: Float = 0, m = 0
                for y in labels where !y.isNaN { sum += y; m += 1 }
                let mean = m > 0 ? sum / Float(m) : 0
                for y in labels { scratch.append(y.isNaN ? 0 : (y - mean) / Float(m)) }
            }
            if ownEmbeddings {
                columns[p].append(keys.lazy.map(poolKey), weights: scratch)
            } else {
                columns[p].append(keys, weights: scratch)
            }
        }
    }

    /// The empty columns this encoder appends to a batch.
    public func makeColumns() -> [MultiCategoricalColumn] {
        Array(repeating: MultiCategoricalColumn(), count: pools.count)
    }
}
