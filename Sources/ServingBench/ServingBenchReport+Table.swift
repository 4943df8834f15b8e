import Foundation

extension ServingBenchReport {
    /// The human-readable report.
    package var table: String {
        func f(_ x: Double, _ digits: Int = 1) -> String { String(format: "%.\(digits)f", x) }
        var out = "\(command)\n"
        out += "single-core peak \(f(peakGFLOPS)) GFLOP/s (FMA loop, thread CPU time, same run); kernels: \(simd)\n"
        out += "model: \(shape)\n\n"
        out += "single requests, candidates as \(candidateForm.rawValue) (wall clock, µs; floor = FLOPs ÷ peak; allocs = mallocs per request after warm-up, - without a malloc counter)\n"
        out += "   S  k     C  iters    p50    p90    p99  p99.9   cpu  MFLOP  floor  p50/floor  %peak  allocs | encode bottom finetune+score\n"
        for c in cells {
            let allocs = c.allocationsPerRequest < 0 ? "-" : String(format: "%.1f", c.allocationsPerRequest)
            out += String(format: "%4d %2d %5d %6d %6.0f %6.0f %6.0f %6.0f %5.0f %6.2f %6.0f %10.2f %6.1f ",
                          c.support, c.steps, c.candidates, c.iterations, c.p50Microseconds, c.p90Microseconds,
                          c.p99Microseconds, c.p999Microseconds, c.meanCPUMicroseconds, c.megaflops, c.floorMicroseconds,
                          c.p50OverFloor, c.percentOfPeakAtP50)
            out += String(repeating: " ", count: max(0, 7 - allocs.count)) + allocs
            out += String(format: " | %6.0f %6.0f %6.0f\n", c.encodeMicroseconds, c.bottomMicroseconds, c.finetuneMicroseconds)
        }
        out += "\nauto-batched (closed loop, in-process clients; latency per request in µs)\n"
        out += " workers clients   S  k     C  requests    req/s  batch    p50    p99  p99.9  equal-alone\n"
        for b in batched {
            out += String(format: " %7d %7d %3d %2d %5d %9d %8.0f %6.1f %6.0f %6.0f %6.0f  ",
                          b.workers, b.clients, b.support, b.steps, b.candidates, b.requests, b.requestsPerSecond,
                          b.meanBatchSize, b.p50Microseconds, b.p99Microseconds, b.p999Microseconds)
            out += (b.scoresMatchAlone ? "yes" : "NO") + "\n"
        }
        return out
    }
}
