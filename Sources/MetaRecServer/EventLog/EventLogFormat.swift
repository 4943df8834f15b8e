import ModelDescription
import ParamServer

/// The byte format of the event log (`docs/DESIGN.md` §Formats, the event log): one file per
/// segment, `events-<segment id, 20 digits>.log` in the state directory. Little-endian throughout.
///
/// ```
/// segment header (40 bytes)
///   0  magic       "MREVTLOG"
///   8  version     UInt32 = 1
///   12 W           UInt32   floats of features per row (f_1 … f_K)
///   16 L           UInt32   labels per row
///   20 reserved    UInt32 = 0
///   24 segment id  UInt64   ≥ 1, increasing across segments
///   32 crc         UInt32   CRC-32 of bytes 0..<32
///   36 reserved    UInt32 = 0
/// record (one per acknowledged events request)
///   0  length      UInt32   bytes of the payload
///   4  crc         UInt32   CRC-32 (zlib's) of the length field and the payload
///   8  payload:
///        sequence   UInt64   +1 per record, across the segments a start replays (restarts at 1 after a snapshot covered them all)
///        write time Int64    ns since the epoch: the rows' write time in the store
///        version    UInt64   the model version the rows were written under
///        rows n     UInt32   ≥ 1
///        reserved   UInt32 = 0
///        n × (task UInt64 | event time Int64 | W × Float32 | L × Float32)
/// ```
///
/// Rows are logged as float32 whatever the store's precision (``ParamServer/SupportPrecision``):
/// a bfloat16 store rounds them on replay exactly as it rounded the logged append, so the format
/// is the same at both precisions and a log replays into a store of either.
///
/// Invariants: `length = 32 + n · (16 + 4 (W + L))`; a record is valid only when its whole
/// payload is present and its CRC matches, so a write cut anywhere (a torn tail) is detected;
/// any single flipped bit in a record changes its CRC-32.
enum EventLogFormat {
    static let magic: UInt64 = 0x474F_4C54_5645_524D  // "MREVTLOG" read little-endian
    static let version: UInt32 = 1
    static let headerBytes = 40
    static let recordHeaderBytes = 8
    static let payloadHeaderBytes = 32
    /// The largest payload a reader accepts; a longer length field is damage (a request body is
    /// bounded far below).
    static let maxPayloadBytes = 1 << 30

    /// The segment file name for `id`: zero-padded so names sort like ids.
    static func fileName(segment id: UInt64) -> String {
        let digits = String(id)
        return "events-" + String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".log"
    }

    /// The segment id of a file name made by ``fileName(segment:)``, or `nil`.
    static func segment(ofFileName name: String) -> UInt64? {
        guard name.hasPrefix("events-"), name.hasSuffix(".log"), name.count == 31 else { return nil }
        return UInt64(name.dropFirst(7).dropLast(4))
    }

    /// The 40-byte header of segment `id` for rows of `W` features and `L` labels.
    static func header(segment id: UInt64, rowWidth w: Int, labelWidth l: Int) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(headerBytes)
        append(magic, to: &out)
        append(version, to: &out)
        append(UInt32(w), to: &out)
        append(UInt32(l), to: &out)
        append(UInt32(0), to: &out)
        append(id, to: &out)
        append(out.withUnsafeBytes { CRC32.checksum($0) }, to: &out)
        append(UInt32(0), to: &out)
        return out
    }

    /// The bytes of one record holding `rows`, written at `writeTime` under `version`, replacing
    /// `out`'s contents (its capacity is reused).
    static func encodeRecord(sequence: UInt64, writeTime: Timestamp, version: UInt64, rows: SupportRows,
                             rowWidth w: Int, labelWidth l: Int, into out: inout [UInt8]) {
        let n = rows.count
        out.removeAll(keepingCapacity: true)
        out.reserveCapacity(recordHeaderBytes + payloadHeaderBytes + n * (16 + 4 * (w + l)))
        append(UInt32(payloadHeaderBytes + n * (16 + 4 * (w + l))), to: &out)
        append(UInt32(0), to: &out)  // the CRC, set below
        append(sequence, to: &out)
        append(writeTime.nanosecondsSinceEpoch, to: &out)
        append(version, to: &out)
        append(UInt32(n), to: &out)
        append(UInt32(0), to: &out)
        for i in 0..<n {
            append(rows.tasks[i], to: &out)
            append(rows.timestamps[i].nanosecondsSinceEpoch, to: &out)
            appendFloats(UnsafeBufferPointer(rebasing: rows.features[(i * w)..<((i + 1) * w)]), to: &out)
            appendFloats(UnsafeBufferPointer(rebasing: rows.labels[(i * l)..<((i + 1) * l)]), to: &out)
        }
        let crc = out.withUnsafeBytes { bytes in
            var c = CRC32()
            c.update(UnsafeRawBufferPointer(rebasing: bytes[0..<4]))
            c.update(UnsafeRawBufferPointer(rebasing: bytes[8...]))
            return c.value
        }
        withUnsafeBytes(of: crc.littleEndian) { crcBytes in
            for j in 0..<4 { out[4 + j] = crcBytes[j] }
        }
    }

    static func append<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { out.append(contentsOf: $0) }
    }

    static func appendFloats(_ values: UnsafeBufferPointer<Float>, to out: inout [UInt8]) {
        for v in values { append(v.bitPattern, to: &out) }
    }
}

/// One record read back: its rows in the store's layout, ready for
/// ``SupportStore/append(_:writeTime:version:)``.
struct EventLogRecord: Equatable {
    var sequence: UInt64
    var writeTime: Timestamp
    var version: UInt64
    var tasks: [UInt64]
    var timestamps: [Timestamp]
    /// `(n, W)` row-major.
    var features: [Float]
    /// `(n, L)` row-major.
    var labels: [Float]

    /// Applies the record to `store` exactly as the logged append did.
    func apply(to store: SupportStore) {
        tasks.withUnsafeBufferPointer { t in
            features.withUnsafeBufferPointer { f in
                labels.withUnsafeBufferPointer { l in
                    timestamps.withUnsafeBufferPointer { s in
                        store.append(SupportRows(tasks: t, features: f, labels: l, timestamps: s), writeTime: writeTime, version: version)
                    }
                }
            }
        }
    }

    /// Decodes a payload whose CRC was checked; `nil` when its fields disagree with its length.
    init?(payload p: UnsafeRawBufferPointer, rowWidth w: Int, labelWidth l: Int) {
        func u64(_ at: Int) -> UInt64 { UInt64(littleEndian: p.loadUnaligned(fromByteOffset: at, as: UInt64.self)) }
        func u32(_ at: Int) -> UInt32 { UInt32(littleEndian: p.loadUnaligned(fromByteOffset: at, as: UInt32.self)) }
        guard p.count >= EventLogFormat.payloadHeaderBytes else { return nil }
        let n = Int(u32(24)), stride = 16 + 4 * (w + l)
        guard n >= 1, p.count == EventLogFormat.payloadHeaderBytes + n * stride else { return nil }
        sequence = u64(0)
        writeTime = Timestamp(nanosecondsSinceEpoch: Int64(bitPattern: u64(8)))
        version = u64(16)
        tasks = []
        timestamps = []
        features = []
        labels = []
        tasks.reserveCapacity(n)
        timestamps.reserveCapacity(n)
        features.reserveCapacity(n * w)
        labels.reserveCapacity(n * l)
        for i in 0..<n {
            let at = EventLogFormat.payloadHeaderBytes + i * stride
            tasks.append(u64(at))
            timestamps.append(Timestamp(nanosecondsSinceEpoch: Int64(bitPattern: u64(at + 8))))
            for j in 0..<w { features.append(Float(bitPattern: u32(at + 16 + 4 * j))) }
            for j in 0..<l { labels.append(Float(bitPattern: u32(at + 16 + 4 * (w + j)))) }
        }
    }

    init(sequence: UInt64, writeTime: Timestamp, version: UInt64, tasks: [UInt64], timestamps: [Timestamp],
         features: [Float], labels: [Float]) {
        self.sequence = sequence
        self.writeTime = writeTime
        self.version = version
        self.tasks = tasks
        self.timestamps = timestamps
        self.features = features
        self.labels = labels
    }
}
