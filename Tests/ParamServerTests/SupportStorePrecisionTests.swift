#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import ParamServer

/// bfloat16 support rows (issue 23, part 5): what a bf16 store serves, its snapshots in both
/// directions, and its bytes per task against float32's.
@Suite struct SupportStorePrecisionTests {
    /// W = 6 values a row, the last 2 bit patterns (an item key); L = 2; S_max = 5.
    static let (w, x, l, s) = (6, 2, 2, 5)

    static func store(_ precision: SupportPrecision, bitPatterns: Int = x) throws -> SupportStore {
        try SupportStore(config: .init(rowWidth: w, labelWidth: l, capacity: s, shardCount: 4, precision: precision,
                                       bitPatternColumns: bitPatterns))
    }

    /// `rows` rows per task for tasks 1…3: numeric values of several magnitudes, then a key whose
    /// halves include NaN-looking bit patterns (which must come back bit for bit).
    static func rows(_ rows: Int, seed: UInt64) -> [(task: UInt64, features: [Float], labels: [Float], time: Timestamp)] {
        var rng = SplitMix(seed: seed)
        return (0..<rows).flatMap { r in
            (UInt64(1)...3).map { task in
                var f = (0..<(w - x)).map { _ in rng.value() }
                f.append(Float(bitPattern: 0x7FC0_0000 | UInt32(r)))        // a quiet-NaN pattern
                f.append(Float(bitPattern: 0xFF80_0001 &+ UInt32(task)))   // a signalling-NaN pattern
                return (task, f, [rng.value(), Float(r)], Timestamp.seconds(Int64(100 * r) + Int64(task)))
            }
        }
    }

    static func append(_ store: SupportStore, _ rows: [(task: UInt64, features: [Float], labels: [Float], time: Timestamp)]) {
        for r in rows { appendRow(store, task: r.task, features: r.features, labels: r.labels, at: r.time) }
    }

    /// What a bf16 store must serve for `features`: numeric columns rounded, bit patterns as given.
    static func rounded(_ features: [Float], bitPatterns: Int = x) -> [UInt32] {
        features.enumerated().map { i, v in i % w < w - bitPatterns ? BFloat16.widen(BFloat16.narrow(v)).bitPattern : v.bitPattern }
    }

    /// The newest S_max rows of `task` in `rows`, oldest first.
    static func expected(_ rows: [(task: UInt64, features: [Float], labels: [Float], time: Timestamp)], task: UInt64)
        -> (features: [Float], labels: [Float]) {
        let mine = rows.filter { $0.task == task }.suffix(s)
        return (mine.flatMap(\.features), mine.flatMap(\.labels))
    }

    // One row, a growing block, a full ring, a wrapped ring; with and without bit-pattern columns
    // (without, the rows are widened in one loop).
    @Test(arguments: [1, 3, 5, 12], [x, 0])
    func `a bf16 store serves each value rounded to nearest even, keys, labels and times exact`(rowsPerTask: Int, bitPatterns: Int) throws {
        let store = try Self.store(.bfloat16, bitPatterns: bitPatterns)
        let rows = Self.rows(rowsPerTask, seed: UInt64(rowsPerTask))
        Self.append(store, rows)
        for task in UInt64(1)...3 {
            let (n, f, y) = pullSupport(store, task: task)
            let want = Self.expected(rows, task: task)
            #expect(n == min(rowsPerTask, Self.s))
            #expect(f.map(\.bitPattern) == Self.rounded(want.features, bitPatterns: bitPatterns), "task \(task): features")
            for (got, given) in zip(f, want.features) where !given.isNaN && !got.isNaN {
                #expect((got - given).magnitude <= given.magnitude * 0x1p-8, "within half a bf16 ulp")
            }
            #expect(y == want.labels, "task \(task): labels are float32")
        }
        var times = [Timestamp](repeating: .zero, count: Self.s)
        var f = [Float](repeating: 0, count: Self.s * Self.w), y = [Float](repeating: 0, count: Self.s * Self.l)
        let n = f.withUnsafeMutableBufferPointer { fb in
            y.withUnsafeMutableBufferPointer { yb in times.withUnsafeMutableBufferPointer { store.pull(task: 2, features: fb, labels: yb, timestamps: $0) } }
        }
        #expect(Array(times[..<n]) == rows.filter { $0.task == 2 }.suffix(Self.s).map(\.time))
    }

    @Test func `a float32 store still serves exactly what was appended`() throws {
        let store = try Self.store(.float32)
        let rows = Self.rows(7, seed: 9)
        Self.append(store, rows)
        let (_, f, _) = pullSupport(store, task: 3)
        #expect(f.map(\.bitPattern) == Self.expected(rows, task: 3).features.map(\.bitPattern))
    }

    @Test func `the row encoding is validated`() {
        #expect(throws: ParamServerError.self) { try Self.store(.bfloat16, bitPatterns: Self.w + 1) }
        #expect(throws: ParamServerError.self) { try Self.store(.bfloat16, bitPatterns: -1) }
    }

    static func temporaryPath(_ name: String) -> String {
        var template = Array("/tmp/support-precision-XXXXXX".utf8CString)
        return template.withUnsafeMutableBufferPointer { String(cString: mkdtemp($0.baseAddress!)!) } + "/" + name
    }

    static func formatVersion(_ path: String) -> UInt32 {
        let f = fopen(path, "rb")!
        defer { fclose(f) }
        var header = [UInt8](repeating: 0, count: 12)
        _ = fread(&header, 1, 12, f)
        return UInt32(header[8]) | UInt32(header[9]) << 8 | UInt32(header[10]) << 16 | UInt32(header[11]) << 24
    }

    @Test func `snapshots: bf16 is format version 2, float32 stays version 1, and each restores into either precision`() throws {
        let rows = Self.rows(8, seed: 21)
        let f32 = try Self.store(.float32), bf16 = try Self.store(.bfloat16)
        Self.append(f32, rows)
        Self.append(bf16, rows)
        let f32Path = Self.temporaryPath("f32.snapshot"), bf16Path = Self.temporaryPath("bf16.snapshot")
        try f32.snapshot(to: f32Path, journalPosition: 7)
        try bf16.snapshot(to: bf16Path, journalPosition: 9)
        #expect(Self.formatVersion(f32Path) == 1 && Self.formatVersion(bf16Path) == 2)

        for (path, journal) in [(f32Path, UInt64(7)), (bf16Path, 9)] {
            for precision in SupportPrecision.allCases {
                let restored = try Self.store(precision)
                #expect(try restored.restore(from: path) == journal)
                for task in UInt64(1)...3 {
                    let want = Self.expected(rows, task: task)
                    // Rounded whenever either side is bf16 (rounding a rounded value changes nothing).
                    let exact = path == f32Path && precision == .float32
                    let (_, f, y) = pullSupport(restored, task: task)
                    #expect(f.map(\.bitPattern) == (exact ? want.features.map(\.bitPattern) : Self.rounded(want.features)),
                            "\(path) into \(precision): task \(task)")
                    #expect(y == want.labels)
                }
                #expect(restored.statistics.taskBytes == Self.store(precision, filledWith: rows).statistics.taskBytes)
            }
        }
        // Written back at bf16, a restored bf16 snapshot is byte for byte the same file.
        let again = try Self.store(.bfloat16)
        try again.restore(from: bf16Path)
        let rewritten = Self.temporaryPath("again.snapshot")
        try again.snapshot(to: rewritten, journalPosition: 9)
        #expect(Self.bytes(rewritten) == Self.bytes(bf16Path))
    }

    static func store(_ precision: SupportPrecision, filledWith rows: [(task: UInt64, features: [Float], labels: [Float], time: Timestamp)]) -> SupportStore {
        let store = try! Self.store(precision)
        append(store, rows)
        return store
    }

    static func bytes(_ path: String) -> [UInt8] {
        let f = fopen(path, "rb")!
        defer { fclose(f) }
        var out: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = fread(&buffer, 1, buffer.count, f)
            if n == 0 { break }
            out += buffer[..<n]
        }
        return out
    }

    @Test func `a bf16 snapshot with an unknown row encoding is refused`() throws {
        let bf16 = try Self.store(.bfloat16)
        Self.append(bf16, Self.rows(2, seed: 1))
        let path = Self.temporaryPath("bad.snapshot")
        try bf16.snapshot(to: path)
        var raw = Self.bytes(path)
        raw[56] = 7   // the sixth header field
        let sum = raw[0..<64].withUnsafeBytes { SnapshotChecksum.of($0) }
        withUnsafeBytes(of: sum.littleEndian) { for i in 0..<8 { raw[64 + i] = $0[i] } }
        let f = fopen(path, "wb")!
        _ = fwrite(raw, 1, raw.count, f)
        fclose(f)
        #expect { try Self.store(.float32).restore(from: path) } throws: { "\($0)".contains("unknown support row encoding 7") }
    }

    @Test func `a bf16 snapshot names its bit-pattern columns, and a store keeping others refuses it`() throws {
        let bf16 = try Self.store(.bfloat16)
        Self.append(bf16, Self.rows(2, seed: 4))
        let path = Self.temporaryPath("columns.snapshot")
        try bf16.snapshot(to: path)
        let raw = Self.bytes(path)
        #expect(raw[56] == 2 && raw[57] == UInt8(Self.x), "low byte bf16, next byte X")
        for other in [0, 1] {
            #expect { try Self.store(.bfloat16, bitPatterns: other).restore(from: path) } throws: {
                "\($0)".contains("its rows end in \(Self.x) bit-pattern columns; this store's in \(other)")
            }
        }
    }
}

/// Memory per task at bf16 against float32, by the stores' own accounting (issue 23, part 5:
/// "memory per task with bf16 rows ≈ half of float32").
@Suite struct SupportPrecisionMemoryTests {
    /// Full tasks of `S_max` rows in a fresh store of `precision`: (charged bytes a task, heap
    /// bytes a task from ``SupportStoreStatistics/bytes``).
    static func perTask(w: Int, l: Int, capacity: Int, precision: SupportPrecision, tasks: Int) throws -> (charged: Int, heap: Double) {
        let store = try SupportStore(config: .init(rowWidth: w, labelWidth: l, capacity: capacity, precision: precision))
        let empty = store.statistics.bytes
        let row = [Float](repeating: 0.25, count: w), labels = [Float](repeating: 1, count: l)
        for t in 0..<tasks {
            for _ in 0..<capacity { appendRow(store, task: UInt64(t) &* 0x9E37_79B9_7F4A_7C15, features: row, labels: labels) }
        }
        let stats = store.statistics
        #expect(stats.tasks == tasks && stats.rows == tasks * capacity)
        #expect(stats.bytesPerTask == Double(store.taskBytes(rows: capacity)), "every task is charged its full block")
        return (store.taskBytes(rows: capacity), Double(stats.bytes - empty) / Double(tasks))
    }

    // (W, L): the reference serving model (K = 2 tasks × H = 64), the MovieLens warm model (2 × 32),
    // and a narrow row where the unchanged columns dominate.
    @Test(arguments: [(128, 2), (64, 2), (4, 1)])
    func `bf16 rows halve the feature bytes of a task; labels and times are unchanged`(shape: (w: Int, l: Int)) throws {
        let s = 64, tasks = 256
        let f32 = try Self.perTask(w: shape.w, l: shape.l, capacity: s, precision: .float32, tasks: tasks)
        let bf16 = try Self.perTask(w: shape.w, l: shape.l, capacity: s, precision: .bfloat16, tasks: tasks)
        // Exactly the features' 2 bytes a value saved, up to the block's padding and the allocator's granule.
        #expect(abs(f32.charged - bf16.charged - s * 2 * shape.w) <= 32)
        #expect(abs(f32.heap - bf16.heap - Double(s * 2 * shape.w)) <= 64)
        // What is left over half: the unchanged columns (labels, event and write times, version: 4L + 24 bytes a row).
        let unchanged = s * (4 * shape.l + 24)
        #expect(Double(bf16.charged) <= Double(f32.charged + unchanged) / 2 + 64)
        let redis = try RedisSupportStore(address: RedisAddress(host: "127.0.0.1", port: 1),
                                          config: .init(rowWidth: shape.w, labelWidth: shape.l, capacity: s, precision: .bfloat16))
        #expect(redis.rowBytes(.float32) - redis.rowBytes == 2 * shape.w, "a Redis row saves the same 2 bytes a value")
        print("support memory W = \(shape.w), L = \(shape.l), S_max = \(s): f32 \(f32.charged) B a task charged (heap \(f32.heap)), "
              + "bf16 \(bf16.charged) B (heap \(bf16.heap)), ratio \(Double(bf16.charged) / Double(f32.charged)); "
              + "block bytes a row f32 \(Double(f32.charged) / Double(s)), bf16 \(Double(bf16.charged) / Double(s)); "
              + "Redis row bytes f32 \(redis.rowBytes(.float32)), bf16 \(redis.rowBytes)")
    }
}
