import TensorCore

extension Predictor {
    /// Mean thread CPU seconds of each phase of ``score(_:into:)`` for `request`, over
    /// `repetitions` runs (benchmarks): encoding the candidates, the shared bottom, and the
    /// per-task fine-tuning plus scoring.
    public func phaseTimes(_ request: ScoreRequest, repetitions: Int) throws(ServingError) -> (encode: Double, bottom: Double, finetune: Double) {
        precondition(repetitions >= 1, "phaseTimes: repetitions must be >= 1, got \(repetitions)")
        try validate(request)
        var result = ScoreResult(modelVersion: model.modelVersion, taskNames: taskNames)
        var encode = 0.0, bottom = 0.0, finetune = 0.0
        withWorkspace { ws in
            for _ in 0..<repetitions {
                encode += MachinePeak.seconds(.threadCPUTime) {
                    self.encode(CollectionOfOne(request), workspace: &ws) { _, _ in }
                    attachCandidateSupport(workspace: &ws)
                }
                bottom += MachinePeak.seconds(.threadCPUTime) { runBottom(workspace: &ws) }
                finetune += MachinePeak.seconds(.threadCPUTime) {
                    finish(request, rows: ws.rowOffsets[0]..<ws.rowOffsets[1], workspace: &ws, into: &result)
                }
            }
        }
        let n = Double(repetitions)
        return (encode / n, bottom / n, finetune / n)
    }
}
