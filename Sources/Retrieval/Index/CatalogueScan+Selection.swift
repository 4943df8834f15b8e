import TensorCore

extension CatalogueScan {
    /// The candidates that still reach the final threshold, re-scored in fp32 (int8; the fp32
    /// scan's bounds are already the exact scores), then the `k` best by (score desc, id asc).
    mutating func selectCandidates(_ q: UnsafePointer<Float>, dimension d: Int, k: Int) {
        let threshold = state.threshold
        if scratchIds.count < state.count {
            scratchIds = [Int32](repeating: 0, count: state.ids.count)
            scratchScores = [Float](repeating: 0, count: state.ids.count)
        }
        // One borrow of the state's buffers (a cross-module array getter per element would
        // retain and release the array each time).
        let held = state.count
        let m = Borrow.read(state.ids, state.bounds) { ids, bounds in
            Borrow.update(&scratchIds, &scratchScores) { outIds, outScores in
                var m = 0
                for c in 0..<held where !(bounds[c] < threshold) {
                    (outIds[m], outScores[m]) = (ids[c], bounds[c])
                    m += 1
                }
                return m
            }
        }
        if precision == .int8 {
            let level = self.level
            Borrow.read(items, scratchIds) { v, i in
                Borrow.update(&scratchScores) { TopNScan.scoreRows(v, dimension: d, query: q, ids: i, first: 0, count: m, out: $0, level: level) }
            }
        }
        rescored = precision == .int8 ? m : 0
        count = Borrow.update(&scores, &ids) { s, i in
            Borrow.read(scratchScores, scratchIds) { cs, ci in
                var heap = TopKSelection(scores: s, ids: i, k: k)
                for c in 0..<m where cs[c] >= heap.threshold && cs[c] > -.infinity { heap.offer(cs[c], ci[c]) }
                return heap.finish()
            }
        }
    }

    /// The fallback: every item scored exactly from `V`, a block at a time.
    mutating func scoreEverything(_ q: UnsafePointer<Float>, dimension d: Int, k: Int) {
        let n = items.shape[0], block = 4096, level = self.level
        if scratchScores.count < block { scratchScores = [Float](repeating: 0, count: block); scratchIds = [Int32](repeating: 0, count: block) }
        (rescored, fellBack) = (n, true)
        count = Borrow.update(&scores, &ids, &scratchScores) { s, i, block_ in
            Borrow.read(items, excludedBits) { v, x in
                var heap = TopKSelection(scores: s, ids: i, k: k)
                var start = 0
                while start < n {
                    let rows = min(block, n - start)
                    TopNScan.scoreRows(v, dimension: d, query: q, ids: nil, first: start, count: rows, out: block_, level: level)
                    for r in 0..<rows {
                        let (value, id) = (block_[r], start + r)
                        guard value >= heap.threshold && value > -.infinity, (x[id >> 6] >> UInt64(id & 63)) & 1 == 0 else { continue }
                        heap.offer(value, Int32(id))
                    }
                    start += rows
                }
                return heap.finish()
            }
        }
    }
}
