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
///
/// With scene experts (``SceneExperts``) the gate columns of task `k` are `G_k` `(D, E)` (shared
/// gates) or `[G_k | G_{k,0} … G_{k,S−1}]` (`.perScene`: the unknown scene's `(D, shared)`, then each
/// scene's `(D, shared + perScene)`); each row takes its own scene's local logits from them, and
/// the mixture reads its own experts only (``SceneExperts/mix(gates:gateStride:rows:scenes:positions:expertBase:expertStride:rowStride:relu:width:output:outputStride:)``).
public struct PackedBottom: Sendable {
    public let spec: NetworkSpec
    /// `(D, P)` row-major.
    let weight: [Float]
    /// `(P)`.
    let bias: [Float]
    /// `P = E·W_1 + K·gateWidth` (no gates: `E·W_1`).
    let columns: Int
    /// Gate columns of one task: `E`, or with `.perScene` scene gates `shared + S·(shared + perScene)`.
    let gateWidth: Int
    /// `W_1`: width of an expert's first layer.
    let firstWidth: Int
    /// Per expert: its layers after the first (none for one-layer experts).
    let deeper: [MLPParameters]
    /// Per task: partitioned norm's inference affine, `(S + 1, H)` scale and shift
    /// (``PartitionedNormParameters/inferenceAffine(epsilon:)``); empty without partitioned norm.
    let normAffine: [(scale: Tensor, shift: Tensor)]

    /// Packs `parameters` (shaped by `spec`).
    public init(_ parameters: ModelParameters, spec: NetworkSpec) {
        let d = spec.inputWidth, e = spec.expertCount, k = spec.hasGates ? spec.taskCount : 0
        precondition(parameters.experts.count == e && parameters.gates.count == k,
                     "PackedBottom: \(parameters.experts.count) experts and \(parameters.gates.count) gates for spec E = \(e), K = \(k)")
        let w1 = spec.bottomWidths[0]
        let sceneGates = spec.sceneExperts.flatMap { $0.gates == .perScene ? $0 : nil }
        let gw = sceneGates.map { $0.shared + $0.sceneCount * $0.localWidth } ?? e
        precondition(sceneGates == nil || (parameters.sceneGates.count == k && parameters.sceneGates.allSatisfy { $0.count == sceneGates!.sceneCount }),
                     "PackedBottom: per-scene gates of \(parameters.sceneGates.map(\.count)) scenes for K = \(k)")
        let p = e * w1 + k * gw
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
        for t in 0..<k {
            precondition(parameters.gates[t].outputs == (sceneGates?.shared ?? e),
                         "PackedBottom: gate \(t) has \(parameters.gates[t].outputs) columns, the spec \(sceneGates?.shared ?? e)")
            place(parameters.gates[t], atColumn: e * w1 + t * gw)
            guard let sceneGates else { continue }
            for s in 0..<sceneGates.sceneCount {
                precondition(parameters.sceneGates[t][s].outputs == sceneGates.localWidth,
                             "PackedBottom: scene gate \(t).\(s) has \(parameters.sceneGates[t][s].outputs) columns, the spec \(sceneGates.localWidth)")
                place(parameters.sceneGates[t][s], atColumn: e * w1 + t * gw + sceneGates.shared + s * sceneGates.localWidth)
            }
        }
        self.spec = spec
        gateWidth = gw
        self.weight = weight
        self.bias = bias
        columns = p
        firstWidth = w1
        deeper = parameters.experts.map { MLPParameters(layers: Array($0.layers.dropFirst())) }
        normAffine = spec.partitionedNorm.map { norm in parameters.partitionedNorm.map { $0.inferenceAffine(epsilon: norm.epsilon) } } ?? []
    }

    /// Runs the bottom over `batch`: fills `ws.meta[k]`, `(B, H)`, for every task.
    public func forward(
        batch: EncodedBatch, layout: InputLayout, table: any EmbeddingTable, workspace ws: inout NetworkWorkspace
    ) {
        forward(batch: batch, layout: layout, table: table, workspace: &ws, rowBlocks: SIMDLevel.inUse == .avx512)
    }

    /// ``forward(batch:layout:table:workspace:)`` with the one-layer ReLU bottom run in row blocks
    /// (``forwardInRowBlocks(rows:workspace:)``) or over the whole batch at once: the same
    /// function either way (tests run both on every machine).
    package func forward(
        batch: EncodedBatch, layout: InputLayout, table: any EmbeddingTable, workspace ws: inout NetworkWorkspace,
        rowBlocks: Bool
    ) {
        mix(batch: batch, layout: layout, table: table, workspace: &ws, rowBlocks: rowBlocks)
        // Partitioned norm with the running statistics: f'_k = scale_g ⊙ f_k + shift_g per row.
        if let norm = spec.partitionedNorm {
            norm.scenes(of: batch, into: &ws.normScenes)
            for t in normAffine.indices {
                PartitionedNorm.applyAffine(scale: normAffine[t].scale, shift: normAffine[t].shift, rowScenes: ws.normScenes,
                                            values: &ws.meta[t])
            }
        }
    }

    /// Everything of ``forward(batch:layout:table:workspace:rowBlocks:)`` before the partitioned norm:
    /// `f_k` into `ws.meta[k]`.
    private func mix(
        batch: EncodedBatch, layout: InputLayout, table: any EmbeddingTable, workspace ws: inout NetworkWorkspace,
        rowBlocks: Bool
    ) {
        precondition(layout.width == spec.inputWidth, "PackedBottom: layout width \(layout.width) != spec D \(spec.inputWidth)")
        let b = batch.count, e = spec.expertCount, h = spec.metaWidth, kk = spec.taskCount
        ws.prepareForInference(rows: b, spec: spec)
        InputLayer.forward(batch: batch, layout: layout, table: table, create: false, workspace: &ws.input, output: &ws.x)
        if let star = spec.starTowers { star.scenes(of: batch, into: &ws.starScenes) }
        guard b > 0 else { return }
        let multiLayer = deeper.contains { !$0.layers.isEmpty }
        // ReLU is applied while mixing (max(z, 0) on load); other activations are applied first.
        let reluOnLoad = !multiLayer && spec.activation == .relu
        if let scenes = spec.sceneExperts {
            scenes.scenes(of: batch, into: &ws.scenes)
            forwardScenes(scenes, rows: b, multiLayer: multiLayer, reluOnLoad: reluOnLoad, rowBlocks: rowBlocks, workspace: &ws)
            return
        }
        if reluOnLoad && rowBlocks {
            forwardInRowBlocks(rows: b, workspace: &ws)
            return
        }
        let p = columns
        ws.packed.resize(rows: b, columns: p)
        Borrow.update(&ws.packed) { z in
            Borrow.read(ws.x) { x in multiplyPacked(rows: 0..<b, x: x, into: z, seedBias: true) }
        }
        // Experts with more layers: activate the first, run the rest (rare; not fused).
        if !reluOnLoad { activateExpertColumns(rows: b, workspace: &ws) }
        if multiLayer {
            ws.expertStack.resize(e, b, h)
            for x in 0..<e {
                ws.stagedExpert.resize(rows: b, columns: firstWidth)
                ColumnBlock.extract(from: ws.packed, atColumn: x * firstWidth, into: &ws.stagedExpert)
                MLP.forward(deeper[x], input: ws.stagedExpert, activation: spec.activation, activatesLast: true, cache: &ws.experts[x])
                Borrow.update(&ws.expertStack) { stack in
                    Borrow.read(ws.experts[x].result) { src in (stack + x * b * h).update(from: src, count: b * h) }
                }
            }
        }
        for t in 0..<kk {
            Borrow.update(&ws.meta[t], &ws.packed) { fp, zp in
                if spec.hasGates { Softmax.forwardInPlace(zp + e * firstWidth + t * e, rows: b, width: e, stride: p) }
                let gates = spec.hasGates ? UnsafePointer(zp + e * firstWidth + t * e) : nil
                guard multiLayer else {
                    GateMixture.forward(gates: gates, gateStride: p, experts: e, expertBase: zp, expertStride: h,
                                        rowStride: p, relu: reluOnLoad, rows: b, width: h, output: fp)
                    return
                }
                Borrow.read(ws.expertStack) { stack in
                    GateMixture.forward(gates: gates, gateStride: p, experts: e, expertBase: stack,
                                        expertStride: b * h, rowStride: h, relu: false, rows: b, width: h, output: fp)
                }
            }
        }
    }

    /// Rows per block of ``forwardInRowBlocks(rows:workspace:)``: a block's packed output
    /// (24 × P floats, 25 KiB at P = 264) stays in L1 from the multiply to the mixtures.
    static let rowBlock = 24

    /// The one-layer ReLU bottom (every config MetaRec ships) a block of rows at a time, with the
    /// AVX-512 kernels: the multiply without bias, then gate softmaxes and every task's mixture
    /// in one kernel (``GateMixture/forwardPacked(_:rowStride:bias:rows:experts:width:outputs:level:)``,
    /// the bias added on load) while the block's packed output is still in L1. Over the whole
    /// batch at once the (B, P) output fell out of L1 between the multiply and the mixtures,
    /// which then read it back from L2 once per task.
    /// (Not used below AVX-512: there the 24-row multiplies would go to OpenBLAS, whose fixed
    /// cost per call was not measured against the gain.)
    private func forwardInRowBlocks(rows b: Int, workspace ws: inout NetworkWorkspace) {
        let p = columns, e = spec.expertCount
        // A Shared-Bottom has no gate columns: its one expert is every task's input.
        precondition(spec.hasGates || e == 1, "PackedBottom: \(e) experts without gates")
        ws.packed.resize(rows: min(b, Self.rowBlock), columns: p)
        Borrow.update(each: &ws.meta) { outputs in
            Borrow.update(&ws.packed) { z in mixInRowBlocks(rows: b, x: ws.x, packed: z, outputs: outputs) }
        }
    }

    /// The loop of ``forwardInRowBlocks(rows:workspace:)`` on borrowed storage: `packed` holds
    /// one block `(rowBlock, P)`, `outputs[t]` is task `t`'s `(B, H)` input.
    private func mixInRowBlocks(
        rows b: Int, x: Tensor, packed z: UnsafeMutablePointer<Float>, outputs: UnsafeBufferPointer<UnsafeMutablePointer<Float>>
    ) {
        let p = columns, e = spec.expertCount, h = spec.metaWidth, kk = spec.taskCount
        Borrow.read(x, bias) { x, c in
            withUnsafeTemporaryAllocation(of: UnsafeMutablePointer<Float>?.self, capacity: kk) { blockOutputs in
                for r0 in stride(from: 0, to: b, by: Self.rowBlock) {
                    let r1 = min(r0 + Self.rowBlock, b)
                    multiplyPacked(rows: r0..<r1, x: x, into: z, seedBias: false)
                    for t in 0..<kk { blockOutputs[t] = outputs[t] + r0 * h }
                    if spec.hasGates {
                        GateMixture.forwardPacked(z, rowStride: p, bias: c, rows: r1 - r0, experts: e, width: h,
                                                  outputs: UnsafeBufferPointer(blockOutputs))
                    } else {
                        Self.rectifyOne(z, rowStride: p, bias: c, rows: r1 - r0, width: h,
                                        outputs: UnsafeBufferPointer(blockOutputs))
                    }
                }
            }
        }
    }

    /// The Shared-Bottom case of ``forwardInRowBlocks(rows:workspace:)``: every task's input is
    /// ReLU(z + b) of the one expert.
    private static func rectifyOne(
        _ z: UnsafeMutablePointer<Float>, rowStride p: Int, bias: UnsafePointer<Float>, rows: Int, width h: Int,
        outputs: UnsafeBufferPointer<UnsafeMutablePointer<Float>?>
    ) {
        for r in 0..<rows {
            for j in 0..<h {
                let v = z[r * p + j] + bias[j]
                z[r * p + j] = v > 0 ? v : 0  // ReLU(NaN) = 0, as in the mixture kernels (`max` would keep NaN)
            }
            for out in outputs { (out! + r * h).update(from: z + r * p, count: h) }
        }
    }

    /// Rows `rows` of `Z = x·W`, plus the bias when `seedBias`, into `z` (`(rows.count, P)`)
    /// from its row 0: bias-seeded rows and one GEMM accumulating on top (beta = 1), or the
    /// GEMM alone (beta = 0).
    private func multiplyPacked(rows: Range<Int>, x: UnsafePointer<Float>, into z: UnsafeMutablePointer<Float>, seedBias: Bool) {
        let p = columns, d = spec.inputWidth, m = rows.count
        Borrow.read(weight, bias) { w, c in
            if seedBias {
                for r in 0..<m { (z + r * p).update(from: c, count: p) }
            }
            GEMM.compute(m: m, n: p, k: d, a: x + rows.lowerBound * d, lda: d, b: w, ldb: p, c: z, ldc: p,
                         beta: seedBias ? 1 : 0)
        }
    }

    /// The bottom with scene experts: the packed multiply (row blocks of ``rowBlock`` for one-layer
    /// ReLU experts when `rowBlocks`, as ``forwardInRowBlocks(rows:workspace:)``; else the whole
    /// batch), then per task each row's local gate logits from its own scene's columns, their
    /// softmax and the mixture of the row's own experts.
    private func forwardScenes(
        _ scenes: SceneExperts, rows b: Int, multiLayer: Bool, reluOnLoad: Bool, rowBlocks: Bool, workspace ws: inout NetworkWorkspace
    ) {
        let p = columns, e = spec.expertCount, h = spec.metaWidth, w = scenes.localWidth
        let block = reluOnLoad && rowBlocks ? Self.rowBlock : b
        ws.packed.resize(rows: block, columns: p)
        ws.sceneLogits.resize(rows: block, columns: w)
        if multiLayer { ws.expertStack.resize(e, b, h) }
        for r0 in stride(from: 0, to: b, by: block) {
            let r1 = min(r0 + block, b)
            Borrow.update(&ws.packed) { z in
                Borrow.read(ws.x, ws.scenes) { x, rowScenes in
                    multiplyOwnColumns(scenes, rows: r0..<r1, x: x, rowScenes: rowScenes, into: z)
                }
            }
            if !reluOnLoad { activateExpertColumns(rows: r1 - r0, workspace: &ws) }
            if multiLayer {
                // Only with block = b: the remaining layers of every expert some row mixes (a
                // scene's experts only when the batch has a row of that scene), on every row.
                for x in 0..<e where scenes.owner(ofExpert: x).map({ ws.scenes.contains(Int32($0)) }) ?? true {
                    ws.stagedExpert.resize(rows: b, columns: firstWidth)
                    ColumnBlock.extract(from: ws.packed, atColumn: x * firstWidth, into: &ws.stagedExpert)
                    MLP.forward(deeper[x], input: ws.stagedExpert, activation: spec.activation, activatesLast: true, cache: &ws.experts[x])
                    Borrow.update(&ws.expertStack) { stack in
                        Borrow.read(ws.experts[x].result) { src in (stack + x * b * h).update(from: src, count: b * h) }
                    }
                }
            }
            for t in 0..<spec.taskCount {
                Borrow.update(&ws.meta[t], &ws.sceneLogits) { f, local in
                    Borrow.read(ws.packed, ws.scenes, ws.expertStack) { z, rowScenes, stack in
                        let m = r1 - r0, blockScenes = rowScenes + r0
                        localGateLogits(scenes, task: t, rows: m, packed: z, scenes: blockScenes, local: local)
                        Softmax.forwardInPlace(local, rows: m, width: w, stride: w)
                        let (base, expertStride, rowStride) = multiLayer ? (stack, b * h, h) : (z, firstWidth, p)
                        scenes.mix(gates: local, gateStride: w, rows: m, scenes: blockScenes, positions: nil, expertBase: base,
                                   expertStride: expertStride, rowStride: rowStride, relu: reluOnLoad, width: h,
                                   output: f + r0 * h, outputStride: h)
                    }
                }
            }
        }
    }

    /// Rows `rows` of `Z = x·W + b` into `z` from its row 0 (stride `P`), where a run of rows of one
    /// scene (a request's candidates usually are) multiplies only the columns its rows read: the
    /// shared experts', its scene's (none for an unknown scene) and the gates'; the other columns
    /// keep the bias (finite, never mixed). More than two runs in the rows: the whole multiply.
    private func multiplyOwnColumns(
        _ scenes: SceneExperts, rows: Range<Int>, x: UnsafePointer<Float>, rowScenes: UnsafePointer<Int32>,
        into z: UnsafeMutablePointer<Float>
    ) {
        var runs = 0
        for r in rows where r == rows.lowerBound || rowScenes[r] != rowScenes[r - 1] { runs += 1 }
        guard runs <= 2 else {
            multiplyPacked(rows: rows, x: x, into: z, seedBias: true)
            return
        }
        let p = columns, w1 = firstWidth, gates = spec.expertCount * w1
        Borrow.read(bias) { c in
            for r in 0..<rows.count { (z + r * p).update(from: c, count: p) }
        }
        var r0 = rows.lowerBound
        while r0 < rows.upperBound {
            let s = Int(rowScenes[r0])
            var r1 = r0 + 1
            while r1 < rows.upperBound && Int(rowScenes[r1]) == s { r1 += 1 }
            let out = z + (r0 - rows.lowerBound) * p
            multiplyColumns(0..<(scenes.shared * w1), rows: r0..<r1, x: x, into: out)
            if s >= 0 {
                let first = (scenes.shared + s * scenes.perScene) * w1
                multiplyColumns(first..<(first + scenes.perScene * w1), rows: r0..<r1, x: x, into: out)
            }
            multiplyColumns(gates..<p, rows: r0..<r1, x: x, into: out)
            r0 = r1
        }
    }

    /// `z[:, columns] += x[rows]·W[:, columns]`, `z` from row `rows.lowerBound` (stride `P`).
    private func multiplyColumns(_ columns: Range<Int>, rows: Range<Int>, x: UnsafePointer<Float>, into z: UnsafeMutablePointer<Float>) {
        guard !columns.isEmpty else { return }
        let p = self.columns, d = spec.inputWidth
        Borrow.read(weight) { w in
            GEMM.compute(m: rows.count, n: columns.count, k: d, a: x + rows.lowerBound * d, lda: d, b: w + columns.lowerBound,
                         ldb: p, c: z + columns.lowerBound, ldc: p, beta: 1)
        }
    }

    /// Task `t`'s local gate logits `(rows, shared + perScene)` of the packed rows `z` (stride `P`),
    /// `−∞` past a row's own columns: ``SceneExperts/gatherLocal(full:fullStride:rows:scenes:local:localStride:)``
    /// for shared gates; with `.perScene` gates the row's scene's block (an unknown scene: the first, `shared` wide).
    private func localGateLogits(
        _ scenes: SceneExperts, task t: Int, rows m: Int, packed z: UnsafePointer<Float>, scenes rowScenes: UnsafePointer<Int32>,
        local: UnsafeMutablePointer<Float>
    ) {
        let p = columns, w = scenes.localWidth, gates = z + spec.expertCount * firstWidth + t * gateWidth
        guard scenes.gates == .perScene else {
            scenes.gatherLocal(full: gates, fullStride: p, rows: m, scenes: rowScenes, local: local, localStride: w)
            return
        }
        for r in 0..<m {
            let s = Int(rowScenes[r]), n = scenes.localCount(scene: s)
            let src = gates + r * p + (s < 0 ? 0 : scenes.shared + s * w), dst = local + r * w
            for c in 0..<w { dst[c] = c < n ? src[c] : -.infinity }
        }
    }

    /// Applies the activation to the experts' first-layer columns of `ws.packed` in place.
    private func activateExpertColumns(rows b: Int, workspace ws: inout NetworkWorkspace) {
        let p = columns, width = spec.expertCount * firstWidth, activation = spec.activation
        Borrow.update(&ws.packed) { z in
            for r in 0..<b {
                for j in 0..<width {
                    let v = z[r * p + j]
                    z[r * p + j] = activation == .relu ? max(v, 0) : tanhf(v)
                }
            }
        }
    }
}
