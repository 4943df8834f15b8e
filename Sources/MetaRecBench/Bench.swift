import ArgumentParser

/// `metarec-bench …`: end-to-end performance figures (run from a release build).
///
/// Its own executable, not a `metarec` subcommand: it links the counting malloc replacement
/// (`CMallocCounter`) for allocations per request, which a serving process must never run on.
@main
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metarec-bench",
        abstract: "Measure MetaRec's performance (use a release build: swift build -c release --product metarec-bench).",
        subcommands: [BenchGEMM.self, BenchCSV.self, BenchStore.self, BenchServing.self, BenchTraining.self, BenchTopN.self, BenchRecall.self]
    )
}

/// Output format shared by the benchmark commands.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json
}
