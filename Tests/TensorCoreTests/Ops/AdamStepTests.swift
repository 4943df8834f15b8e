import Foundation
import TensorCore
import TestSupport
import Testing

extension OpsTests {
    /// The Adam kernel at every level this CPU has against the update written out in Double,
    /// over lengths off the vector width (lane-masked tails) and two steps (moments carried over).
    @Suite struct AdamStepTests {
        @Test(arguments: SIMDLevel.available)
        func `Adam step matches the Double reference at every level`(level: SIMDLevel) {
            for n in [1, 15, 16, 17, 100] {
                var p = randomTensor([n], seed: UInt64(n)).scalars
                var m = [Float](repeating: 0, count: n), v = [Float](repeating: 0, count: n)
                var pd = p.map(Double.init), md = [Double](repeating: 0, count: n), vd = md
                let (b1, b2, eps, lr, wd): (Float, Float, Float, Float, Float) = (0.9, 0.999, 1e-8, 0.01, 0.1)
                for t in 1...2 {
                    let g = randomTensor([n], seed: UInt64(100 * t + n), scale: 2).scalars
                    let c1 = 1 - pow(b1, Float(t)), c2 = 1 - pow(b2, Float(t))
                    p.withUnsafeMutableBufferPointer { p in
                        g.withUnsafeBufferPointer { g in
                            m.withUnsafeMutableBufferPointer { m in
                                v.withUnsafeMutableBufferPointer { v in
                                    AdamStep.apply(parameters: p, gradients: g, m: m, v: v, constants: .init(
                                        beta1: b1, beta2: b2, inverseCorrection1: 1 / c1, inverseCorrection2: 1 / c2,
                                        epsilon: eps, learningRate: lr, weightDecay: wd), level: level)
                                }
                            }
                        }
                    }
                    // The reference takes the kernel's Float scalars (1 − β₂ is 0.00099998713 in Float).
                    let (d1, d2, e1, e2) = (Double(b1), Double(b2), Double(1 - b1), Double(1 - b2))
                    let (i1, i2) = (Double(1 / c1), Double(1 / c2))
                    for j in 0..<n {
                        let gj = Double(g[j])
                        md[j] = d1 * md[j] + e1 * gj
                        vd[j] = d2 * vd[j] + e2 * gj * gj
                        let update = (md[j] * i1) / ((vd[j] * i2).squareRoot() + Double(eps))
                        pd[j] -= Double(lr) * (update + Double(wd) * pd[j])
                    }
                }
                expectClose(Tensor(shape: [n], scalars: p), Tensor(shape: [n], scalars: pd.map(Float.init)),
                            rtol: 1e-5, atol: 1e-6, "\(level) n \(n) parameters")
                expectClose(Tensor(shape: [n], scalars: m), Tensor(shape: [n], scalars: md.map(Float.init)),
                            rtol: 1e-5, atol: 1e-7, "\(level) n \(n) m")
                expectClose(Tensor(shape: [n], scalars: v), Tensor(shape: [n], scalars: vd.map(Float.init)),
                            rtol: 1e-5, atol: 1e-9, "\(level) n \(n) v")
            }
        }
    }
}
