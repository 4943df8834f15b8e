import TensorCore

extension SceneExperts {
    /// The mixture over each row's own experts (``SceneExperts``), overwriting `output`:
    ///
    /// ```
    /// f[b, :] = Σ_{c < n(b)} g[b, c] · act(h_{e(c, s)}[r, :])     s = scene b, n(b) = localCount(scene: s)
    /// r       = b for a shared expert or without `positions`; positions[b] for a scene expert
    /// h_e[r]  = expertBase + e·expertStride + r·rowStride          act = ReLU when `relu` (NaN → 0), else identity
    /// ```
    /// Training keeps scene `s`'s experts' outputs for scene `s`'s rows only (`positions[b]`: row
    /// `b`'s index among them); serving's packed bottom has every expert on every row (`nil`).
    func mix(
        gates g: UnsafePointer<Float>, gateStride: Int, rows b: Int, scenes: UnsafePointer<Int32>,
        positions: UnsafePointer<Int32>?, expertBase: UnsafePointer<Float>, expertStride: Int, rowStride: Int,
        relu: Bool, width h: Int, output: UnsafeMutablePointer<Float>, outputStride: Int
    ) {
        for row in 0..<b {
            let s = Int(scenes[row]), out = output + row * outputStride
            out.update(repeating: 0, count: h)
            for c in 0..<localCount(scene: s) {
                let r = c < shared ? row : positions.map { Int($0[row]) } ?? row
                let src = expertBase + expert(local: c, scene: s) * expertStride + r * rowStride
                let w = g[row * gateStride + c]
                if relu {
                    for j in 0..<h { let v = src[j]; out[j] += w * (v > 0 ? v : 0) }
                } else {
                    for j in 0..<h { out[j] += w * src[j] }
                }
            }
        }
    }

    /// Backward of ``mix(gates:gateStride:rows:scenes:positions:expertBase:expertStride:rowStride:relu:width:output:outputStride:)``
    /// without `relu`: `dGate` `(B, localWidth)` overwritten (0 beyond a row's `n(b)` columns),
    /// the experts' gradients accumulated at the experts' layout:
    ///
    /// ```
    /// dg[b, c] = ⟨df[b], h_{e(c,s)}[r]⟩        dh_{e(c,s)}[r] += g[b, c] · df[b]
    /// ```
    func mixBackward(
        gates g: UnsafePointer<Float>, rows b: Int, scenes: UnsafePointer<Int32>, positions: UnsafePointer<Int32>,
        experts: UnsafePointer<Float>, expertStride: Int, dOutput: UnsafePointer<Float>, width h: Int,
        dGate: UnsafeMutablePointer<Float>, dExperts: UnsafeMutablePointer<Float>
    ) {
        let w = localWidth
        for row in 0..<b {
            let s = Int(scenes[row]), df = dOutput + row * h
            for c in 0..<w {
                guard c < localCount(scene: s) else { dGate[row * w + c] = 0; continue }
                let r = c < shared ? row : Int(positions[row])
                let offset = expert(local: c, scene: s) * expertStride + r * h
                let src = experts + offset, dst = dExperts + offset, weight = g[row * w + c]
                var dot: Float = 0
                for j in 0..<h {
                    dot += df[j] * src[j]
                    dst[j] += weight * df[j]
                }
                dGate[row * w + c] = dot
            }
        }
    }
}
