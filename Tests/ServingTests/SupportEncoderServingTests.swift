import ModelDescription
import ModelMath
import ParamServer
import Serving
import TensorCore
import Testing
import TestSupport

/// The support encoder through the serving path: events pool their user's earlier rows, scores
/// pool the stored rows, and both equal the training path (the log in order through
/// ``SupportHistory``, then the training forward pass).
@Suite struct SupportEncoderServingTests {
    static func model() throws -> ServingModel {
        var shape = ServingModel.SyntheticShape.small
        shape.supportCapacity = 4
        shape.supportEncoder = .init(source: "item_id", pooling: [.mean, .labelWeighted], label: "task1")
        return try Fixtures.model(shape)
    }

    static func event(_ user: String, _ item: Int, _ like: Int, _ time: Int) -> [String: FeatureValue] {
        ["user_id": .string(user), "item_id": .string("\(item)"), "category": .string("\(item % 3)"),
         "price": .number(Double(item % 7)), "popularity": .number(0.5), "task0": .number(Double(1 - like)),
         "task1": .number(Double(like)), "timestamp": .number(Double(time))]
    }

    /// The rows as the training path encodes them: raw strings through the model's encoder.
    static func encoded(_ rows: [[String: FeatureValue]], _ model: ServingModel) throws -> EncodedBatch {
        var batch = model.encoder.makeBatch()
        var scratch = FeatureEncoder.Scratch()
        for row in rows {
            var text: [String: String] = [:]
            for (key, value) in row {
                switch value {
                case .string(let s): text[key] = s
                case .number(let x): text[key] = x == x.rounded() ? String(Int(x)) : String(x)
                default: break
                }
            }
            try model.encoder.encode(row: text, into: &batch, scratch: &scratch)
        }
        return batch
    }

    @Test func `events and scores equal the training path's pools and forward pass`() throws {
        let model = try Self.model()
        let predictor = Fixtures.predictor(model, steps: 0)
        let events = (0..<7).map { Self.event($0 % 2 == 0 ? "u" : "v", 10 + $0, $0 % 3 == 0 ? 1 : 0, 100 + $0) }
        // Two requests: the second's events pool the first's stored rows.
        try predictor.record(events: EventsRequest(events: Array(events[0..<3])))
        try predictor.record(events: EventsRequest(events: Array(events[3...])))

        // Training path: the whole log in order, one pass of the history.
        let encoder = try #require(model.config.supportEncoder)
        var log = try Self.encoded(events, model)
        var history = SupportHistory(encoder: encoder)
        history.attach(to: &log)
        var ws = NetworkWorkspace()
        let spec = model.config.networkSpec, layout = model.config.inputLayout
        MultiTaskNetwork.forwardBottom(model.parameters, spec: spec, layout: layout, batch: log, table: model.embeddings,
                                       createEmbeddings: false, workspace: &ws)
        let k = spec.taskCount, h = spec.metaWidth, w = model.support.config.rowWidth
        #expect(w == k * h + 2)
        var features = [Float](repeating: 0, count: 4 * w), labels = [Float](repeating: 0, count: 4 * k)
        for user in ["u", "v"] {
            let s = features.withUnsafeMutableBufferPointer { f in
                labels.withUnsafeMutableBufferPointer { l in model.support.pull(task: predictor.taskKey(user: user), features: f, labels: l) }
            }
            let rows = (0..<events.count).filter { log.taskKeys[$0] == predictor.taskKey(user: user) }.suffix(4)
            #expect(s == rows.count)
            for (i, r) in rows.enumerated() {
                for t in 0..<k {
                    for j in 0..<h {
                        #expect(abs(features[i * w + t * h + j] - ws.meta[t].scalars[r * h + j]) <= 1e-5, "\(user) row \(r) f_\(t)[\(j)]")
                    }
                }
                let key = features.withUnsafeBufferPointer { SupportRowKey.read(from: $0.baseAddress! + i * w + k * h) }
                #expect(key == log.categorical[r * log.categoricalWidth + 1], "\(user) row \(r) keeps its item key")
            }
        }

        // Candidates: pooled over the stored rows (the newest S_max), scored by the base towers.
        let candidates = (0..<5).map { Self.event("u", 40 + $0, 0, 0) }
        let served = try predictor.score(ScoreRequest(user: "u", candidates: candidates.map { c in
            c.filter { ["item_id", "category", "price", "popularity"].contains($0.key) }
        }, finetune: false))
        var query = try Self.encoded(candidates, model)
        history.attachCandidates(to: &query, rowOffsets: [0, 5], tasks: [predictor.taskKey(user: "u")])
        MultiTaskNetwork.forward(model.parameters, spec: spec, layout: layout, batch: query, table: model.embeddings,
                                 createEmbeddings: false, workspace: &ws)
        for t in 0..<k {
            let logits = ws.logits(task: t)
            for c in 0..<5 {
                let expected = TaskLoss.prediction(kind: model.config.taskSpecs[t].kind, logit: logits.scalars[c])
                #expect(abs(served.scores[c * k + t] - expected) <= 1e-5, "candidate \(c) task \(t)")
            }
        }
    }

    @Test func `the pooled feature changes a user's scores`() throws {
        let model = try Self.model()
        let predictor = Fixtures.predictor(model, steps: 0)
        let candidates = (0..<4).map { c in ["item_id": FeatureValue.string("\(50 + c)"), "category": .string("1")] }
        let request = ScoreRequest(user: "w", candidates: candidates, finetune: false)
        let before = try predictor.score(request).scores
        try predictor.record(events: EventsRequest(events: (0..<3).map { Self.event("w", 60 + $0, $0 % 2, 10 + $0) }))
        let after = try predictor.score(request)
        #expect(after.finetuned == false, "base towers: the change comes from the feature alone")
        #expect(Fixtures.maxRelativeDifference(before, after.scores) > 1e-4)
    }

    @Test func `the exported scorer and the phase profile run the pools too`() throws {
        let model = try Self.model()
        let predictor = Fixtures.predictor(model, steps: 2, learningRate: 0.05)
        try predictor.record(events: EventsRequest(events: (0..<4).map { Self.event("x", 70 + $0, $0 % 2, 20 + $0) }))
        let candidates = (0..<6).map { c in ["item_id": FeatureValue.string("\(80 + c)"), "category": .string("2")] }
        let request = ScoreRequest(user: "x", candidates: candidates)
        let f = try predictor.metaLayerInputs(of: request)
        let served = try predictor.score(request)
        #expect(predictor.personalScorer(user: "x").scores(metaInputs: f, count: 6) == served.scores)
        _ = try predictor.phaseTimes(request, repetitions: 1)
    }
}
