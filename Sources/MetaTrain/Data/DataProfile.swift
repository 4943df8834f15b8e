import ModelDescription
import ModelMath

/// What one streaming pass over a training file learns before training: the numeric
/// statistics the encoder normalises with, and the data fingerprint for the model manifest.
public struct DataProfile: Sendable, Equatable, Codable {
    /// Welford moments of every numeric feature (missing values skipped).
    public var statistics: NumericStatistics
    /// Content hash, byte count and row count.
    public var fingerprint: DataFingerprint
    /// Good data rows.
    public var rows: Int
    /// Bad rows skipped (≤ `maxBadRows`).
    public var badRows: Int
    /// Smallest and largest timestamp, when the config has a time column and the file has rows.
    public var timeRange: ClosedRange<Int64>?
    /// Smallest and largest value of each label (``ModelConfig/labels`` order), nil for a label
    /// with no value: the range the serving fallback checks regression predictions against.
    public var labelRanges: [ClosedRange<Float>?] = []

    /// Reads `path` once, parsing every row exactly as training will (same checks, same bad-row
    /// budget), and fits the numeric statistics.
    ///
    /// - Complexity: one pass; memory independent of the file size.
    /// - Throws: ``DataError`` as ``CSVLogReader`` would.
    public static func fit(path: String, config: ModelConfig, options: CSVReadOptions = .init()) throws(DataError) -> DataProfile {
        let reader = try CSVLogReader(path: path, encoder: FeatureEncoder(unfittedConfig: config), options: options)
        let numericNames = config.numericFeatures.map(\.name)
        var moments = [NumericMoments](repeating: NumericMoments(), count: numericNames.count)
        var rows = 0
        var minTime = Int64.max, maxTime = Int64.min
        var labelRanges = [ClosedRange<Float>?](repeating: nil, count: config.labels.count)
        let hasTime = config.time != nil
        while true {
            if reader.pendingRecord {
                reader.pendingRecord = false
            } else {
                do {
                    guard try reader.tokenizer.nextRecord() else { break }
                } catch let error where error.isRowError {
                    try reader.note(error)
                    continue
                }
            }
            do {
                try reader.parseCurrentRecord()
            } catch {
                try reader.note(error)
                continue
            }
            rows += 1
            for (i, x) in reader.scratch.rawNumeric.enumerated() where !x.isNaN { moments[i].add(x) }
            for (k, y) in reader.scratch.labels.enumerated() where !y.isNaN {
                labelRanges[k] = labelRanges[k].map { min($0.lowerBound, y)...max($0.upperBound, y) } ?? y...y
            }
            if hasTime {
                minTime = min(minTime, reader.scratch.timestamp)
                maxTime = max(maxTime, reader.scratch.timestamp)
            }
        }
        var statistics = NumericStatistics()
        for (name, m) in zip(numericNames, moments) { statistics[name] = m }
        return DataProfile(
            statistics: statistics,
            fingerprint: reader.tokenizer.fingerprint(rows: rows + reader.badRowCount),
            rows: rows, badRows: reader.badRowCount,
            timeRange: hasTime && rows > 0 ? minTime...maxTime : nil, labelRanges: labelRanges)
    }
}
