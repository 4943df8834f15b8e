import TensorCore

/// The head of ``HeadSolver/offset``: the last layer's bias `b` alone fitted to the support rows
/// by the task's pointwise loss, everything else fixed:
///
/// ```
/// regression   b ← b + (1/n) Σ_s (y_s − z_s)                       (exact least squares in b)
/// binary       δ ← δ − Σ_s ℓ'(z_s + δ, y_s) / Σ_s ℓ''(z_s + δ)   (Newton on BCE, ≤ 8 iterations), b ← b + δ
/// ```
/// A shift of every logit by the same amount changes no order, so this only recalibrates.
enum OffsetHead {
    static func solve(_ tower: inout Tower, on rows: TowerRows, workspace ws: inout TowerWorkspace) {
        let s = rows.count
        guard s > 0 else { return }
        ws.stage(rows, width: tower.parameters.inputWidth)
        MLP.forward(tower.parameters, input: ws.stagedInput, activation: tower.activation, activatesLast: false,
                    cache: &ws.activations)
        let shift: Double = ws.activations.result.withUnsafeBufferPointer { z in
            ws.stagedLabels.withUnsafeBufferPointer { y in
                tower.kind == .regression ? meanResidual(z, y) : newtonShift(z, y)
            }
        }
        guard shift.isFinite else { return }
        let last = tower.parameters.layers.count - 1
        tower.parameters.layers[last].bias.scalars[0] += Float(shift)
    }

    private static func meanResidual(_ z: UnsafeBufferPointer<Float>, _ y: UnsafeBufferPointer<Float>) -> Double {
        var sum = 0.0, n = 0
        for i in y.indices where !y[i].isNaN {
            sum += Double(y[i]) - Double(z[i])
            n += 1
        }
        return n > 0 ? sum / Double(n) : 0
    }

    private static func newtonShift(_ z: UnsafeBufferPointer<Float>, _ y: UnsafeBufferPointer<Float>) -> Double {
        var delta = 0.0
        for _ in 0..<8 {
            var g = 0.0, h = 0.0
            for i in y.indices where !y[i].isNaN {
                let z = z[i] + Float(delta)
                g += Double(BCEWithLogits.derivative(logit: z, label: y[i]))
                h += Double(BCEWithLogits.secondDerivative(logit: z))
            }
            guard h > 1e-12 else { break }
            let step = g / h
            delta -= max(-4, min(4, step))   // a bounded step: all-0 or all-1 support has no finite optimum
            if abs(step) < 1e-7 { break }
        }
        return delta
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
