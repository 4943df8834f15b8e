import ModelMath
import TensorCore

/// What the item tower's forward keeps for backward, and backward's scratch.
public struct ItemTowerWorkspace: Sendable {
    /// `[embedding | features]` rows, `(B, e + G)`.
    var input = Tensor(shape: [0, 0])
    var mlp = MLPActivations()
    /// `v`, `(B, d)`: the normalised MLP output.
    public internal(set) var output = Tensor(shape: [0, 0])
    var norms: [Float] = []
    var dRaw = Tensor(shape: [0, 0])
    var dInput = Tensor(shape: [0, 0])

    public init() {}
}

/// The item tower: `v_i = normalize(MLP_i([item embedding_i | features_i]))`; ids `(B)` in,
/// `(B, d)` out. `features` `(N, G)` are fixed content columns (genres), not trained.
public enum ItemTower {
    /// Computes `v` of `ids` into `ws.output`.
    public static func forward(_ p: RetrievalParameters, features: Tensor, ids: [Int32], workspace ws: inout ItemTowerWorkspace) {
        ItemInput.forward(table: p.itemEmbedding, features: features, ids: ids, output: &ws.input)
        MLP.forward(p.itemTower, input: ws.input, activation: .relu, activatesLast: false, cache: &ws.mlp)
        RowNormalize.forward(ws.mlp.result, output: &ws.output, norms: &ws.norms)
    }

    /// Accumulates the gradients of `L` from `dItem = ∂L/∂v` `(B, d)` into `gradients`.
    public static func backward(
        _ p: RetrievalParameters, ids: [Int32], dItem: Tensor, workspace ws: inout ItemTowerWorkspace,
        gradients: inout RetrievalParameters
    ) {
        ws.dRaw.resize(rows: dItem.shape[0], columns: dItem.shape[1], zeroed: true)
        RowNormalize.backward(output: ws.output, norms: ws.norms, dOutput: dItem, dInput: &ws.dRaw)
        var dInput: Tensor? = ws.dInput
        ws.dInput = Tensor(shape: [0, 0])
        dInput!.resize(rows: ws.input.shape[0], columns: ws.input.shape[1], zeroed: true)
        MLP.backward(p.itemTower, input: ws.input, activation: .relu, activatesLast: false, cache: &ws.mlp,
                     dOutput: ws.dRaw, gradients: &gradients.itemTower, dInput: &dInput)
        ws.dInput = dInput!
        ItemInput.backward(ids: ids, dOutput: ws.dInput, dTable: &gradients.itemEmbedding)
    }

    /// `v_i` of every catalogue row, `(N, d)`, computed `chunk` rows at a time: the item index
    /// the model is served with (recomputed whenever the parameters change).
    public static func catalogue(_ p: RetrievalParameters, features: Tensor, chunk: Int = 4096) -> Tensor {
        let n = p.itemEmbedding.shape[0], d = p.itemTower.outputWidth
        var out = Tensor(shape: [n, d])
        var ws = ItemTowerWorkspace()
        var start = 0
        while start < n {
            let ids = (start..<min(n, start + chunk)).map { Int32($0) }
            forward(p, features: features, ids: ids, workspace: &ws)
            Borrow.update(&out) { o in Borrow.read(ws.output) { v in (o + start * d).update(from: v, count: ids.count * d) } }
            start += chunk
        }
        return out
    }
}
