/// Column blocks of a `(B, D)` matrix — the input concatenation
///
/// ```
/// x = [e_1 | e_2 | … | numeric]        e_i: (B, w_i)   x: (B, D),  D = Σ_i w_i
/// ```
///
/// and its backward, which hands each block its columns of `dx`.
public enum ColumnBlock {
    /// Writes `source` into columns `column ..< column + w` of `destination`:
    ///
    /// ```
    /// dst[:, column ..< column + w] = src        src: (B, w)   dst: (B, D)
    /// ```
    public static func copy(_ source: Tensor, into destination: inout Tensor, atColumn column: Int) {
        let (b, w, dWidth) = checkBlock(block: source, matrix: destination, column: column, "ColumnBlock.copy")
        source.withUnsafeBufferPointer { src in
            destination.withUnsafeMutableBufferPointer { dst in
                for row in 0..<b {
                    for j in 0..<w { dst[row * dWidth + column + j] = src[row * w + j] }
                }
            }
        }
    }

    /// The backward of ``copy(_:into:atColumn:)``:
    ///
    /// ```
    /// dSource += dDestination[:, column ..< column + w]        dSource: (B, w)
    /// ```
    public static func accumulate(from dDestination: Tensor, atColumn column: Int, into dSource: inout Tensor) {
        let (b, w, dWidth) = checkBlock(block: dSource, matrix: dDestination, column: column, "ColumnBlock.accumulate")
        dDestination.withUnsafeBufferPointer { dDst in
            dSource.withUnsafeMutableBufferPointer { dSrc in
                for row in 0..<b {
                    for j in 0..<w { dSrc[row * w + j] += dDst[row * dWidth + column + j] }
                }
            }
        }
    }

    /// Reads columns `column ..< column + w` of `matrix` into `block`, overwriting it
    /// (the non-allocating form of one ``split(_:widths:)`` block).
    ///
    /// ```
    /// block = matrix[:, column ..< column + w]        block: (B, w)   matrix: (B, D)
    /// ```
    public static func extract(from matrix: Tensor, atColumn column: Int, into block: inout Tensor) {
        let (b, w, dWidth) = checkBlock(block: block, matrix: matrix, column: column, "ColumnBlock.extract")
        matrix.withUnsafeBufferPointer { src in
            block.withUnsafeMutableBufferPointer { dst in
                for row in 0..<b {
                    for j in 0..<w { dst[row * w + j] = src[row * dWidth + column + j] }
                }
            }
        }
    }

    /// Concatenates rank-2 blocks of equal row count left to right into a new `(B, Σ w_i)`
    /// matrix. Zero-width blocks are allowed.
    public static func concatenate(_ blocks: [Tensor]) -> Tensor {
        precondition(!blocks.isEmpty, "ColumnBlock.concatenate: no blocks (the row count is unknown)")
        let b = blocks[0].requireMatrix("ColumnBlock.concatenate", "block")
        var width = 0
        for block in blocks {
            precondition(
                block.rank == 2 && block.shape[0] == b.rows,
                "ColumnBlock.concatenate: block \(block.shape) does not have \(b.rows) rows; shapes \(blocks.map(\.shape))")
            width += block.shape[1]
        }
        var matrix = Tensor(shape: [b.rows, width])
        var column = 0
        for block in blocks {
            copy(block, into: &matrix, atColumn: column)
            column += block.shape[1]
        }
        return matrix
    }

    /// The inverse of ``concatenate(_:)``: splits a `(B, D)` matrix into new `(B, w_i)` blocks,
    /// left to right; the widths must sum to `D`.
    public static func split(_ matrix: Tensor, widths: [Int]) -> [Tensor] {
        let (b, d) = matrix.requireMatrix("ColumnBlock.split", "matrix")
        precondition(
            widths.allSatisfy { $0 >= 0 } && widths.reduce(0, +) == d,
            "ColumnBlock.split: widths \(widths) do not partition the \(d) columns of \(matrix.shape)")
        var column = 0
        return widths.map { w in
            var block = Tensor(shape: [b, w])
            extract(from: matrix, atColumn: column, into: &block)
            column += w
            return block
        }
    }

    /// Checks `block (B, w)` fits `matrix (B, D)` at `column`; returns `(B, w, D)`.
    private static func checkBlock(block: Tensor, matrix: Tensor, column: Int, _ op: StaticString) -> (Int, Int, Int) {
        precondition(
            block.rank == 2 && matrix.rank == 2 && block.shape[0] == matrix.shape[0]
                && column >= 0 && column + block.shape[1] <= matrix.shape[1],
            "\(op): block \(block.shape) does not fit matrix \(matrix.shape) at column \(column)")
        return (block.shape[0], block.shape[1], matrix.shape[1])
    }
}
