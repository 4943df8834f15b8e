#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import TensorCore

/// The shared bottom for inference (serving), with every expert's first layer and every gate
/// packed side by side into one weight matrix, so a batch's input is multiplied once:
///
/// ```
/// [Z_1 … Z_E | L_1 … L_K] = x·[W_1 … W_E | G_1 … G_K] + [b_1 … b_E | c_1 … c_K]   x: (B, D), P columns
/// h_e = act(Z_e), then expert e's remaining layers                                  (B, H)
/// g_k = softmax(L_k)                                                                 (B, E)
/// f_k = Σ_e g_k[:, e] ⊙ h_e                                                          (B, H)
/// ```
/// (Shared-Bottom: one expert, no gates, `f_k = h_1`.) The same function as
/// ``MultiTaskNetwork/forwardBottom(_:spec:layout:batch:table:createEmbeddings:workspace:)`` up
/// to float rounding (tested), without the caches backward needs: one GEMM instead of `E + K`,
/// and the activation fused into the mixture. Build it once per set of parameters.
public struct PackedBottom: Sendable {
    public let spec: NetworkSpec
    /// `(D, P)` row-major.
    let weight: [Float]
    /// `(P)`.
    let bias: [Float]
    /// `P = E·W_1 + (gates ? K·E : 0)`.
    let columns: Int
    /// `W_1`: width of an expert's first layer.
    let firstWidth: Int
    /// Per expert: its layers after the first (none for one-layer experts).
    let deeper: [MLPParameters]

    /// Packs `parameters` (shaped by `spec`).
    public init(_ parameters: ModelParameters, spec: NetworkSpec) {
        let d = spec.inputWidth, e = spec.expertCount, k = spec.hasGates ? spec.taskCount : 0
        precondition(parameters.experts.count == e && parameters.gates.count == k,
                     "PackedBottom: \(parameters.experts.count) experts and \(parameters.gates.count) gates for spec E = \(e), K = \(k)")
        let w1 = spec.bottomWidths[0]
        let p = e * w1 + k * e
        var weight = [Float](repeating: 0, count: d * p), bias = [Float](repeating: 0, count: p)
        func place(_ layer: DenseLayer, atColumn c0: Int) {
            let n = layer.outputs
            precondition(layer.inputs == d, "PackedBottom: a first layer takes \(layer.inputs) inputs, D = \(d)")
            for i in 0..<d {
                for j in 0..<n { weight[i * p + c0 + j] = layer.weight.scalars[i * n + j] }
            }
            for j in 0..<n { bias[c0 + j] = layer.bias.scalars[j] }
        }
        for x in 0..<e { place(parameters.experts[x].layers[0], atColumn: x * w1) }
        for t in 0..<k { place(parameters.gates[t], atColumn: e * w1 + t * e) }
        self.spec = spec
        self.weight = weight
        self.bias = bias
        columns = p
        firstWidth = w1
        deeper = parameters.experts.map { MLPParameters(layers: Array($0.layers.dropFirst())) }
    }

    /// Runs the bottom over `batch`: fills `ws.meta[k]`, `(B, H)`, for every task.
    public func forward(
        batch: EncodedBatch, layout: InputLayout, table: any EmbeddingTable, workspace ws: inout NetworkWorkspace
    ) {
        precondition(layout.width == spec.inputWidth, "PackedBottom: layout width \(layout.width) != spec D \(spec.inputWidth)")
        let b = batch.count, d = spec.inputWidth, e = spec.expertCount, h = spec.metaWidth, kk = spec.taskCount
        ws.prepareForInference(rows: b, spec: spec)
        InputLayer.forward(batch: batch, layout: layout, table: table, create: false, workspace: &ws.input, output: &ws.x)
        guard b > 0 else { return }
        let p = columns
        ws.packed.resize(rows: b, columns: p)
        // Z = x·W + bias: bias-seeded rows, then one GEMM accumulating on top (beta = 1).
        ws.packed.withUnsafeMutableBufferPointer { z in
            bias.withUnsafeBufferPointer { c in
                for r in 0..<b { (z.baseAddress! + r * p).update(from: c.baseAddress!, count: p) }
            }
            ws.x.withUnsafeBufferPointer { x in
                weight.withUnsafeBufferPointer { w in
                    GEMM.compute(m: b, n: p, k: d, a: x.baseAddress!, lda: d, b: w.baseAddress!, ldb: p,
                                 c: z.baseAddress!, ldc: p, beta: 1)
                }
            }
        }
        // Experts with more layers: activate the first, run the rest (rare; not fused).
        let multiLayer = deeper.contains { !$0.layers.isEmpty }
        if multiLayer || spec.activation != .relu {
            activateExpertColumns(rows: b, workspace: &ws)
        }
        if multiLayer {
            ws.expertStack.resize(e, b, h)
            for x in 0..<e {
                ws.stagedExpert.resize(rows: b, columns: firstWidth)
                ColumnBlock.extract(from: ws.packed, atColumn: x * firstWidth, into: &ws.stagedExpert)
                MLP.forward(deeper[x], input: ws.stagedExpert, activation: spec.activation, activatesLast: true, cache: &ws.experts[x])
                ws.experts[x].result.withUnsafeBufferPointer { src in
                    ws.expertStack.withUnsafeMutableBufferPointer { dst in
                        (dst.baseAddress! + x * b * h).update(from: src.baseAddress!, count: b * h)
                    }
                }
            }
        }
        // ReLU is applied while mixing (max(z, 0) on load); other activations were applied above.
        let reluOnLoad = !multiLayer && spec.activation == .relu
        for t in 0..<kk {
            ws.meta[t].withUnsafeMutableBufferPointer { f in
                ws.packed.withUnsafeMutableBufferPointer { z in
                    let zp = z.baseAddress!, fp = f.baseAddress!
                    if spec.hasGates { Self.softmaxInPlace(zp + e * firstWidth + t * e, rows: b, width: e, stride: p) }
                    let gates = spec.hasGates ? UnsafePointer(zp + e * firstWidth + t * e) : nil
                    if multiLayer {
                        ws.expertStack.withUnsafeBufferPointer { stack in
                            GateMixture.forward(gates: gates, gateStride: p, experts: e, expertBase: stack.baseAddress!,
                                                expertStride: b * h, rowStride: h, relu: false, rows: b, width: h, output: fp)
                        }
                    } else {
                        GateMixture.forward(gates: gates, gateStride: p, experts: e, expertBase: zp, expertStride: h,
                                            rowStride: p, relu: reluOnLoad, rows: b, width: h, output: fp)
                    }
                }
            }
        }
    }

    /// Applies the activation to the experts' first-layer columns of `ws.packed` in place.
    private func activateExpertColumns(rows b: Int, workspace ws: inout NetworkWorkspace) {
        let p = columns, width = spec.expertCount * firstWidth, activation = spec.activation
        ws.packed.withUnsafeMutableBufferPointer { z in
            for r in 0..<b {
                for j in 0..<width {
                    let v = z[r * p + j]
                    z[r * p + j] = activation == .relu ? max(v, 0) : tanhf(v)
                }
            }
        }
    }

    /// Row-wise softmax of a `(rows, width)` block with row stride `stride`, in place (as ``TensorCore/Softmax``).
    private static func softmaxInPlace(_ z: UnsafeMutablePointer<Float>, rows: Int, width n: Int, stride: Int) {
        for r in 0..<rows {
            let row = z + r * stride
            var m = row[0]
            for j in 1..<n { m = max(m, row[j]) }
            var sum: Float = 0
            for j in 0..<n {
                let v = expf(row[j] - m)
                row[j] = v
                sum += v
            }
            let inverse = 1 / sum
            for j in 0..<n { row[j] *= inverse }
        }
    }
}
