import Histogram
import Serving
import TensorCore

/// Latency percentiles of one repeated request, µs.
struct RequestLatency: Codable {
    var p50Microseconds: Double
    var p90Microseconds: Double
    var p99Microseconds: Double
    var meanMicroseconds: Double

    /// Times `predictor.score(request, into:)` (encode + bottom + support pull + adapt + score, or
    /// without the adaptation when the request turns fine-tuning off) `iterations` times after a warm-up.
    static func measure(_ predictor: Predictor, _ request: ScoreRequest, iterations: Int) throws -> RequestLatency {
        var result = ScoreResult(modelVersion: predictor.model.modelVersion, taskNames: predictor.taskNames)
        for _ in 0..<max(200, iterations / 5) { try predictor.score(request, into: &result) }
        var histogram = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
        var total = 0.0
        for _ in 0..<iterations {
            var failure: ServingError?
            let wall = MachinePeak.seconds(.wallClock) {
                do throws(ServingError) { try predictor.score(request, into: &result) } catch { failure = error }
            }
            if let failure { throw failure }
            total += wall
            _ = histogram.record(UInt64(wall * 1e9))
        }
        func us(_ p: Double) -> Double { Double(histogram.valueAtPercentile(p)) / 1e3 }
        return RequestLatency(p50Microseconds: us(50), p90Microseconds: us(90), p99Microseconds: us(99),
                              meanMicroseconds: total / Double(iterations) * 1e6)
    }
}
