import Configuration
import MetaRecServer
import Testing

/// The retrieval settings of `metarec serve`: `--retrieval`, `--retrieval-item-feature`, `--catalogue`.
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
}
