import ModelDescription
import ModelMath
import Testing

/// Meta-SGD's learned rates are saved with the model and refused when missing.
@Suite struct InnerRatesCheckpointTests {
    @Test func `a spec with learned rates adds inner_rates tensors of ones that round-trip`() throws {
        let spec = NetworkSpec(architecture: .mmoe(experts: 2), inputWidth: 6, bottomWidths: [5, 4], towerWidths: [3],
                               taskCount: 2, learnsInnerRates: true)
        let p = ModelParameters(spec: spec, seed: 1)
        let names = p.namedTensors.map(\.name)
        #expect(names.filter { $0.hasPrefix("inner_rates.") }.count == 8)
        #expect(p.innerRates(ofTask: 1) == p.towers[1].filled(with: 1))
        #expect(ModelParameters(spec: NetworkSpec(architecture: .mmoe(experts: 2), inputWidth: 6, bottomWidths: [5, 4],
                                                  towerWidths: [3], taskCount: 2), seed: 1).innerRates(ofTask: 0) == nil)
        var changed = p
        changed.innerRates[0].layers[1].weight.fill(0.25)
        let (tensors, _) = try SafeTensors.decode(SafeTensors.encode(changed.namedTensors), path: "memory")
        var loaded = p
        try loaded.load(from: tensors, path: "memory")
        #expect(loaded == changed)
        // A file without them (a model trained without learned rates) is a named mismatch.
        let withoutRates = Dictionary(uniqueKeysWithValues: tensors.filter { !$0.key.hasPrefix("inner_rates.") }.map { ($0.key, $0.value) })
        var probe = p
        #expect(throws: CheckpointError.self) { try probe.load(from: withoutRates, path: "memory") }
    }
}
