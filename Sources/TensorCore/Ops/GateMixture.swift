import CKernels

/// The MMoE gate mixture (Ma et al. KDD 2018): each row's task input is the gate-weighted sum
/// of that row's expert outputs.
///
/// ```
/// f[b, :] = Σ_e gate[b, e] · experts[e, b, :]
/// gate: (B, E)   experts: (E, B, H)   f: (B, H)
/// ```
///
/// Experts are stored expert-major `(E, B, H)` so each expert's forward writes one contiguous
/// `(B, H)` slab, `experts[e]`, straight from its last Linear/ReLU.
public enum GateMixture {
    /// `output = Σ_e gate[:, e] ⊙ experts[e]`, overwriting `output`.
    ///
    /// - Parameters:
    ///   - gate: `(B, E)`, usually softmax probabilities.
    ///   - experts: `(E, B, H)`.
    ///   - output: `(B, H)`, already allocated; its old contents are ignored.
    /// - Complexity: `2·E·B·H` flops.
    public static func forward(gate: Tensor, experts: Tensor, output: inout Tensor) {
        let (e, b, h) = checkShapes(gate: gate, experts: experts, "GateMixture.forward")
        precondition(
            output.shape == [b, h],
            "GateMixture.forward: gate \(gate.shape), experts \(experts.shape) need output [\(b), \(h)], got \(output.shape)")
        // Eight columns at a time, summed over experts in registers: one store per output
        // element instead of a read-modify-write per expert. The adds run in the same order
        // as the reference loop (0 + w_0·x_0 + w_1·x_1 + …), so the result is bitwise equal.
        Borrow.update(&output) { f in
            Borrow.read(gate, experts) { g, x in
                let xs = UnsafeRawPointer(x), fs = UnsafeMutableRawPointer(f)
                let stride = MemoryLayout<Float>.stride
                for row in 0..<b {
                    let out = row * h
                    var j = 0
                    while j + 8 <= h {
                        var acc = SIMD8<Float>(repeating: 0)
                        for expert in 0..<e {
                            let weight = g[row * e + expert]
                            let slab = (expert * b + row) * h
                            acc += weight * xs.loadUnaligned(fromByteOffset: (slab + j) * stride, as: SIMD8<Float>.self)
                        }
                        fs.storeBytes(of: acc, toByteOffset: (out + j) * stride, as: SIMD8<Float>.self)
                        j += 8
                    }
                    while j < h {
                        var acc: Float = 0
                        for expert in 0..<e { acc += g[row * e + expert] * x[(expert * b + row) * h + j] }
                        f[out + j] = acc
                        j += 1
                    }
                }
            }
        }
    }

    /// The naive reference of ``forward(gate:experts:output:)`` (tests).
    public static func referenceForward(gate: Tensor, experts: Tensor, output: inout Tensor) {
        let (e, b, h) = checkShapes(gate: gate, experts: experts, "GateMixture.referenceForward")
        precondition(output.shape == [b, h], "GateMixture.referenceForward: output \(output.shape), need [\(b), \(h)]")
        for row in 0..<b {
            for j in 0..<h {
                var acc: Float = 0
                for expert in 0..<e { acc += gate.scalars[row * e + expert] * experts.scalars[(expert * b + row) * h + j] }
                output.scalars[row * h + j] = acc
            }
        }
    }

    /// Accumulates the gradients of the gate and of every expert output:
    ///
    /// ```
    /// dGate[b, e]       += ⟨dF[b, :], experts[e, b, :]⟩
    /// dExperts[e, b, :] += gate[b, e] · dF[b, :]
    /// ```
    public static func backward(
        gate: Tensor, experts: Tensor, dOutput: Tensor,
        dGate: inout Tensor, dExperts: inout Tensor
    ) {
        let (e, b, h) = checkShapes(gate: gate, experts: experts, "GateMixture.backward")
        precondition(
            dOutput.shape == [b, h] && dGate.shape == gate.shape && dExperts.shape == experts.shape,
            "GateMixture.backward: gate \(gate.shape), experts \(experts.shape) need dOutput [\(b), \(h)], dGate \(gate.shape), dExperts \(experts.shape); got dOutput \(dOutput.shape), dGate \(dGate.shape), dExperts \(dExperts.shape)")
        Borrow.update(&dGate, &dExperts) { dg, dx in
            Borrow.read(gate, experts, dOutput) { g, x, df in
                // Eight lanes at a time (the compiler keeps the scalar dot product serial).
                typealias V = SIMD8<Float>
                let stride = MemoryLayout<Float>.stride
                let dfs = UnsafeRawPointer(df), xs = UnsafeRawPointer(x), dxs = UnsafeMutableRawPointer(dx)
                for row in 0..<b {
                    let out = row * h
                    for expert in 0..<e {
                        let weight = g[row * e + expert]
                        let slab = (expert * b + row) * h
                        var dots = V(repeating: 0)
                        var j = 0
                        while j + 8 <= h {
                            let d = dfs.loadUnaligned(fromByteOffset: (out + j) * stride, as: V.self)
                            let o = (slab + j) * stride
                            dots += d * xs.loadUnaligned(fromByteOffset: o, as: V.self)
                            dxs.storeBytes(of: dxs.loadUnaligned(fromByteOffset: o, as: V.self) + weight * d,
                                           toByteOffset: o, as: V.self)
                            j += 8
                        }
                        var dot = dots.sum()
                        while j < h {
                            dot += df[out + j] * x[slab + j]
                            dx[slab + j] += weight * df[out + j]
                            j += 1
                        }
                        dg[row * e + expert] += dot
                    }
                }
            }
        }
    }

    /// Checks `gate (B, E)` against `experts (E, B, H)`; returns `(E, B, H)`.
    private static func checkShapes(gate: Tensor, experts: Tensor, _ op: StaticString) -> (Int, Int, Int) {
        precondition(
            gate.rank == 2 && experts.rank == 3
                && experts.shape[0] == gate.shape[1] && experts.shape[1] == gate.shape[0],
            "\(op): gate \(gate.shape) must be (B, E) and experts \(experts.shape) must be (E, B, H)")
        return (experts.shape[0], experts.shape[1], experts.shape[2])
    }
}

extension GateMixture {
    /// The mixture read through strides, with an optional ReLU on load (the inference bottom
    /// mixes straight out of its packed first-layer output):
    ///
    /// ```
    /// out[r, j] = Σ_x g[r, x] · act(E_x[r, j])          out: (rows, width), contiguous
    /// g[r, x]   = gates[r·gateStride + x]   (1 when gates is nil)
    /// E_x[r, j] = experts[x·expertStride + r·rowStride + j]
    /// ```
    /// Runs at ``SIMDLevel/inUse`` by default (AVX-512 sixteen columns per vector, AVX2/FMA
    /// eight, or plain loops).
    /// - Complexity: `2·E·rows·width` flops, allocation-free.
    public static func forward(
        gates: UnsafePointer<Float>?, gateStride: Int, experts: Int, expertBase: UnsafePointer<Float>,
        expertStride: Int, rowStride: Int, relu: Bool, rows: Int, width: Int,
        output: UnsafeMutablePointer<Float>, level: SIMDLevel = .inUse
    ) {
        precondition(experts >= 1 && rows >= 0 && width >= 0, "GateMixture.forward: experts \(experts), rows \(rows), width \(width)")
        precondition(level <= .cpu, "GateMixture: this CPU cannot run the \(level) kernel")
        mr_gate_mix_at_level(
            Int32(level.rawValue), gates, gateStride, experts, expertBase, expertStride, rowStride,
            relu ? 1 : 0, rows, width, output)
    }
}

extension GateMixture {
    /// The inference bottom's gates and mixtures for a block of rows of its packed first-layer
    /// output, without bias (`mr_mmoe_mix_at_level`):
    ///
    /// ```
    /// z      = [Z_1 … Z_E | L_1 … L_K]      (rows, P = E·W + K·E), row stride `rowStride`
    /// g_t    = softmax(L_t + c_t)           written over L_t
    /// out_t  = Σ_x g_t[:, x] ⊙ max(Z_x + b_x, 0)      (rows, W), contiguous at outputs[t]
    /// ```
    /// `bias` holds `P` floats in `z`'s column order. Each expert value is loaded and rectified
    /// once per group of up to four tasks (AVX-512; plain loops otherwise); ReLU(NaN) is 0.
    /// - Complexity: `2·E·K·rows·W` flops plus the softmaxes, allocation-free.
    public static func forwardPacked(
        _ z: UnsafeMutablePointer<Float>, rowStride: Int, bias: UnsafePointer<Float>, rows: Int, experts: Int,
        width: Int, outputs: UnsafeBufferPointer<UnsafeMutablePointer<Float>?>, level: SIMDLevel = .inUse
    ) {
        precondition(experts >= 1 && rows >= 0 && width >= 1 && rowStride >= experts * width + outputs.count * experts,
                     "GateMixture.forwardPacked: experts \(experts), rows \(rows), width \(width), row stride \(rowStride), \(outputs.count) tasks")
        precondition(outputs.allSatisfy { $0 != nil }, "GateMixture.forwardPacked: a nil output")
        precondition(level <= .cpu, "GateMixture: this CPU cannot run the \(level) kernel")
        mr_mmoe_mix_at_level(Int32(level.rawValue), z, rowStride, bias, rows, experts, width, outputs.count, outputs.baseAddress)
    }
}
