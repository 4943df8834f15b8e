import Testing
import TensorCore

@Suite struct BorrowTests {
    @Test func `read hands out each buffer's own storage, in argument order`() {
        let a = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        let b: [Int32] = [7, 8, 9]
        let c = Tensor(shape: [1], scalars: [10])
        Borrow.read(a, b, c) { pa, pb, pc in
            #expect(pa == a.scalars.withUnsafeBufferPointer { $0.baseAddress })
            #expect(pb == b.withUnsafeBufferPointer { $0.baseAddress })
            #expect(Array(UnsafeBufferPointer(start: pa, count: 6)) == [1, 2, 3, 4, 5, 6])
            #expect(Array(UnsafeBufferPointer(start: pb, count: 3)) == [7, 8, 9])
            #expect(pc[0] == 10)
        }
    }

    @Test(arguments: 1...8)
    func `every read arity passes its buffers in order`(arity: Int) {
        let t = (0..<8).map { Tensor(shape: [2], scalars: [Float($0), Float($0) + 0.5]) }
        var seen: [Float] = []
        func record(_ ps: UnsafePointer<Float>...) { seen = ps.flatMap { [$0[0], $0[1]] } }
        switch arity {
        case 1: Borrow.read(t[0]) { record($0) }
        case 2: Borrow.read(t[0], t[1]) { record($0, $1) }
        case 3: Borrow.read(t[0], t[1], t[2]) { record($0, $1, $2) }
        case 4: Borrow.read(t[0], t[1], t[2], t[3]) { record($0, $1, $2, $3) }
        case 5: Borrow.read(t[0], t[1], t[2], t[3], t[4]) { record($0, $1, $2, $3, $4) }
        case 6: Borrow.read(t[0], t[1], t[2], t[3], t[4], t[5]) { record($0, $1, $2, $3, $4, $5) }
        case 7: Borrow.read(t[0], t[1], t[2], t[3], t[4], t[5], t[6]) { record($0, $1, $2, $3, $4, $5, $6) }
        default: Borrow.read(t[0], t[1], t[2], t[3], t[4], t[5], t[6], t[7]) { record($0, $1, $2, $3, $4, $5, $6, $7) }
        }
        #expect(seen == (0..<arity).flatMap { [Float($0), Float($0) + 0.5] })
    }

    @Test func `writes through several mutable borrows reach each variable`() {
        var a = Tensor(shape: [2, 2])
        var b = [Float](repeating: 0, count: 3)
        var c: [Int32] = [0, 0]
        var d = Tensor(shape: [1])
        var e = [UInt64](repeating: 0, count: 1)
        Borrow.update(&a, &b, &c, &d, &e) { pa, pb, pc, pd, pe in
            for i in 0..<4 { pa[i] = Float(i + 1) }
            pb[2] = 9
            pc[1] = -3
            pd[0] = 0.25
            pe[0] = .max
        }
        #expect(a.scalars == [1, 2, 3, 4])
        #expect(b == [0, 0, 9])
        #expect(c == [0, -3])
        #expect(d.scalars == [0.25])
        #expect(e == [.max])
    }

    @Test func `a mutable borrow of shared storage writes a private copy, never the other value`() {
        let original = Tensor(shape: [3], scalars: [1, 2, 3])
        var copy = original  // shares the buffer copy-on-write
        Borrow.update(&copy) { p in p[0] = 100 }
        #expect(original.scalars == [1, 2, 3])
        #expect(copy.scalars == [100, 2, 3])
        // Once unique, the borrow is the variable's own storage.
        let base = copy.scalars.withUnsafeBufferPointer { $0.baseAddress }
        Borrow.update(&copy) { p in #expect(UnsafePointer(p) == base) }
    }

    @Test func `different stored properties of one struct borrow together`() {
        struct Scratch { var hidden = [Float](repeating: 0, count: 4); var logits = Tensor(shape: [2]) }
        var s = Scratch()
        Borrow.update(&s.hidden, &s.logits) { h, z in
            h[3] = 1
            z[1] = 2
        }
        #expect(s.hidden == [0, 0, 0, 1])
        #expect(s.logits.scalars == [0, 2])
    }

    @Test func `empty tensors and arrays borrow a non-null pointer and run count-zero loops`() {
        var empty = Tensor(shape: [0, 4])
        var none: [Float] = []
        let alsoEmpty = Tensor(shape: [0])
        var visited = 0
        let n = empty.count, m = none.count, k = alsoEmpty.count
        Borrow.update(&empty, &none) { p, q in
            for i in 0..<n { p[i] = 1; visited += 1 }
            for i in 0..<m { q[i] = 1; visited += 1 }
            Borrow.read(alsoEmpty) { r in
                #expect(Int(bitPattern: r) != 0)
                for i in 0..<k { visited += Int(r[i]) }
            }
        }
        #expect(visited == 0)
        #expect(empty.shape == [0, 4] && none.isEmpty)
    }

    @Test(arguments: [0, 1, 3, 9])
    func `update each borrows every tensor of an array at once`(count: Int) {
        var tensors = (0..<count).map { Tensor(shape: [2], scalars: [Float($0), 0]) }
        let shared = tensors  // every tensor shared: each borrow must unshare its own
        let n = Borrow.update(each: &tensors) { bases in
            for p in bases { p[1] = p[0] * 10 + 1 }
            return bases.count
        }
        #expect(n == count)
        for i in 0..<count {
            #expect(tensors[i].scalars == [Float(i), Float(i) * 10 + 1])
            #expect(shared[i].scalars == [Float(i), 0])
        }
    }
}
