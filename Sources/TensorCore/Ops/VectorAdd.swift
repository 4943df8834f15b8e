/// `dst[0 ..< count] += src[0 ..< count]`, eight lanes at a time: the short row additions of
/// scatter-adds (an embedding row's gradient), where the compiler does not vectorise a scalar
/// loop over two pointers it cannot prove disjoint. The ranges must not overlap.
public enum VectorAdd {
    @inline(__always)
    public static func add(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, count: Int) {
        typealias V = SIMD8<Float>
        let s = UnsafeRawPointer(src), t = UnsafeMutableRawPointer(dst)
        let stride = MemoryLayout<Float>.stride
        var j = 0
        while j + 8 <= count {
            let o = j * stride
            t.storeBytes(of: t.loadUnaligned(fromByteOffset: o, as: V.self) + s.loadUnaligned(fromByteOffset: o, as: V.self),
                         toByteOffset: o, as: V.self)
            j += 8
        }
        while j < count {
            dst[j] += src[j]
            j += 1
        }
    }
}
