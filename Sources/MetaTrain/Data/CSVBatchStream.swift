import ModelDescription
import ModelMath

/// A ``BatchStream`` over one CSV log: reads chunks of `chunkRows` rows.
public struct CSVBatchStream: BatchStream {
    public let reader: CSVLogReader
    public let chunkRows: Int

    public init(path: String, encoder: FeatureEncoder, options: CSVReadOptions = .init(), chunkRows: Int = 4096) throws {
        self.reader = try CSVLogReader(path: path, encoder: encoder, options: options)
        self.chunkRows = chunkRows
    }

    public mutating func next() throws -> EncodedBatch? {
        try reader.nextBatch(maxRows: chunkRows)
    }
}
