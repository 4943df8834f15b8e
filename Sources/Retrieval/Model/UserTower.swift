import ModelMath
import TensorCore

/// What the user tower's forward keeps for backward, and backward's scratch.
public struct UserTowerWorkspace: Sendable {
    /// The looked-up sequence, `(L·B, e)` (sequence encoders only).
    var sequence = Tensor(shape: [0, 0])
    /// `Enc(history)`, `(B, encoded width)`.
    var encoded = Tensor(shape: [0, 0])
    var gru = GRUWorkspace()
    var lstm = LSTMWorkspace()
    var cnn = ConvWorkspace()
    var mlp = MLPActivations()
    /// `u`, `(B, d)`: the normalised MLP output.
    public internal(set) var output = Tensor(shape: [0, 0])
    var norms: [Float] = []
    /// `∂L/∂(MLP output)`, `(B, d)`.
    var dRaw = Tensor(shape: [0, 0])
    /// `∂L/∂Enc`, `(B, encoded width)`.
    var dEncoded = Tensor(shape: [0, 0])
    /// `∂L/∂sequence`, `(L·B, e)` (sequence encoders only).
    var dSequence = Tensor(shape: [0, 0])

    public init() {}
}

/// The user tower: `u = normalize(MLP_u(Enc(history)))`, `Enc` a ``MaskedMean``, a ``GRU``, an
/// ``LSTM`` or a ``ConvMaxPool`` over the history's embedding rows; `(B, L)` histories in, `(B, d)` out.
public enum UserTower {
    /// Computes `u` into `ws.output`.
    public static func forward(_ p: RetrievalParameters, history: HistoryBatch, workspace ws: inout UserTowerWorkspace) {
        if p.encoder.readsSequence {
            SequenceGather.forward(table: p.historyEmbedding, history: history, output: &ws.sequence)
        }
        switch p.encoder {
        case .bagOfWords: MaskedMean.forward(table: p.historyEmbedding, history: history, output: &ws.encoded)
        case .gru: GRU.forward(p.gru!, sequence: ws.sequence, history: history, workspace: &ws.gru, output: &ws.encoded)
        case .lstm: LSTM.forward(p.lstm!, sequence: ws.sequence, history: history, workspace: &ws.lstm, output: &ws.encoded)
        case .cnn: ConvMaxPool.forward(p.cnn!, sequence: ws.sequence, history: history, workspace: &ws.cnn, output: &ws.encoded)
        }
        MLP.forward(p.userTower, input: ws.encoded, activation: .relu, activatesLast: false, cache: &ws.mlp)
        RowNormalize.forward(ws.mlp.result, output: &ws.output, norms: &ws.norms)
    }

    /// Accumulates the gradients of `L` from `dUser = ∂L/∂u` `(B, d)` into `gradients`.
    public static func backward(
        _ p: RetrievalParameters, history: HistoryBatch, dUser: Tensor, workspace ws: inout UserTowerWorkspace,
        gradients: inout RetrievalParameters
    ) {
        ws.dRaw.resize(rows: dUser.shape[0], columns: dUser.shape[1], zeroed: true)
        RowNormalize.backward(output: ws.output, norms: ws.norms, dOutput: dUser, dInput: &ws.dRaw)
        var dEncoded: Tensor? = ws.dEncoded
        ws.dEncoded = Tensor(shape: [0, 0])  // hand the storage over without a copy-on-write
        dEncoded!.resize(rows: ws.encoded.shape[0], columns: ws.encoded.shape[1], zeroed: true)
        MLP.backward(p.userTower, input: ws.encoded, activation: .relu, activatesLast: false, cache: &ws.mlp,
                     dOutput: ws.dRaw, gradients: &gradients.userTower, dInput: &dEncoded)
        ws.dEncoded = dEncoded!
        guard p.encoder.readsSequence else {
            MaskedMean.backward(history: history, dOutput: ws.dEncoded, dTable: &gradients.historyEmbedding)
            return
        }
        var dSequence: Tensor? = ws.dSequence
        ws.dSequence = Tensor(shape: [0, 0])  // hand the storage over without a copy-on-write
        dSequence!.resize(rows: ws.sequence.shape[0], columns: ws.sequence.shape[1], zeroed: true)
        switch p.encoder {
        case .bagOfWords: break
        case .gru:
            GRU.backward(p.gru!, sequence: ws.sequence, history: history, workspace: &ws.gru, dOutput: ws.dEncoded,
                         gradients: &gradients.gru!, dSequence: &dSequence)
        case .lstm:
            LSTM.backward(p.lstm!, sequence: ws.sequence, history: history, workspace: &ws.lstm, dOutput: ws.dEncoded,
                          gradients: &gradients.lstm!, dSequence: &dSequence)
        case .cnn:
            ConvMaxPool.backward(p.cnn!, history: history, workspace: &ws.cnn, dOutput: ws.dEncoded,
                                 gradients: &gradients.cnn!, dSequence: &dSequence!)
        }
        ws.dSequence = dSequence!
        SequenceGather.backward(history: history, dOutput: ws.dSequence, dTable: &gradients.historyEmbedding)
    }
}

extension UserTower {
    /// `u` of every history, `(U, d)`, computed `chunk` at a time (evaluation, serving).
    public static func embed(_ p: RetrievalParameters, histories: [ArraySlice<Int32>], maxLength: Int, chunk: Int = 256) -> Tensor {
        let d = p.userTower.outputWidth
        var out = Tensor(shape: [histories.count, d])
        var ws = UserTowerWorkspace()
        var batch = HistoryBatch(maxLength: maxLength)
        var start = 0
        while start < histories.count {
            let end = min(histories.count, start + chunk)
            batch.removeAll()
            for h in histories[start..<end] { batch.append(h) }
            forward(p, history: batch, workspace: &ws)
            Borrow.update(&out) { o in Borrow.read(ws.output) { u in (o + start * d).update(from: u, count: (end - start) * d) } }
            start = end
        }
        return out
    }
}
