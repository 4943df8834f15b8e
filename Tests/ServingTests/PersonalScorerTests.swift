import Foundation
import ModelMath
@testable import Serving
import Testing

/// The exported user scorer (``PersonalScorer``) against the serving path it stands for, and the
/// protobuf encoding under its ONNX file.
@Suite struct PersonalScorerTests {
    @Test func `the user's scorer on the request's meta-layer inputs gives the request's scores`() throws {
        let model = try Fixtures.model()
        let predictor = Fixtures.predictor(model, steps: 3, learningRate: 0.05)
        var traffic = SyntheticTraffic(items: 500, seed: 9)
        _ = try predictor.record(events: traffic.events(user: "alice", count: 12, tasks: 2))
        let request = traffic.request(user: "alice", candidates: 17)
        let scorer = predictor.personalScorer(user: "alice")
        #expect(scorer.adapted == [true, true] && scorer.fallback == nil && scorer.supportRows == 12)
        #expect(scorer.towers != model.parameters.towers)
        let f = try predictor.metaLayerInputs(of: request)
        #expect(f.count == 17 * 2 * model.config.networkSpec.metaWidth)
        let served = try predictor.score(request)
        #expect(served.finetuned && served.fallback == nil)
        #expect(scorer.scores(metaInputs: f, count: 17) == served.scores)
    }

    @Test func `a user without support gets the base towers and says why`() throws {
        let model = try Fixtures.model()
        let scorer = Fixtures.predictor(model).personalScorer(user: "nobody")
        #expect(scorer.adapted == [false, false] && scorer.fallback == .noSupport)
        #expect(scorer.towers == model.parameters.towers)
    }

    @Test func `varints and fields follow the protobuf wire format`() {
        var w = ProtobufWriter()
        w.varint(300)
        #expect(w.bytes == [0xAC, 0x02])
        w = ProtobufWriter()
        w.field(1, int: -1)  // int64 −1: ten bytes of two's complement
        #expect(w.bytes == [0x08] + Array(repeating: 0xFF, count: 9) + [0x01])
        w = ProtobufWriter()
        w.field(2, string: "ab")
        w.field(3) { $0.field(1, int: 150) }
        #expect(w.bytes == [0x12, 2, 0x61, 0x62, 0x1A, 3, 0x08, 0x96, 0x01])
    }

    @Test func `the ONNX model names its input, output and every tower tensor`() throws {
        let model = try Fixtures.model()
        let bytes = Fixtures.predictor(model).personalScorer(user: "nobody").onnxModel()
        let text = String(decoding: bytes, as: UTF8.self)
        for name in ["metarec_personal_scorer", "Slice", "MatMul", "Sigmoid", "Concat", "tower0.0.weight", "tower1.1.bias"] {
            #expect(text.contains(name), "\(name) missing")
        }
        // Every weight is stored: 4 bytes a float, plus framing.
        let floats = model.parameters.towers.reduce(0) { $0 + $1.layers.reduce(0) { $0 + $1.weight.count + $1.bias.count } }
        #expect(bytes.count > 4 * floats)
    }
}
