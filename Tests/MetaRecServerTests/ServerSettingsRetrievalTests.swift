import Configuration
import MetaRecServer
import Retrieval
import Testing

/// The retrieval settings of `metarec serve`: `--retrieval`, `--retrieval-item-feature`, `--catalogue`,
/// `--retrieval-adapt-*`.
@Suite struct ServerSettingsRetrievalTests {
    @Test func `retrieval settings come from the environment, flags win, defaults otherwise`() throws {
        let env = try ServerSettingsTests.settings(environment: [
            "METAREC_MODEL": "/m", "METAREC_RETRIEVAL": "/r", "METAREC_RETRIEVAL_ITEM_FEATURE": "movie", "METAREC_CATALOGUE": "/c.csv",
        ])
        #expect(env.retrieval == "/r" && env.retrievalItemFeature == "movie" && env.catalogue == "/c.csv")
        let flags = try ServerSettingsTests.settings(flags: ["metarec.retrieval": "/flag", "metarec.retrieval.item.feature": "sku"],
                                                     environment: ["METAREC_MODEL": "/m", "METAREC_RETRIEVAL": "/env"])
        #expect(flags.retrieval == "/flag" && flags.retrievalItemFeature == "sku" && flags.catalogue == nil)
        let none = try ServerSettingsTests.settings(environment: ["METAREC_MODEL": "/m"])
        #expect(none.retrieval == nil && none.retrievalItemFeature == "item_id" && none.catalogue == nil)
    }

    @Test func `recall adaptation is off by default, read from flags or the environment, and checked`() throws {
        let none = try ServerSettingsTests.settings(environment: ["METAREC_MODEL": "/m"])
        #expect(none.retrievalAdaptation == nil)
        #expect(try none.adaptation(overriding: nil).steps == 0)
        let own = try UserAdaptation(steps: 4, rate: 0.02, supportSize: 7)
        #expect(try none.adaptation(overriding: own) == own, "a model's own adaptation when nothing is set")
        let set = try ServerSettingsTests.settings(flags: ["metarec.retrieval.adapt.steps": "5", "metarec.retrieval.adapt.rate": "0.05"],
                                                   environment: ["METAREC_MODEL": "/m", "METAREC_RETRIEVAL_ADAPT_SUPPORT": "3",
                                                                 "METAREC_RETRIEVAL_ADAPT_STEPS": "2"])
        #expect(try set.adaptation(overriding: own) == (try UserAdaptation(steps: 5, rate: 0.05, supportSize: 3)))
        let off = try ServerSettingsTests.settings(environment: ["METAREC_MODEL": "/m", "METAREC_RETRIEVAL_ADAPT_STEPS": "0"])
        #expect(try off.adaptation(overriding: own) == (try UserAdaptation(steps: 0, rate: 0.02, supportSize: 7)), "turned off explicitly")
        for (variable, value) in [("METAREC_RETRIEVAL_ADAPT_STEPS", "-1"), ("METAREC_RETRIEVAL_ADAPT_STEPS", "101"),
                                  ("METAREC_RETRIEVAL_ADAPT_RATE", "0"), ("METAREC_RETRIEVAL_ADAPT_RATE", "nan"),
                                  ("METAREC_RETRIEVAL_ADAPT_SUPPORT", "0"), ("METAREC_RETRIEVAL_ADAPT_SUPPORT", "x")] {
            #expect(throws: ServerSettings.Invalid.self, "\(variable)=\(value)") {
                try ServerSettingsTests.settings(environment: ["METAREC_MODEL": "/m", variable: value])
            }
            do { _ = try ServerSettingsTests.settings(environment: ["METAREC_MODEL": "/m", variable: value]) } catch {
                #expect(error.variable == variable)
            }
        }
    }
}
