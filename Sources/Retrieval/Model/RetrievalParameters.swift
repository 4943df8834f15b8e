import ModelMath
import TensorCore

/// Every trained tensor of the two-tower model; gradients and Adam's moments share the type.
public struct RetrievalParameters: Sendable {
    /// Item-id embeddings of the item tower, `(N, e)`.
    public var itemEmbedding: Tensor
    /// Item embeddings the history encoder reads, `(N, e)` (separate from the item tower's).
    public var historyEmbedding: Tensor
    /// Which history encoder the parameters below belong to.
    public let encoder: HistoryEncoderKind
    /// The GRU encoder's weights (`nil` unless the encoder is a GRU).
    public var gru: GRUParameters?
    /// The LSTM encoder's weights (`nil` unless the encoder is an LSTM).
    public var lstm: LSTMParameters?
    /// The CNN encoder's filters (`nil` unless the encoder is a CNN).
    public var cnn: ConvParameters?
    /// `(e + G) → hidden → d`.
    public var itemTower: MLPParameters
    /// `(encoded width) → hidden → d`.
    public var userTower: MLPParameters

    /// Initial parameters for `config` (embeddings `N(0, 0.1²)`, He/Xavier MLPs, PyTorch's GRU
    /// and LSTM, He-uniform filters).
    public init(config c: RetrievalConfig) {
        var rng = SeededRandom(seed: c.seed)
        encoder = c.encoder
        itemEmbedding = Tensor.normal(shape: [c.items, c.embeddingWidth], std: 0.1, using: &rng)
        historyEmbedding = Tensor.normal(shape: [c.items, c.embeddingWidth], std: 0.1, using: &rng)
        switch c.encoder {
        case .bagOfWords: break
        case .gru(let hidden): gru = GRUParameters(inputs: c.embeddingWidth, hidden: hidden, using: &rng)
        case .lstm(let hidden): lstm = LSTMParameters(inputs: c.embeddingWidth, hidden: hidden, using: &rng)
        case .cnn(let filters, let width): cnn = ConvParameters(inputs: c.embeddingWidth, width: width, filters: filters, using: &rng)
        }
        itemTower = MLPParameters(widths: [c.embeddingWidth + c.itemFeatures, c.hiddenWidth, c.dimension],
                                  activatesLast: false, using: &rng)
        userTower = MLPParameters(widths: [c.encodedWidth, c.hiddenWidth, c.dimension], activatesLast: false, using: &rng)
    }

    /// Zeros of the same shapes.
    public func zeros() -> RetrievalParameters {
        var z = self
        for (_, path) in Self.paths(encoder: encoder) { z[keyPath: path] = Tensor(shape: self[keyPath: path].shape) }
        return z
    }

    /// Every tensor with its checkpoint name, in a fixed order.
    public static func paths(encoder: HistoryEncoderKind) -> [(name: String, path: WritableKeyPath<RetrievalParameters, Tensor>)] {
        var out: [(String, WritableKeyPath<RetrievalParameters, Tensor>)] = [
            ("item_embedding", \.itemEmbedding), ("history_embedding", \.historyEmbedding),
        ]
        switch encoder {
        case .bagOfWords: break
        case .gru:
            out += [("gru.input_weight", \.gru!.inputWeight), ("gru.hidden_weight", \.gru!.hiddenWeight),
                    ("gru.input_bias", \.gru!.inputBias), ("gru.hidden_bias", \.gru!.hiddenBias)]
        case .lstm:
            out += [("lstm.input_weight", \.lstm!.inputWeight), ("lstm.hidden_weight", \.lstm!.hiddenWeight),
                    ("lstm.bias", \.lstm!.bias)]
        case .cnn:
            out += [("cnn.weight", \.cnn!.weight), ("cnn.bias", \.cnn!.bias)]
        }
        let towers: [(String, WritableKeyPath<RetrievalParameters, MLPParameters>)] = [("item_tower", \.itemTower), ("user_tower", \.userTower)]
        for (tower, path) in towers {
            for l in 0..<2 {
                out.append(("\(tower).layers.\(l).weight", path.appending(path: \.layers[l].weight)))
                out.append(("\(tower).layers.\(l).bias", path.appending(path: \.layers[l].bias)))
            }
        }
        return out
    }

    /// The named tensors (for a checkpoint).
    public var namedTensors: [(name: String, tensor: Tensor)] {
        Self.paths(encoder: encoder).map { ($0.name, self[keyPath: $0.path]) }
    }

    /// Loads every tensor of `config`'s structure from `tensors`, checking names and shapes.
    public init(config: RetrievalConfig, tensors: [String: Tensor]) throws(RetrievalError) {
        self.init(config: config)
        for (name, path) in Self.paths(encoder: encoder) {
            guard let t = tensors[name] else { throw .mismatch("missing tensor \(name)") }
            guard t.shape == self[keyPath: path].shape else {
                throw .mismatch("\(name) has shape \(t.shape), the configuration needs \(self[keyPath: path].shape)")
            }
            self[keyPath: path] = t
        }
    }
}
