import Foundation
import Testing
import TensorCore
import TestSupport

extension OpsTests {
    @Suite struct BCEWithLogitsTests {
        /// Logit shapes: (B) and (B, 1).
        static let shapes: [[Int]] = [[1], [1, 1], [7], [13, 1]]

        /// Labels in {0, 1} with some soft labels and, for B > 2, a missing (NaN) one.
        static func labels(_ b: Int, seed: UInt64) -> Tensor {
            var rng = SeededRandom(seed: seed + 500)
            var y = (0..<b).map { i -> Float in i % 3 == 2 ? rng.nextUniform() : (rng.nextUniform() < 0.5 ? 0 : 1) }
            if b > 2 { y[1] = .nan }
            return Tensor(shape: [b], scalars: y)
        }

        /// The textbook form, −y·log σ − (1 − y)·log(1 − σ), fine for moderate logits.
        static func naiveLoss(_ z: Tensor, _ y: Tensor) -> Double {
            var total = 0.0
            for i in 0..<z.count where !y.scalars[i].isNaN {
                let s = 1 / (1 + exp(-Double(z.scalars[i]))), t = Double(y.scalars[i])
                total += -t * log(s) - (1 - t) * log(1 - s)
            }
            return total
        }

        @Test(arguments: shapes, OpsFixtures.seeds)
        func `bce loss matches the textbook form and skips missing labels`(shape: [Int], seed: UInt64) {
            let z = randomTensor(shape, seed: seed, scale: 5)
            let y = Self.labels(shape[0], seed: seed)
            let loss = BCEWithLogits.loss(logits: z, labels: y)
            expectClose(loss, Self.naiveLoss(z, y), rtol: 1e-9, atol: 1e-12)
            #expect(loss.isFinite)
        }

        @Test(arguments: shapes, OpsFixtures.seeds)
        func `bce backward matches finite differences and accumulates`(shape: [Int], seed: UInt64) {
            let z = randomTensor(shape, seed: seed, scale: 5)
            let y = Self.labels(shape[0], seed: seed)
            let scale: Float = 0.37
            var dz = Tensor(shape: shape)
            BCEWithLogits.backward(logits: z, labels: y, scale: scale, dLogits: &dz)
            gradientCheck(dz, of: { Double(scale) * BCEWithLogits.loss(logits: $0, labels: y) }, at: z, step: 1e-3)
            if shape[0] > 2 { #expect(dz.scalars[1] == 0, "missing label gets no gradient") }
            let once = dz
            BCEWithLogits.backward(logits: z, labels: y, scale: scale, dLogits: &dz)
            expectClose(dz, 2 * once, rtol: 1e-6, atol: 0, "accumulates")
        }

        @Test func `bce is finite and exact for logits of magnitude 100`() {
            let z = Tensor(shape: [4], scalars: [100, 100, -100, -100])
            let y = Tensor(shape: [4], scalars: [1, 0, 1, 0])
            // Confidently right rows cost ≈ e^{−100} ≈ 3.7e-44; confidently wrong rows cost ≈ 100.
            let loss = BCEWithLogits.loss(logits: z, labels: y)
            #expect(loss.isFinite)
            expectClose(loss, 200 + 4 * log1p(exp(-100.0)), rtol: 1e-12, atol: 0)
            expectClose(BCEWithLogits.loss(logits: Tensor(shape: [1], scalars: [100]), labels: Tensor(shape: [1], scalars: [1])),
                        exp(-100.0), rtol: 1e-6, atol: 0)
            var dz = Tensor(shape: [4])
            BCEWithLogits.backward(logits: z, labels: y, scale: 1, dLogits: &dz)
            #expect(dz.isFinite)
            expectClose(dz, Tensor(shape: [4], scalars: [0, 1, -1, 0]), rtol: 0, atol: 1e-30)
        }

        @Test func `bce with only missing labels is zero`() {
            let z = randomTensor([5], seed: 9)
            let y = Tensor(shape: [5], repeating: .nan)
            #expect(BCEWithLogits.loss(logits: z, labels: y) == 0)
            var dz = Tensor(shape: [5])
            BCEWithLogits.backward(logits: z, labels: y, scale: 1, dLogits: &dz)
            #expect(dz.scalars.allSatisfy { $0 == 0 })
            #expect(y.countNonNaN() == 0 && Self.labels(7, seed: 1).countNonNaN() == 6)
        }

        @Test func `bce traps when logits and labels disagree`() async {
            await #expect(processExitsWith: .failure) {
                _ = BCEWithLogits.loss(logits: .zeros(3, 1), labels: .zeros(4))
            }
        }
    }
}
