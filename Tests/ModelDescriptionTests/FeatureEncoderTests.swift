import Foundation
import Testing
@testable import ModelDescription
import ModelMath

/// FNV-1a-64 + fmix64 written as plainly as possible, independent of ``FeatureKey``.
private func referenceKey(_ feature: String, _ value: String) -> UInt64 {
    var bytes = Array(feature.utf8)
    bytes.append(0x1F)
    bytes += Array(value.utf8)
    var h: UInt64 = 14_695_981_039_346_656_037  // FNV offset basis
    for b in bytes {
        h ^= UInt64(b)
        h = h &* 1_099_511_628_211  // FNV prime
    }
    h ^= h >> 33
    h = h &* 0xff51afd7ed558ccd
    h ^= h >> 33
    h = h &* 0xc4ceb9fe1a85ec53
    h ^= h >> 33
    return h
}

private let config = ModelConfig(
    taskKey: "user", time: "ts",
    features: [
        .init(name: "user", kind: .categorical),
        .init(name: "genres", kind: .multiCategorical(separator: "|", pooling: .mean)),
        .init(name: "age", kind: .numeric(normalization: .standard)),
        .init(name: "clicks", kind: .numeric(normalization: .log1p)),
        .init(name: "raw", kind: .numeric(normalization: .none)),
        .init(name: "city", kind: .categorical),
    ],
    labels: [.init(name: "like", kind: .binary), .init(name: "rating", kind: .regression)])

private let statistics = NumericStatistics(moments: ["age": NumericMoments(count: 4, mean: 30, m2: 4 * 25)])

/// Encodes one row given as strings in ``FeatureEncoder/columns`` order.
private func encode(_ encoder: FeatureEncoder, _ values: [String]) throws(FeatureEncoderError) -> EncodedBatch {
    var batch = encoder.makeBatch()
    var scratch = FeatureEncoder.Scratch()
    let bytes = values.map { Array($0.utf8) }
    var result: Result<Void, FeatureEncoderError> = .success(())
    withRawBuffers(bytes) { fields in
        do throws(FeatureEncoderError) {
            try encoder.encodeRow(fields, into: &batch, scratch: &scratch)
        } catch {
            result = .failure(error)
        }
    }
    try result.get()
    return batch
}

/// Calls `body` with raw buffers over each byte array (kept alive for the call).
private func withRawBuffers(_ arrays: [[UInt8]], _ body: (UnsafeBufferPointer<UnsafeRawBufferPointer>) throws -> Void) rethrows {
    let flat = arrays.flatMap { $0 }
    var offsets = [0]
    for a in arrays { offsets.append(offsets.last! + a.count) }
    try flat.withUnsafeBytes { raw in
        let fields = (0..<arrays.count).map { UnsafeRawBufferPointer(rebasing: raw[offsets[$0]..<offsets[$0 + 1]]) }
        try fields.withUnsafeBufferPointer(body)
    }
}

private func row(user: String = "u1", ts: String = "100", genres: String = "a|b", age: String = "35",
                 clicks: String = "0", raw: String = "2.5", city: String = "Paris",
                 like: String = "1", rating: String = "4") -> [String] {
    // columns: user, ts, genres, age, clicks, raw, city, like, rating
    [user, ts, genres, age, clicks, raw, city, like, rating]
}

/// Batch equality with NaN labels (missing) equal to each other.
private func same(_ a: EncodedBatch, _ b: EncodedBatch) -> Bool {
    var a = a, b = b
    guard a.labels.map(\.bitPattern) == b.labels.map(\.bitPattern) else { return false }
    a.labels = []
    b.labels = []
    return a == b
}

@Suite struct FeatureEncoderTests {
    @Test func `feature keys are pinned to the documented function`() {
        // Independent reference implementation, plus literal values so a change to both fails.
        for (f, v) in [("user_id", "42"), ("genres", "Comedy"), ("city", ""), ("", ""), ("名前", "値")] {
            #expect(FeatureKey.hash(feature: f, value: v) == referenceKey(f, v))
        }
        // Literal values (computed with a third implementation, in Python), so that a change
        // to both Swift implementations still fails.
        #expect(FeatureKey.hash(feature: "user_id", value: "42") == 0xfa4a_121f_faa0_644d)
        #expect(FeatureKey.hash(feature: "genres", value: "Comedy") == 0x7102_0510_f7ce_33ee)
        #expect(FeatureKey.hash(feature: "city", value: "") == 0xbc7d_e413_abb7_a094)
    }

    @Test func `the separator keeps feature and value apart`() {
        #expect(FeatureKey.hash(feature: "ab", value: "c") != FeatureKey.hash(feature: "a", value: "bc"))
        #expect(FeatureKey.hash(feature: "age", value: "1") != FeatureKey.hash(feature: "city", value: "1"))
    }

    @Test(arguments: ["", "x", "Comedy", "Ünïcödé 🎬", String(repeating: "long", count: 100)])
    func `hashing bytes equals hashing the String`(value: String) {
        let bytes = Array(value.utf8)
        let fromBytes = bytes.withUnsafeBytes { FeatureKey.hash(feature: "genres", value: $0) }
        #expect(fromBytes == FeatureKey.hash(feature: "genres", value: value))
        #expect(FeatureKeyHasher(feature: "genres").hash(value[...]) == fromBytes)
    }

    @Test func `columns list each input once: task key, time, features, labels`() throws {
        let encoder = try FeatureEncoder(config: config, statistics: statistics)
        #expect(encoder.columns == ["user", "ts", "genres", "age", "clicks", "raw", "city", "like", "rating"])
    }

    @Test func `a row encodes every kind`() throws {
        let encoder = try FeatureEncoder(config: config, statistics: statistics)
        let b = try encode(encoder, row())
        #expect(b.count == 1)
        #expect(b.categorical == [FeatureKey.hash(feature: "user", value: "u1"), FeatureKey.hash(feature: "city", value: "Paris")])
        #expect(Array(b.multiCategorical[0].keys(ofRow: 0))
                == [FeatureKey.hash(feature: "genres", value: "a"), FeatureKey.hash(feature: "genres", value: "b")])
        #expect(b.numeric == [1.0, 0, 2.5])  // (35 − 30) / 5, log1p(0), raw
        #expect(b.labels == [1, 4])
        #expect(b.taskKeys == [FeatureKey.hash(feature: "user", value: "u1")])
        #expect(b.timestamps == [100])
    }

    @Test func `numeric normalisations`() throws {
        let encoder = try FeatureEncoder(config: config, statistics: statistics)
        let b = try encode(encoder, row(age: "20", clicks: "-9", raw: "-1e3"))
        #expect(abs(b.numeric[0] - -2) < 1e-6)
        #expect(abs(b.numeric[1] - -Float(log(10.0))) < 1e-6)
        #expect(b.numeric[2] == -1000)
        let c = try encode(encoder, row(clicks: "1e-12"))
        #expect(abs(c.numeric[1] - 1e-12) < 1e-18)  // log1p keeps precision near 0
    }

    @Test func `standard normalisation floors the standard deviation`() throws {
        let constant = NumericStatistics(moments: ["age": NumericMoments(count: 10, mean: 7, m2: 0)])
        let encoder = try FeatureEncoder(config: config, statistics: constant)
        let b = try encode(encoder, row(age: "7.000001"))
        #expect(abs(b.numeric[0] - 1) < 1e-3)  // (x − 7) / 1e-6
    }

    @Test func `missing values: categorical hashes the empty string, numeric is 0, labels NaN`() throws {
        let encoder = try FeatureEncoder(config: config, statistics: statistics)
        let b = try encode(encoder, row(genres: "", age: "", clicks: " ", city: "", like: "", rating: ""))
        #expect(b.categorical[1] == FeatureKey.hash(feature: "city", value: ""))
        #expect(b.multiCategorical[0].keys(ofRow: 0).isEmpty)
        #expect(b.numeric[0] == 0 && b.numeric[1] == 0)
        #expect(b.labels[0].isNaN && b.labels[1].isNaN)
    }

    @Test func `multi-categorical drops empty parts and supports long separators`() throws {
        let encoder = try FeatureEncoder(config: config, statistics: statistics)
        let b = try encode(encoder, row(genres: "||a||b|"))
        #expect(b.multiCategorical[0].keys.count == 2)
        var c = config
        c.features[1].kind = .multiCategorical(separator: ", ", pooling: .sum)
        let wide = try FeatureEncoder(config: c, statistics: statistics)
        let d = try encode(wide, row(genres: "x, y,z, "))
        #expect(Array(d.multiCategorical[0].keys) == [FeatureKey.hash(feature: "genres", value: "x"),
                                                       FeatureKey.hash(feature: "genres", value: "y,z")])
    }

    @Test(arguments: [("1", Float(1)), ("0", 0), ("1.0", 1), ("0.0", 0), ("true", 1), ("FALSE", 0), (" 1 ", 1)])
    func `binary labels accept 0 1 and booleans`(text: String, value: Float) throws {
        let encoder = try FeatureEncoder(config: config, statistics: statistics)
        #expect(try encode(encoder, row(like: text)).labels[0] == value)
    }

    @Test(arguments: ["2", "0.5", "yes", "-1", "nan"])
    func `binary labels reject anything else`(text: String) throws {
        let encoder = try FeatureEncoder(config: config, statistics: statistics)
        #expect(throws: FeatureEncoderError.invalidValue(
            column: "like", slot: 7, reason: "not a binary label (0, 1, true, false): \"\(text)\"")) {
            _ = try encode(encoder, row(like: text))
        }
    }

    @Test func `regression labels take any finite number`() throws {
        let encoder = try FeatureEncoder(config: config, statistics: statistics)
        #expect(try encode(encoder, row(rating: "-3.25e2")).labels[1] == -325)
        #expect(throws: FeatureEncoderError.self) { _ = try encode(encoder, row(rating: "inf")) }
        #expect(throws: FeatureEncoderError.self) { _ = try encode(encoder, row(rating: "1e999")) }
    }

    @Test(arguments: ["abc", "1,5", "1.2.3", "0x10", "--1", "1e", ".", "+"])
    func `non-numeric numbers are rejected with the column and the value`(text: String) throws {
        let encoder = try FeatureEncoder(config: config, statistics: statistics)
        #expect(throws: FeatureEncoderError.invalidValue(column: "age", slot: 3, reason: "not a number: \"\(text)\"")) {
            _ = try encode(encoder, row(age: text))
        }
    }

    @Test(arguments: ["0", "1", "-7", "3.14159", "1e10", "2.5E-3", ".5", "5.", "+12", "123456789012345678901234",
                      "0.1000000000000000055511151231257827", "1.7976931348623157e308", "4.9e-324", "  42\t"])
    func `number parsing matches the standard library`(text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let parsed = Array(text.utf8).withUnsafeBytes { ByteNumber.double(ByteNumber.trimmed($0)) }
        #expect(parsed == Double(trimmed))
    }

    @Test func `timestamps: integers, decimals rounded down, required`() throws {
        let encoder = try FeatureEncoder(config: config, statistics: statistics)
        #expect(try encode(encoder, row(ts: "1700000000")).timestamps == [1_700_000_000])
        #expect(try encode(encoder, row(ts: "1700000000.75")).timestamps == [1_700_000_000])
        #expect(try encode(encoder, row(ts: "-1.5")).timestamps == [-2])
        #expect(throws: FeatureEncoderError.invalidValue(column: "ts", slot: 1, reason: "missing timestamp")) {
            _ = try encode(encoder, row(ts: ""))
        }
        #expect(throws: FeatureEncoderError.self) { _ = try encode(encoder, row(ts: "yesterday")) }
    }

    @Test func `a failed row appends nothing`() throws {
        let encoder = try FeatureEncoder(config: config, statistics: statistics)
        var batch = encoder.makeBatch()
        var scratch = FeatureEncoder.Scratch()
        try encoder.encode(row: Dictionary(uniqueKeysWithValues: zip(encoder.columns, row())), into: &batch, scratch: &scratch)
        #expect(throws: FeatureEncoderError.self) {
            try encoder.encode(row: Dictionary(uniqueKeysWithValues: zip(encoder.columns, row(rating: "x"))),
                               into: &batch, scratch: &scratch)
        }
        #expect(batch.count == 1 && batch.labels.count == 2 && batch.multiCategorical[0].offsets.count == 2)
    }

    @Test func `encoding by name equals encoding by column`() throws {
        let encoder = try FeatureEncoder(config: config, statistics: statistics)
        var batch = encoder.makeBatch()
        var scratch = FeatureEncoder.Scratch()
        try encoder.encode(row: Dictionary(uniqueKeysWithValues: zip(encoder.columns, row())), into: &batch, scratch: &scratch)
        #expect(batch == (try encode(encoder, row())))
        // Absent columns are missing values; an absent time reads as 0.
        var sparse = encoder.makeBatch()
        try encoder.encode(row: ["user": "u1", "age": "30"], into: &sparse, scratch: &scratch)
        #expect(sparse.timestamps == [0] && sparse.numeric[0] == 0 && sparse.labels[0].isNaN)
    }

    @Test func `encoding by columns equals encoding row by row, and a bad row appends none`() throws {
        let encoder = try FeatureEncoder(config: config, statistics: statistics)
        let n = encoder.columns.count
        // Text, numbers and integers mixed, every kind of column, a missing multi-categorical value.
        let rows = [row(), row(user: "u2", ts: "7", genres: "", age: "", city: "", like: "0", rating: ""),
                    row(user: "u3", genres: "x|y|z", clicks: "12", raw: "-1.5")]
        let texts = rows.map { $0.map { Array($0.utf8) } }
        func typed(_ raw: UnsafeRawBufferPointer, column: Int) -> FeatureEncoder.Field {
            // Numbers of numeric columns as numbers (as a JSON request gives them), the rest as text.
            let name = encoder.columns[column]
            if ["age", "clicks", "raw"].contains(name), let x = Double(String(decoding: raw, as: UTF8.self)) { return .number(x) }
            if name == "ts", let t = Int64(String(decoding: raw, as: UTF8.self)) { return .integer(t) }
            return .text(raw)
        }
        /// Encodes row-major `fields` (rows × n) by columns; slots in `constant` read row 0's value as a constant.
        func encodeByColumns(_ fields: [FeatureEncoder.Field], constant: Set<Int> = [], into batch: inout EncodedBatch)
            -> (row: Int, error: FeatureEncoderError)? {
            let r = fields.count / n
            let slotMajor = (0..<n).flatMap { s in (0..<r).map { fields[$0 * n + s] } }
            return slotMajor.withUnsafeBufferPointer { f in
                let columns = (0..<n).map { s -> FeatureEncoder.FieldColumn in
                    constant.contains(s) ? .constant(fields[s]) : .values(f.baseAddress! + s * r)
                }
                return columns.withUnsafeBufferPointer { encoder.encodeColumns($0, rows: r, into: &batch) }
            }
        }
        var one = encoder.makeBatch(), all = encoder.makeBatch()
        try withRawBuffers(texts.flatMap { $0 }) { raws in
            let fields = raws.enumerated().map { typed($0.element, column: $0.offset % n) }
            try fields.withUnsafeBufferPointer { f in
                for r in 0..<rows.count {
                    try encoder.encodeRow(typed: UnsafeBufferPointer(rebasing: f[(r * n)..<(r * n + n)]), into: &one)
                }
            }
            #expect(encodeByColumns(fields, into: &all) == nil)
            #expect(one.count == 3)
            #expect(same(all, one))
            // Bad values in two slots: the earliest row is reported whichever slot it is in, and on
            // one row the first slot in `columns` order; the batch is left as it was.
            let like = encoder.columns.firstIndex(of: "like")!, age = encoder.columns.firstIndex(of: "age")!
            #expect(age < like)
            let before = all
            for (likeRow, ageRow, expected) in [(1, 2, (1, like)), (2, 1, (1, age)), (1, 1, (1, age))] {
                var bad = fields
                bad[likeRow * n + like] = .number(0.5)  // not a binary label
                bad[ageRow * n + age] = .number(.infinity)
                let failure = encodeByColumns(bad, into: &all)
                #expect(failure?.row == expected.0 && failure?.error.slot == expected.1, "like row \(likeRow), age row \(ageRow)")
                #expect(same(all, before))
            }
            // A constant column is one value for every row: the same rows as that value on each row.
            // Every kind: task key and time, multi-categorical, numeric, categorical, label.
            let constant = Set(["user", "ts", "genres", "age", "city", "like"].map { encoder.columns.firstIndex(of: $0)! })
            let tsSlot = encoder.columns.firstIndex(of: "ts")!
            var repeated = fields
            for r in 1..<rows.count { for s in constant { repeated[r * n + s] = fields[s] } }
            var byRows = encoder.makeBatch(), byConstant = encoder.makeBatch()
            try repeated.withUnsafeBufferPointer { f in
                for r in 0..<rows.count {
                    try encoder.encodeRow(typed: UnsafeBufferPointer(rebasing: f[(r * n)..<(r * n + n)]), into: &byRows)
                }
            }
            #expect(encodeByColumns(repeated, constant: constant, into: &byConstant) == nil)
            #expect(byConstant.multiCategorical[0].keys.count == 3 * 2)  // "a|b" on every row
            #expect(same(byConstant, byRows))
            // A bad constant fails on row 0.
            var badConstant = fields
            badConstant[tsSlot] = .number(.nan)
            #expect(encodeByColumns(badConstant, constant: [tsSlot], into: &byConstant)?.row == 0)
            #expect(same(byConstant, byRows))
        }
    }

    @Test func `standard features need fitted statistics`() {
        #expect(throws: FeatureEncoderError.missingStatistics(feature: "age")) {
            _ = try FeatureEncoder(config: config, statistics: NumericStatistics())
        }
    }

    @Test func `Welford moments match the two-pass formula and merge`() {
        let xs: [Double] = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5]
        var all = NumericMoments()
        xs.forEach { all.add($0) }
        let mean = xs.reduce(0, +) / Double(xs.count)
        let variance = xs.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(xs.count)
        #expect(abs(all.mean - mean) < 1e-12 && abs(all.variance - variance) < 1e-12)
        var left = NumericMoments(), right = NumericMoments()
        xs.prefix(4).forEach { left.add($0) }
        xs.dropFirst(4).forEach { right.add($0) }
        left.merge(right)
        #expect(left.count == all.count && abs(left.mean - all.mean) < 1e-12 && abs(left.m2 - all.m2) < 1e-9)
    }

    @Test func `statistics are Codable`() throws {
        let data = try JSONEncoder().encode(statistics)
        #expect(try JSONDecoder().decode(NumericStatistics.self, from: data) == statistics)
    }
}
