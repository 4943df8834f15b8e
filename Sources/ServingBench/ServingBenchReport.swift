/// How a benchmark request holds its candidates (``ScoreRequest/columns`` or ``ScoreRequest/candidates``).
package enum CandidateForm: String, Codable, CaseIterable, Sendable {
    case columns, rows
}

/// One cell of the single-request grid.
package struct ServingCell: Codable, Sendable {
    package var support: Int
    package var steps: Int
    package var candidates: Int
    package var iterations: Int
    package var p50Microseconds: Double
    package var p90Microseconds: Double
    package var p99Microseconds: Double
    package var p999Microseconds: Double
    package var meanCPUMicroseconds: Double
    package var megaflops: Double
    /// FLOPs ÷ measured single-core peak, µs.
    package var floorMicroseconds: Double
    /// p50 ÷ floor.
    package var p50OverFloor: Double
    package var percentOfPeakAtP50: Double
    /// Heap allocations per request after warm-up; −1 when the binary has no malloc counter.
    package var allocationsPerRequest: Double
    /// Phase split of the mean (µs): encode, bottom, fine-tune + score.
    package var encodeMicroseconds: Double
    package var bottomMicroseconds: Double
    package var finetuneMicroseconds: Double
}

/// One auto-batched throughput run.
package struct BatchedRun: Codable, Sendable {
    package var workers: Int
    package var clients: Int
    package var support: Int
    package var steps: Int
    package var candidates: Int
    package var requests: Int
    package var requestsPerSecond: Double
    package var meanBatchSize: Double
    package var p50Microseconds: Double
    package var p99Microseconds: Double
    package var p999Microseconds: Double
    package var scoresMatchAlone: Bool
}

/// What `metarec-bench serving` prints (table or JSON) and `metarec demo` shows for the reference cell.
package struct ServingBenchReport: Codable, Sendable {
    /// The command line that produced the report (its first line in the table).
    package var command = ""
    package var candidateForm: CandidateForm
    package var peakGFLOPS: Double
    package var simd: String
    package var shape: String
    package var cells: [ServingCell]
    package var batched: [BatchedRun]
}
