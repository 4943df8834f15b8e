/// Settings of the Census-Income (KDD) conversion.
public struct CensusOptions: Sendable, Equatable {
    /// How rows are grouped into crowds (the `crowd` task-key column).
    public var crowd: CensusCrowd
    /// Seed of the hash split.
    public var seed: UInt64
    /// Convert only the first `limit` rows (`nil` = all); a prefix keeps each row's split.
    public var limit: Int?
    /// A categorical column named as the config's `scene` (cross-domain ranking), e.g.
    /// `class_of_worker`; `nil`: no scene.
    public var scene: String?

    public init(crowd: CensusCrowd = .ageSexEducation, seed: UInt64 = 1, limit: Int? = nil, scene: String? = nil) {
        self.crowd = crowd
        self.seed = seed
        self.limit = limit
        self.scene = scene
    }
}

/// `metarec datasets census`: converts UCI Census-Income (KDD) (`census-income.test.gz` or
/// `.data.gz`, plain or gzip) into the MMoE paper's two-task benchmark (Ma et al., KDD 2018 §5.2).
///
/// ```
/// income  = 1[income bucket = "50000+."]        (≈ 6.2% positive in the test file)
/// marital = 1[marital stat = "Never married"]   (≈ 43.2%; marital stat is then not a feature)
/// ```
/// Columns: `row_id` (0-based record index), `crowd` (see ``CensusCrowd``), the 39 remaining
/// attributes in file order under snake_case names (categorical values verbatim, `?` = missing
/// kept as its own category; age, wage, capital gains/losses, dividends, persons worked for
/// employer, weeks worked numeric), then `income`, `marital`. The instance weight is dropped.
/// Split: ``HashSplit`` on `row_id`, 50 / 25 / 25, stable across runs and prefixes.
public enum CensusDataset {
    /// Converts `raw` and writes `train.csv`, `validation.csv`, `test.csv`, `config.yaml` into
    /// `directory` (created when missing; each file written atomically).
    /// - Throws: ``DatasetError/missingFile(path:)``, ``DatasetError/unreadable(file:reason:)``
    ///   (including a corrupt gzip stream), ``DatasetError/malformedLine(file:line:reason:)``
    ///   naming the first bad line, ``DatasetError/writeFailed(file:reason:)``.
    @discardableResult
    public static func write(
        raw: String, to directory: String, options: CensusOptions = CensusOptions(),
        progress: ((DatasetProgress) -> Void)? = nil
    ) throws -> DatasetSummary {
        let split = try HashSplit(seed: options.seed)
        let schema = CensusSchema.fields
        if let scene = options.scene, !CensusSchema.categoricalNames.contains(scene) {
            throw DatasetError.invalidOption(name: "scene", reason: "\(scene) is not a categorical column; one of \(CensusSchema.categoricalNames)")
        }
        let header = ["row_id", "crowd"] + CensusSchema.featureFields.map { schema[$0].name } + ["income", "marital"]
        let output = try DatasetOutput<String>(directory: directory, header: header, labelCount: 2)
        let numericFields = CensusSchema.featureFields.filter {
            if case .feature(.numeric) = schema[$0].role { return true } else { return false }
        }
        let name = raw
        var ranges: [Range<Int>] = []
        var labels = [0.0, 0.0]
        var row = 0
        struct Done: Error {}
        do {
            try LineReader.forEachLine(in: raw) { line, lineNumber in
                if line.isEmpty { return }
                if let limit = options.limit, row >= limit { throw Done() }
                ByteFields.split(line, separator: [44], trimSpaces: true, into: &ranges)
                guard ranges.count == CensusSchema.fieldCount else {
                    throw DatasetError.malformedLine(
                        file: name, line: lineNumber,
                        reason: "expected \(CensusSchema.fieldCount) comma-separated fields, found \(ranges.count)")
                }
                for field in numericFields where ByteFields.number(line, ranges[field]) == nil {
                    throw DatasetError.malformedLine(
                        file: name, line: lineNumber,
                        reason: "\(schema[field].name) (field \(field + 1)) is '\(ByteFields.text(line, ranges[field]))', expected a number")
                }
                let income = ranges[CensusSchema.incomeField]
                if ByteFields.equals(line, income, "50000+.") {
                    labels[0] = 1
                } else if ByteFields.equals(line, income, "- 50000.") {
                    labels[0] = 0
                } else {
                    throw DatasetError.malformedLine(
                        file: name, line: lineNumber,
                        reason: "income (field 42) is '\(ByteFields.text(line, income))', expected '- 50000.' or '50000+.'")
                }
                labels[1] = ByteFields.equals(line, ranges[CensusSchema.maritalField], "Never married") ? 1 : 0
                let crowd = crowdKey(options.crowd, line, ranges)
                let destination = split.split(row: row)
                let writer = output.writer(destination)
                writer.writeField(row)
                writer.writeField(crowd)
                for field in CensusSchema.featureFields {
                    writer.writeField(bytes: UnsafeBufferPointer(rebasing: line[ranges[field]]))
                }
                writer.writeField(Int(labels[0]))
                writer.writeField(Int(labels[1]))
                try output.record(destination, task: crowd, labels: labels)
                row += 1
                if row % 10_000 == 0 { progress?(DatasetProgress(stage: "converting \(name)", done: row, total: options.limit)) }
            }
        } catch is Done {}
        guard row > 0 else { throw DatasetError.malformedLine(file: name, line: 1, reason: "no records") }

        let features = CensusSchema.featureFields.map { field -> DatasetConfig.Feature in
            guard case .feature(let kind) = schema[field].role else { preconditionFailure("not a feature: \(field)") }
            return DatasetConfig.Feature(schema[field].name, kind)
        }
        var config = DatasetConfig(
            taskKey: "crowd", time: nil, features: [.init("crowd", .categorical)] + features,
            labels: [.init("income", .binary), .init("marital", .binary)])
        config.embeddingDimension = 8
        config.seed = options.seed
        config.scene = options.scene
        return try output.finish(config: config)
    }

    static func crowdKey(_ crowd: CensusCrowd, _ line: UnsafeBufferPointer<UInt8>, _ ranges: [Range<Int>]) -> String {
        let band = CensusSchema.ageBand(ByteFields.integer(line, ranges[CensusSchema.ageField]) ?? 0)
        switch crowd {
        case .ageSexEducation:
            return band + ";" + ByteFields.text(line, ranges[CensusSchema.sexField]) + ";"
                + ByteFields.text(line, ranges[CensusSchema.educationField])
        case .stateAge:
            return ByteFields.text(line, ranges[CensusSchema.stateField]) + ";" + band
        }
    }
}
