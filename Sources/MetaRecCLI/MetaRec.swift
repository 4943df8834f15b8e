import ArgumentParser

/// `metarec`: train, evaluate and serve MMoE models with meta-learned towers (benchmarks:
/// `metarec-bench`, its own executable).
@main
struct MetaRec: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metarec",
        abstract: "Multi-task recommendation with MAML-meta-learned towers, fine-tuned per user at serving time.",
        subcommands: commands
    )

    #if HTTPServer
    static let commands: [any ParsableCommand.Type] = [Demo.self, Train.self, Federated.self, ExportONNX.self, Eval.self, EvalCold.self, Compare.self, BaselineCommand.self, Datasets.self, RetrievalCommand.self, Serve.self, Score.self]
    #else
    /// Built without the `HTTPServer` package trait (`make demo`): everything but `serve`.
    static let commands: [any ParsableCommand.Type] = [Demo.self, Train.self, Federated.self, ExportONNX.self, Eval.self, EvalCold.self, Compare.self, BaselineCommand.self, Datasets.self, RetrievalCommand.self, Score.self]
    #endif
}
