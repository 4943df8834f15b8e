import ArgumentParser
import TensorCore

/// `metarec bench gemm`: GFLOP/s of the hand kernel and OpenBLAS against the measured peak.
struct BenchGEMM: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gemm",
        abstract: "GFLOP/s of the hand-written kernel and OpenBLAS, beside the measured single-core peak.")

    @Option(help: "Output format.") var format: OutputFormat = .table

    func run() async throws {
        throw ValidationError("bench gemm is not implemented yet")
    }
}
