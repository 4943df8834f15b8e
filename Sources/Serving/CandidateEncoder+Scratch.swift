import ModelDescription

extension CandidateEncoder {
    /// A thread's reused buffers for ``CandidateEncoder`` (in ``PredictorWorkspace``): once sized
    /// for the largest request, encoding allocates nothing. `F` features.
    struct Scratch: Sendable {
        /// Per feature: the index of its column in the request's ``CandidateColumns``, or −1.
        var columnOfFeature: [Int]
        /// Per feature: its default (context, user or missing), text in ``defaultText``.
        var defaults: [FeatureSchema.TypedValue]
        var defaultText: [UInt8] = []
        /// Text written for the chunk's values (integers and lists of categorical features).
        var chunkText: [UInt8] = []
        /// Values whose text is in ``chunkText``: `(value index, start, end)` triples.
        var pendingText: [Int] = []
        /// The encoder fields and columns of one chunk.
        var buffers = ChunkBuffers()

        init(features: Int) {
            columnOfFeature = [Int](repeating: -1, count: features)
            defaults = [FeatureSchema.TypedValue](repeating: .unset, count: features)
            defaultText.reserveCapacity(256)
            chunkText.reserveCapacity(1024)
            pendingText.reserveCapacity(3 * CandidateEncoder.chunkSize * features)
        }

        /// Matches the request's column names to features (``columnOfFeature``).
        ///
        /// - Returns: ``ServingError/unknownFeature(field:)`` for a name that is no candidate input.
        mutating func matchColumns(of columns: CandidateColumns, to schema: FeatureSchema) -> ServingError? {
            for feature in 0..<schema.count { columnOfFeature[feature] = -1 }
            for (f, name) in columns.names.enumerated() {
                guard let feature = schema.feature(named: name), schema.isCandidateInput(feature) else {
                    return .unknownFeature(field: columns.path(column: f))
                }
                columnOfFeature[feature] = f
            }
            return nil
        }

        /// Sizes ``buffers`` for `features` columns of a chunk; a copied scratch (whose buffers
        /// another copy shares) gets its own first.
        mutating func prepareBuffers(features: Int) {
            if !isKnownUniquelyReferenced(&buffers) { buffers = ChunkBuffers() }
            buffers.reserve(features: features, candidates: CandidateEncoder.chunkSize)
        }

        /// Renders every feature's default for `request` (``defaults``, ``defaultText``).
        mutating func renderDefaults(of request: ScoreRequest, schema: FeatureSchema) {
            defaultText.removeAll(keepingCapacity: true)
            for feature in 0..<schema.count {
                let source: FeatureSchema.Source = if let v = request.context?[schema.names[feature]] { .value(v) }
                    else if feature == schema.taskFeature { .user(request.user) } else { .missing }
                defaults[feature] = schema.typed(source, feature: feature, text: &defaultText)
            }
        }
    }

    /// The ``FeatureEncoder/Field``s of a chunk (`chunkSize × F`, feature-major) and its `F`
    /// ``FeatureEncoder/FieldColumn``s, allocated once and reused. They hold pointers that are
    /// valid only while one chunk is encoded, so they are not `Sendable` values: a class that a
    /// workspace, used by one thread at a time, owns (a copy gets its own: ``Scratch/prepareBuffers(features:)``).
    final class ChunkBuffers: @unchecked Sendable {
        private(set) var values = UnsafeMutablePointer<FeatureEncoder.Field>.allocate(capacity: 0)
        private(set) var fields = UnsafeMutablePointer<FeatureEncoder.FieldColumn>.allocate(capacity: 0)
        private var features = 0, candidates = 0

        /// Room for `features` columns of `candidates` values (grown, never shrunk).
        func reserve(features: Int, candidates: Int) {
            guard features > self.features || candidates > self.candidates else { return }
            free()
            self.features = max(features, self.features)
            self.candidates = max(candidates, self.candidates)
            values = .allocate(capacity: self.features * self.candidates)
            values.initialize(repeating: .integer(0), count: self.features * self.candidates)
            fields = .allocate(capacity: self.features)
            fields.initialize(repeating: .constant(.integer(0)), count: self.features)
        }

        private func free() {
            values.deallocate()
            fields.deallocate()
        }

        deinit { free() }
    }
}
