import ModelMath
import TensorCore

/// One user's scorer, as a device would run it: the candidates' meta-layer inputs
/// `f = [f_1 | … | f_K]` `(C, K·H)` → scores `(C, K)`, with that user's towers (adapted on the
/// user's support by ``Predictor/personalScorer(user:)``, or the base towers on a fallback):
///
/// ```
/// score[:, k] = σ(Tower_k(f[:, kH ..< (k+1)H]; θ'_k))     binary task
///             =   Tower_k(f[:, kH ..< (k+1)H]; θ'_k)      regression task
/// ```
/// The bottom that makes `f` (embeddings, experts, gates) is shared by every user and stays out.
public struct PersonalScorer: Sendable {
    /// Per task `k`: the tower's layers, weights `(in, out)`.
    public var towers: [MLPParameters]
    public var kinds: [TaskKind]
    public var taskNames: [String]
    public var activation: Activation
    /// `H`: the width of one task's meta-layer input.
    public var metaWidth: Int
    /// Per task: whether the tower is the user's adapted one (false: the base tower).
    public var adapted: [Bool]
    public var supportRows: Int
    /// Why the base towers are used, if they are (serving's reasons).
    public var fallback: ScoreResult.Fallback?

    /// Scores `(C, K)` row-major of `f` `(C, K·H)` row-major — the same tower code as serving.
    public func scores(metaInputs f: [Float], count c: Int) -> [Float] {
        let k = towers.count, h = metaWidth
        precondition(f.count == c * k * h, "PersonalScorer: \(f.count) inputs for C \(c), K \(k), H \(h)")
        var out = [Float](repeating: 0, count: c * k)
        var ws = TowerWorkspace()
        f.withUnsafeBufferPointer { x in
            out.withUnsafeMutableBufferPointer { o in
                for t in 0..<k {
                    let tower = Tower(parameters: towers[t], kind: kinds[t], activation: activation)
                    _ = tower.predict(rows: c, features: x.baseAddress! + t * h, featureStride: k * h,
                                      into: o.baseAddress! + t, outputStride: k, workspace: &ws)
                }
            }
        }
        return out
    }

    /// The scorer as a serialised ONNX model (opset 17): input `f` float `(C, K·H)`, output
    /// `scores` float `(C, K)`; per task a `Slice` of its `H` columns, then per layer
    /// `MatMul` + `Add` (+ `Relu`/`Tanh` between layers), `Sigmoid` for a binary task, and a
    /// final `Concat` along axis 1. The weights are initialisers (float32, little-endian).
    public func onnxModel() -> [UInt8] {
        var g = ONNXGraph()
        let k = towers.count, h = metaWidth
        g.input("f", shape: [.symbol("C"), .value(k * h)])
        g.constant("axis1", int64: [1])
        var columns: [String] = []
        for t in 0..<k {
            var x = g.node("Slice", ["f", g.constant("start\(t)", int64: [Int64(t * h)]), g.constant("end\(t)", int64: [Int64((t + 1) * h)]),
                                     "axis1"], output: "f\(t)")
            let layers = towers[t].layers
            for (l, layer) in layers.enumerated() {
                let w = g.constant("tower\(t).\(l).weight", shape: layer.weight.shape, floats: layer.weight.scalars)
                let b = g.constant("tower\(t).\(l).bias", shape: layer.bias.shape, floats: layer.bias.scalars)
                x = g.node("Add", [g.node("MatMul", [x, w], output: "tower\(t).\(l).xw"), b], output: "tower\(t).\(l).z")
                if l < layers.count - 1 {
                    x = g.node(activation == .relu ? "Relu" : "Tanh", [x], output: "tower\(t).\(l).a")
                }
            }
            columns.append(kinds[t] == .binary ? g.node("Sigmoid", [x], output: "score\(t)") : x)
        }
        g.node("Concat", columns, output: "scores", attributes: [("axis", 1)])
        g.output("scores", shape: [.symbol("C"), .value(k)])
        return g.model(name: "metarec_personal_scorer")
    }
}
