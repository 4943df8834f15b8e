import Foundation
import Testing
import Retrieval
import TensorCore
import TestSupport

@Suite struct SampledSoftmaxTests {
    /// The loss from its definition, in Double: logits with log Q subtracted, accidental hits removed.
    static func reference(u: Tensor, v: Tensor, ids: [Int32], queue: NegativeQueue, logQ: [Float]?, tau: Double) -> Double {
        let (b, d) = (u.shape[0], u.shape[1])
        var loss = 0.0
        for row in 0..<b {
            var logits: [Double] = [], positive = 0.0
            for j in 0..<(b + queue.count) {
                let c = j < b ? v.row(j) : queue.embeddings.row(j - b)
                let id = j < b ? ids[j] : queue.ids[j - b]
                if j != row && id == ids[row] { continue }
                var s = 0.0
                for k in 0..<d { s += Double(u.scalars[row * d + k]) * Double(c[k]) }
                s = s / tau - Double(logQ?[j] ?? 0)
                if j == row { positive = s }
                logits.append(s)
            }
            let peak = logits.max()!
            loss += -(positive - peak - log(logits.reduce(0) { $0 + exp($1 - peak) }))
        }
        return loss
    }

    static func queue(_ rows: Int, ids: [Int32], d: Int, seed: UInt64) -> NegativeQueue {
        var q = NegativeQueue(capacity: 8, dimension: d)
        if rows > 0 { q.push(randomTensor([rows, d], seed: seed), itemIDs: ids) }
        return q
    }

    static let cases: [(b: Int, ids: [Int32], queueIDs: [Int32], logQ: Bool)] = [
        (1, [3], [], false),
        (4, [0, 1, 2, 3], [], false),
        (4, [0, 1, 1, 3], [5, 1, 6], true),        // a duplicate positive in the batch and in the queue
        (5, [2, 2, 7, 8, 2], [2, 9, 7, 0, 4, 4], true),
    ]

    @Test(arguments: cases.indices)
    func `loss matches the definition with logQ and masked accidental hits`(index: Int) {
        let c = Self.cases[index], d = 3
        let u = randomTensor([c.b, d], seed: 21), v = randomTensor([c.b, d], seed: 22)
        let q = Self.queue(c.queueIDs.count, ids: c.queueIDs, d: d, seed: 23)
        let logQ: [Float]? = c.logQ ? (0..<(c.b + q.count)).map { -Float($0 % 3) - 0.5 } : nil
        var ws = SampledSoftmaxWorkspace()
        let loss = SampledSoftmax.forward(users: u, items: v, itemIDs: c.ids, queue: q, logQ: logQ, temperature: 0.3, workspace: &ws)
        expectClose(loss, Self.reference(u: u, v: v, ids: c.ids, queue: q, logQ: logQ, tau: 0.3), rtol: 1e-5)
    }

    @Test(arguments: cases.indices)
    func `backward matches finite differences for users and items`(index: Int) {
        let c = Self.cases[index], d = 3, tau: Float = 0.5
        let u = randomTensor([c.b, d], seed: 31), v = randomTensor([c.b, d], seed: 32)
        let q = Self.queue(c.queueIDs.count, ids: c.queueIDs, d: d, seed: 33)
        let logQ: [Float]? = c.logQ ? (0..<(c.b + q.count)).map { -Float($0 % 4) * 0.7 } : nil
        var ws = SampledSoftmaxWorkspace()
        _ = SampledSoftmax.forward(users: u, items: v, itemIDs: c.ids, queue: q, logQ: logQ, temperature: tau, workspace: &ws)
        var du = Tensor(shape: [c.b, d]), dv = Tensor(shape: [c.b, d])
        SampledSoftmax.backward(users: u, items: v, queue: q, temperature: tau, scale: 0.5, workspace: &ws, dUsers: &du, dItems: &dv)
        func loss(_ uu: Tensor, _ vv: Tensor) -> Double {
            0.5 * Self.reference(u: uu, v: vv, ids: c.ids, queue: q, logQ: logQ, tau: Double(tau))
        }
        gradientCheck(du, of: { loss($0, v) }, at: u, step: 1e-3, "dUsers")
        gradientCheck(dv, of: { loss(u, $0) }, at: v, step: 1e-3, "dItems")
    }

    @Test func `an accidental hit neither adds to the denominator nor gets a gradient`() {
        // Rows 0 and 1 share the positive 7: row 0 must not count v_1 as a negative.
        let u = Tensor(rows: [[1, 0], [0, 1], [1, 1]]), v = Tensor(rows: [[1, 0], [1, 0], [0, 1]])
        let q = NegativeQueue(capacity: 0, dimension: 2)
        var ws = SampledSoftmaxWorkspace()
        let loss = SampledSoftmax.forward(users: u, items: v, itemIDs: [7, 7, 8], queue: q, logQ: nil, temperature: 1, workspace: &ws)
        // row 0: candidates v_0 (s=1), v_2 (s=0); row 1: v_1 (0), v_2 (1); row 2: v_0 (1), v_1 (1), v_2 (1)
        let expected = (log(exp(1) + 1) - 1) + (log(1 + exp(1)) - 0) + log(3.0)
        expectClose(loss, expected, rtol: 1e-6)
    }

    @Test func `logQ is subtracted: a higher sampling probability lowers that candidate's logit`() {
        let u = Tensor(rows: [[1, 0], [0, 1]]), v = Tensor(rows: [[1, 0], [0, 1]])
        let q = NegativeQueue(capacity: 0, dimension: 2)
        var ws = SampledSoftmaxWorkspace()
        let plain = SampledSoftmax.forward(users: u, items: v, itemIDs: [0, 1], queue: q, logQ: [0, 0], temperature: 1, workspace: &ws)
        // Item 1 frequent (log Q = 0), item 0 rare (log Q = −2): row 0's positive gains 2, row 1's negative gains 2.
        let corrected = SampledSoftmax.forward(users: u, items: v, itemIDs: [0, 1], queue: q, logQ: [-2, 0], temperature: 1, workspace: &ws)
        expectClose(plain, 2 * (log(exp(1) + 1) - 1), rtol: 1e-6)
        expectClose(corrected, (log(exp(3) + exp(0)) - 3) + (log(exp(2) + exp(1)) - 1), rtol: 1e-6)
    }
}

@Suite struct NegativeQueueTests {
    @Test func `the queue keeps the newest entries in FIFO order`() {
        var q = NegativeQueue(capacity: 3, dimension: 1)
        q.push(Tensor(rows: [[1], [2]]), itemIDs: [1, 2])
        #expect(q.count == 2 && Array(q.ids.prefix(2)) == [1, 2])
        q.push(Tensor(rows: [[3], [4]]), itemIDs: [3, 4])   // 1 is evicted: slot 0 now 4
        #expect(q.count == 3 && q.ids == [4, 2, 3] && q.embeddings.scalars == [4, 2, 3])
        q.push(Tensor(rows: [[5], [6], [7], [8]]), itemIDs: [5, 6, 7, 8])  // larger than the queue: the last 3
        #expect(Set(q.ids) == [6, 7, 8] && Set(q.embeddings.scalars) == [6, 7, 8])
    }
}

@Suite struct ItemFrequencyEstimatorTests {
    @Test func `estimates converge to each item's batch probability`() {
        var e = ItemFrequencyEstimator(items: 4, rate: 0.02, initialGap: 50)
        var rng = SeededRandom(seed: 7)
        for t in 1...4000 {
            var batch: [Int32] = [0, 0]                   // every step (twice: counted once)
            if t % 4 == 0 { batch.append(1) }            // every 4th step
            if rng.nextUniform() < 0.1 { batch.append(2) } // Bernoulli(0.1); item 3 never
            e.observe(batch)
        }
        expectClose(e.probability(0), 1, rtol: 1e-6)
        expectClose(e.probability(1), 0.25, rtol: 1e-3)
        expectClose(e.probability(2), 0.1, rtol: 0.25)
        expectClose(e.probability(3), 1.0 / 50, rtol: 1e-9)
        #expect(e.logProbability(1) < e.logProbability(0))
    }
}
