import Testing
import TensorCore
import TestSupport

extension OpsTests {
    @Suite struct LinearTests {
        struct Shape: Sendable, CustomTestStringConvertible {
            var batch: Int, inputs: Int, outputs: Int
            var testDescription: String { "B=\(batch) In=\(inputs) Out=\(outputs)" }
        }

        static let shapes: [Shape] = [
            Shape(batch: 1, inputs: 1, outputs: 1),
            Shape(batch: 1, inputs: 7, outputs: 13),
            Shape(batch: 7, inputs: 13, outputs: 5),
            Shape(batch: 13, inputs: 7, outputs: 13),
            Shape(batch: 4, inputs: 16, outputs: 1),
        ]

        struct Fixture {
            var x: Tensor  // (B, In)
            var w: Tensor  // (In, Out)
            var b: Tensor  // (Out)
            var upstream: Tensor  // (B, Out) dL/dy of the scalar loss L = Σ y ⊙ upstream

            init(_ s: Shape, seed: UInt64) {
                x = randomTensor([s.batch, s.inputs], seed: seed)
                w = randomTensor([s.inputs, s.outputs], seed: seed + 100)
                b = randomTensor([s.outputs], seed: seed + 200)
                upstream = randomTensor([s.batch, s.outputs], seed: seed + 300)
            }

            static func forward(_ x: Tensor, _ w: Tensor, _ b: Tensor) -> Tensor {
                var y = OpsFixtures.garbage([x.rows, w.columns])
                Linear.forward(input: x, weight: w, bias: b, output: &y)
                return y
            }

            func loss(x: Tensor? = nil, w: Tensor? = nil, b: Tensor? = nil) -> Double {
                weightedSum(Self.forward(x ?? self.x, w ?? self.w, b ?? self.b), upstream)
            }

            /// The three gradients from one backward call, accumulated `times` times from zero.
            func gradients(times: Int = 1) -> (dx: Tensor, dw: Tensor, db: Tensor) {
                var dx = Tensor(shape: x.shape), dw = Tensor(shape: w.shape), db = Tensor(shape: b.shape)
                for _ in 0..<times {
                    Linear.backward(input: x, weight: w, dOutput: upstream, dInput: &dx, dWeight: &dw, dBias: &db)
                }
                return (dx, dw, db)
            }
        }

        @Test(arguments: shapes, OpsFixtures.seeds)
        func `linear forward matches a naive reference and overwrites the output`(shape: Shape, seed: UInt64) {
            let f = Fixture(shape, seed: seed)
            var expected = Tensor(shape: [shape.batch, shape.outputs])
            for i in 0..<shape.batch {
                for j in 0..<shape.outputs {
                    var s = Double(f.b[j])
                    for p in 0..<shape.inputs { s += Double(f.x[i, p]) * Double(f.w[p, j]) }
                    expected[i, j] = Float(s)
                }
            }
            expectClose(Fixture.forward(f.x, f.w, f.b), expected, rtol: 1e-5, atol: 1e-5)
        }

        @Test(arguments: shapes, OpsFixtures.seeds)
        func `linear backward matches finite differences for input, weight and bias`(shape: Shape, seed: UInt64) {
            let f = Fixture(shape, seed: seed)
            let (dx, dw, db) = f.gradients()
            gradientCheck(dx, of: { f.loss(x: $0) }, at: f.x, "dInput")
            gradientCheck(dw, of: { f.loss(w: $0) }, at: f.w, "dWeight")
            gradientCheck(db, of: { f.loss(b: $0) }, at: f.b, "dBias")
        }

        @Test(arguments: shapes, [UInt64(3)])
        func `linear backward accumulates and backwardParameters agrees`(shape: Shape, seed: UInt64) {
            let f = Fixture(shape, seed: seed)
            let once = f.gradients(), twice = f.gradients(times: 2)
            expectClose(twice.dx, 2 * once.dx, rtol: 1e-5, atol: 1e-6)
            expectClose(twice.dw, 2 * once.dw, rtol: 1e-5, atol: 1e-6)
            expectClose(twice.db, 2 * once.db, rtol: 1e-5, atol: 1e-6)

            var dw = Tensor(shape: f.w.shape), db = Tensor(shape: f.b.shape)
            Linear.backwardParameters(input: f.x, dOutput: f.upstream, dWeight: &dw, dBias: &db)
            Linear.backwardParameters(input: f.x, dOutput: f.upstream, dWeight: &dw, dBias: &db)
            expectClose(dw, twice.dw, rtol: 1e-5, atol: 1e-6)
            expectClose(db, twice.db, rtol: 1e-5, atol: 1e-6)
        }

        @Test func `linear traps when input and weight disagree`() async {
            await #expect(processExitsWith: .failure) {
                var y = Tensor.zeros(2, 3)
                Linear.forward(input: .zeros(2, 4), weight: .zeros(5, 3), bias: .zeros(3), output: &y)
            }
        }

        @Test func `linear traps on a wrongly shaped output or gradient`() async {
            await #expect(processExitsWith: .failure) {
                var y = Tensor.zeros(3, 3)
                Linear.forward(input: .zeros(2, 4), weight: .zeros(4, 3), bias: .zeros(3), output: &y)
            }
            await #expect(processExitsWith: .failure) {
                var dx = Tensor.zeros(2, 4), dw = Tensor.zeros(4, 3), db = Tensor.zeros(4)
                Linear.backward(
                    input: .zeros(2, 4), weight: .zeros(4, 3), dOutput: .zeros(2, 3),
                    dInput: &dx, dWeight: &dw, dBias: &db)
            }
        }
    }
}
