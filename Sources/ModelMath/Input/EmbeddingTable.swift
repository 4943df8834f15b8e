/// Where embedding rows live: a key → row store the model reads from and pushes gradients to.
///
/// The model never owns a dense vocabulary table: each batch pulls the rows of the keys it
/// touches into a local `(U, d)` matrix (U = unique keys in the batch), runs forward/backward
/// on it, and pushes the `(U, d)` gradient back. Rows are created on first touch (when
/// `create` is true), so there is no vocabulary pass and no modulo collisions.
///
/// Implementations: the parameter server's sharded `EmbeddingStore` (with expiry and
/// frequency admission; see `EmbeddingStore+EmbeddingTable.swift`) and, in tests, a
/// dictionary-backed table.
public protocol EmbeddingTable: AnyObject, Sendable {
    /// Row width `d`.
    var dimension: Int { get }

    /// Copies the rows of `keys` into `rows` (`keys.count × dimension`, row-major).
    ///
    /// - Parameter create: training passes `true` (a missing key gets a freshly initialised
    ///   row, subject to the table's admission policy); inference passes `false` (a missing
    ///   key reads as a zero row and nothing is stored).
    func pull(keys: UnsafeBufferPointer<UInt64>, into rows: UnsafeMutableBufferPointer<Float>, create: Bool)

    /// Applies the gradients of `keys` (`keys.count × dimension`) with the table's row
    /// optimiser. Keys must be unique within one call.
    func push(keys: UnsafeBufferPointer<UInt64>, gradients: UnsafeBufferPointer<Float>)

    /// Number of rows stored.
    var rowCount: Int { get }
}
