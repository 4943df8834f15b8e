/// How a CSV log is read.
public struct CSVReadOptions: Sendable, Equatable {
    /// The field delimiter, one ASCII byte. Default `,`.
    public var delimiter: UInt8
    /// Skip spaces at the start of every field (files delimited by `", "`, like the raw Census
    /// data). Default `false`: spaces are part of the value.
    public var trimsLeadingSpaces: Bool
    /// Bytes read (decompressed) per refill. The reader's buffer never exceeds
    /// `chunkSize + longest row`. Default 1 MiB.
    public var chunkSize: Int
    /// Bad rows (ragged, unparsable values, broken quoting, invalid UTF-8) skipped and counted
    /// before reading fails; 0 = fail on the first. Default 0.
    public var maxBadRows: Int
    /// How many skipped rows' errors are kept for reporting. Default 10.
    public var keptBadRowErrors: Int

    public init(delimiter: UInt8 = UInt8(ascii: ","), trimsLeadingSpaces: Bool = false,
                chunkSize: Int = 1 << 20, maxBadRows: Int = 0, keptBadRowErrors: Int = 10) {
        precondition(delimiter < 0x80 && delimiter != UInt8(ascii: "\"") && delimiter != 0x0A && delimiter != 0x0D,
                     "CSVReadOptions: delimiter \(delimiter) must be ASCII and not a quote or line break")
        precondition(chunkSize > 0, "CSVReadOptions: chunkSize \(chunkSize)")
        precondition(maxBadRows >= 0, "CSVReadOptions: maxBadRows \(maxBadRows)")
        self.delimiter = delimiter
        self.trimsLeadingSpaces = trimsLeadingSpaces
        self.chunkSize = chunkSize
        self.maxBadRows = maxBadRows
        self.keptBadRowErrors = keptBadRowErrors
    }
}
