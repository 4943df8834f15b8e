/// The support encoder's source key stored in a support-store row, whose values are floats:
/// the key's low and high 32 bits as two `Float` bit patterns after the row's `K·H` meta-layer
/// inputs (`docs/DESIGN.md` §Parameter server). Bit patterns survive the store's copies and
/// snapshots unchanged (they are moved as bytes, never computed with).
public enum SupportRowKey {
    /// Floats per row.
    public static let width = 2

    /// Writes `key` into `row[0]`, `row[1]`.
    public static func write(_ key: UInt64, to row: UnsafeMutablePointer<Float>) {
        row[0] = Float(bitPattern: UInt32(truncatingIfNeeded: key))
        row[1] = Float(bitPattern: UInt32(truncatingIfNeeded: key >> 32))
    }

    /// Reads the key written by ``write(_:to:)``.
    public static func read(from row: UnsafePointer<Float>) -> UInt64 {
        UInt64(row[0].bitPattern) | UInt64(row[1].bitPattern) << 32
    }
}
