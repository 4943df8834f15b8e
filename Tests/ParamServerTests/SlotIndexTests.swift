import Testing
@testable import ParamServer

@Suite struct SlotIndexTests {
    @Test(arguments: [1, 7, 5000])
    func `random inserts and removals agree with a dictionary`(seed: Int) {
        var index = SlotIndex()
        defer { index.deallocate() }
        var keys: [UInt64] = []          // slot → key (dense, swap-remove like the slab)
        var reference: [UInt64: Int] = [:]
        var state = UInt64(seed)
        func next() -> UInt64 { state = mixKey(state); return state }
        for step in 0..<20_000 {
            let r = next()
            if r % 3 != 0 || keys.isEmpty {
                let key = next() % 50_000
                if reference[key] == nil {
                    index.insert(key, hash: mixKey(key), slot: keys.count) { keys[$0] }
                    reference[key] = keys.count
                    keys.append(key)
                }
            } else {
                let slot = Int(next() % UInt64(keys.count))
                let key = keys[slot]
                index.remove(slot: slot, hash: mixKey(key)) { keys[$0] }
                reference[key] = nil
                let last = keys.count - 1
                if slot != last {
                    keys[slot] = keys[last]
                    index.move(hash: mixKey(keys[slot]), from: last, to: slot)
                    reference[keys[slot]] = slot
                }
                keys.removeLast()
            }
            if step % 997 == 0 {
                for (key, slot) in reference { #expect(index.find(key, hash: mixKey(key)) { keys[$0] } == slot) }
                #expect(index.find(1 << 40, hash: mixKey(1 << 40)) { keys[$0] } == nil)
            }
        }
        #expect(index.count == reference.count)
        // Load factor stays within [0.57, 0.85] once grown.
        if index.capacity > 64 { #expect(Double(index.count) / Double(index.capacity) <= 0.85) }
    }
}
