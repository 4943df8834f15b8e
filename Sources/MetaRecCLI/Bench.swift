import ArgumentParser

/// `metarec bench …`: end-to-end performance figures (run from a release build).
struct Bench: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure performance (use a release build: swift build -c release).",
        subcommands: [BenchGEMM.self, BenchCSV.self, BenchStore.self, BenchServing.self, BenchTraining.self]
    )
}

/// Output format shared by the benchmark commands.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json
}
