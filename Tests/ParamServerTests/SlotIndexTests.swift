import Testing
@testable import ParamServer

@Suite struct SlotIndexTests {
    /// Drives `index` and a `[key: slot]` reference through the slab's swap-remove protocol.
    final class Harness {
        var index = SlotIndex()
        var keys: [UInt64] = []          // slot → key (dense, swap-remove like the slab)
        var reference: [UInt64: Int] = [:]

        func insert(_ key: UInt64) {
            guard reference[key] == nil else { return }
            index.insert(key, hash: mixKey(key), slot: keys.count) { self.keys[$0] }
            reference[key] = keys.count
            keys.append(key)
        }

        func remove(slot: Int) {
            let key = keys[slot]
            index.remove(slot: slot, hash: mixKey(key))
            reference[key] = nil
            let last = keys.count - 1
            if slot != last {
                keys[slot] = keys[last]
                index.move(hash: mixKey(keys[slot]), from: last, to: slot)
                reference[keys[slot]] = slot
            }
            keys.removeLast()
        }

        func verify(absent: UInt64) {
            let k = keys
            for (key, slot) in reference { #expect(index.find(key, hash: mixKey(key)) { k[$0] } == slot) }
            #expect(index.find(absent, hash: mixKey(absent)) { k[$0] } == nil)
            #expect(index.count == reference.count)
            #expect(index.isConsistent { k[$0] })
        }
    }

    @Test(arguments: [1, 7, 5000])
    func `random inserts and removals agree with a dictionary`(seed: Int) {
        let h = Harness()
        defer { h.index.deallocate() }
        var state = UInt64(seed)
        func next() -> UInt64 { state = mixKey(state); return state }
        for step in 0..<20_000 {
            let r = next()
            if r % 3 != 0 || h.keys.isEmpty {
                h.insert(next() % 50_000)
            } else {
                h.remove(slot: Int(next() % UInt64(h.keys.count)))
            }
            if step % 997 == 0 { h.verify(absent: 1 << 40) }
        }
        h.verify(absent: 1 << 40)
        // Entries plus tombstones never exceed the rebuild threshold (0.9).
        if h.index.capacity > 64 {
            #expect(Double(h.index.count + h.index.tombstones) / Double(h.index.capacity) <= SlotIndex.maximumLoad)
        }
    }

    /// Deletion-heavy: fill to just under the growth threshold (load ≈ 0.895, long runs, a few
    /// saturated distances ≥ 31), then alternate bursts of removals and re-inserts at that load,
    /// so Robin Hood displacement and the backward shift run through saturated entries and
    /// wrap-around at the table's end.
    @Test(arguments: [3, 11])
    func `deletion-heavy churn at high load agrees with a dictionary`(seed: Int) {
        let h = Harness()
        defer { h.index.deallocate() }
        var state = UInt64(seed)
        func next() -> UInt64 { state = mixKey(state); return state }
        // Grow once to a capacity, then fill it to 0.895 without triggering another growth.
        while h.index.capacity < 20_000 { h.insert(next()) }
        let capacity = h.index.capacity
        while (h.keys.count + 1) * 1000 <= capacity * 895 { h.insert(next()) }
        #expect(h.index.capacity == capacity)
        var sawSaturated = h.index.saturatedBuckets > 0, mostTombstones = 0
        for round in 0..<30 {
            // Remove 30 % of the rows, then refill to the same load: inserts take tombstones over,
            // and purge them in place (same capacity) when entries + tombstones reach 0.9.
            for _ in 0..<(h.keys.count * 3 / 10) { h.remove(slot: Int(next() % UInt64(h.keys.count))) }
            mostTombstones = max(mostTombstones, h.index.tombstones)
            if round % 10 == 0 { h.verify(absent: 1 << 63) }
            while (h.keys.count + 1) * 1000 <= capacity * 895 { h.insert(next()) }
            if round % 10 == 5 { h.verify(absent: 1 << 63) }
            sawSaturated = sawSaturated || h.index.saturatedBuckets > 0
        }
        #expect(h.index.capacity == capacity, "tombstones are purged in place, not by growing")
        #expect(mostTombstones * 16 >= capacity, "the test must exercise tombstones at the purge threshold")
        #expect(sawSaturated, "the test must exercise saturated probe distances")
        h.verify(absent: 1 << 63)
        // Drain completely: every removal leaves a consistent index.
        while !h.keys.isEmpty {
            h.remove(slot: Int(next() % UInt64(h.keys.count)))
            if h.keys.count % 4_099 == 0 { h.verify(absent: 1 << 63) }
        }
        #expect(h.index.count == 0)
        #expect(h.index.tombstones == 0, "emptying a run clears the tombstones before it")
        #expect(h.index.isConsistent { _ in 0 })
    }
}
