import ArgumentParser
import ParamServer

/// `--support-precision f32|bf16` of `metarec eval`, `eval-cold` and `score`: how the loaded model's support
/// store keeps its rows' meta-layer inputs (``ParamServer/SupportPrecision``), so that evaluation
/// measures what a server with `serving.support_precision` (or `serve --support-precision`) serves.
/// Absent: the model's `serving.support_precision`.
enum SupportPrecisionOption: String, ExpressibleByArgument, CaseIterable {
    case f32, bf16

    var precision: SupportPrecision { self == .f32 ? .float32 : .bfloat16 }

    static let help: ArgumentHelp = "How the support store keeps its rows' meta-layer inputs: f32, or bf16 (rounded to 8 significant bits, half the bytes) (default: the model's serving.support_precision)."
}
