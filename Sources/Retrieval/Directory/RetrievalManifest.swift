import ModelDescription

/// `retrieval.json`: the settings, the catalogue, the training report and (format 2) the size
/// and CRC-32 of every other file of the version. Written last, so a version with it is complete.
public struct RetrievalManifest: Codable, Sendable {
    /// 1: flat directory, no checksums, keys from `catalogue`; 2: versioned, `item_keys.json`, checksums;
    /// 3: as 2, written for an LSTM or CNN encoder or a stored adaptation (which 2's readers would misread).
    public var formatVersion: Int?
    public var modelVersion: String
    public var encoder: String
    public var items: Int, itemFeatures: Int, embeddingWidth: Int, dimension: Int, hiddenWidth: Int
    /// The recurrent encoder's hidden width (GRU, LSTM), or the CNN's filters and window width;
    /// nil for the others. Which encoder it is comes from `encoder` (`bow`, `gru64`, `lstm64`, `cnn64x3`).
    public var gruHidden: Int?, lstmHidden: Int?, cnnFilters: Int?, cnnWidth: Int?
    /// The per-request adaptation the model was trained with (absent: none).
    public var adaptSteps: Int?, adaptRate: Float?, adaptSupport: Int?
    public var temperature: Float, maxHistory: Int, queueCapacity: Int, queueWarmupSteps: Int, logQCorrection: Bool
    public var learningRate: Float, batchSize: Int, seed: UInt64
    /// The catalogue's item ids (MovieLens `movieId` per row).
    public var catalogue: [Int]
    public var bestEpoch: Int, validationRecallAt50: Double, epochLosses: [Double], epochValidationRecall: [Double]
    /// Size and CRC-32 of every other file, by name (format 2).
    public var files: [String: ModelFileChecksum]?

    /// The current format version.
    public static let currentFormat = 3

    public init(config c: RetrievalConfig, version: String, catalogue: [Int], trained: TrainedRetrieval) {
        // 3 only where an older build would misread the model (an LSTM or CNN encoder it would take
        // for a bag of words, an adaptation it would not apply); 2 otherwise, readable by those builds.
        let newEncoder: Bool = switch c.encoder {
        case .lstm, .cnn: true
        case .bagOfWords, .gru: false
        }
        formatVersion = newEncoder || c.adaptation != nil ? 3 : 2
        modelVersion = version
        encoder = c.encoder.description
        (items, itemFeatures, embeddingWidth, dimension, hiddenWidth) = (c.items, c.itemFeatures, c.embeddingWidth, c.dimension, c.hiddenWidth)
        switch c.encoder {
        case .bagOfWords: break
        case .gru(let h): gruHidden = h
        case .lstm(let h): lstmHidden = h
        case .cnn(let f, let w): (cnnFilters, cnnWidth) = (f, w)
        }
        (temperature, maxHistory, queueCapacity, logQCorrection) = (c.temperature, c.maxHistory, c.queueCapacity, c.logQCorrection)
        if let a = c.adaptation { (adaptSteps, adaptRate, adaptSupport) = (a.steps, a.rate, a.supportSize) }
        queueWarmupSteps = c.queueWarmupSteps
        (learningRate, batchSize, seed) = (c.learningRate, c.batchSize, c.seed)
        self.catalogue = catalogue
        (bestEpoch, validationRecallAt50) = (trained.bestEpoch, trained.bestValidationRecall)
        epochLosses = trained.epochs.map(\.loss)
        epochValidationRecall = trained.epochs.map(\.validationRecall)
    }

    /// The encoder `encoder` and its widths name (nil when they do not agree).
    var encoderKind: HistoryEncoderKind? {
        let kind: HistoryEncoderKind? = switch (gruHidden, lstmHidden, cnnFilters, cnnWidth) {
        case (nil, nil, nil, nil): .bagOfWords
        case (let h?, nil, nil, nil): .gru(hidden: h)
        case (nil, let h?, nil, nil): .lstm(hidden: h)
        case (nil, nil, let f?, let w?): .cnn(filters: f, width: w)
        default: nil
        }
        return kind?.description == encoder ? kind : nil
    }

    /// The configuration the parameters were trained with (the encoder checked by
    /// ``encoderKind`` when the directory is read).
    public var config: RetrievalConfig {
        var c = RetrievalConfig(items: items, itemFeatures: itemFeatures)
        (c.embeddingWidth, c.dimension, c.hiddenWidth) = (embeddingWidth, dimension, hiddenWidth)
        c.encoder = encoderKind ?? .bagOfWords
        if let steps = adaptSteps, let rate = adaptRate, let support = adaptSupport {
            c.adaptation = try? UserAdaptation(steps: steps, rate: rate, supportSize: support)
        }
        (c.temperature, c.maxHistory, c.queueCapacity, c.logQCorrection) = (temperature, maxHistory, queueCapacity, logQCorrection)
        c.queueWarmupSteps = queueWarmupSteps
        (c.learningRate, c.batchSize, c.seed) = (learningRate, batchSize, seed)
        return c
    }
}
