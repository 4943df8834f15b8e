import ArgumentParser
@testable import MetaRecCLI
import ParamServer
import Testing

/// `--support-precision` of `metarec eval`, `eval-cold` and `score` (issue 23, part 5).
@Suite struct SupportPrecisionOptionTests {
    @Test func `eval and eval-cold take f32 or bf16, and default to the model's setting`() throws {
        let eval = try Eval.parse(["--model", "m", "--data", "d.csv", "--finetune", "on", "--support-precision", "bf16"])
        #expect(eval.supportPrecision?.precision == .bfloat16)
        #expect(try Eval.parse(["--model", "m", "--data", "d.csv"]).supportPrecision == nil)
        let cold = try EvalCold.parse(["--model", "m", "--data", "d.csv", "--scored-out", "o", "--support-precision", "f32"])
        #expect(cold.supportPrecision?.precision == .float32)
        #expect(try Score.parse(["--model", "m", "--requests", "r.jsonl", "--support-precision", "bf16"]).supportPrecision?.precision == .bfloat16)
        #expect(try Score.parse(["--model", "m", "--requests", "r.jsonl"]).supportPrecision == nil)
        #expect(SupportPrecisionOption.allCases.map(\.precision) == SupportPrecision.allCases)
        #expect(SupportPrecisionOption.allCases.map(\.rawValue) == SupportPrecision.allCases.map(\.rawValue), "the config's spellings")
    }

    @Test func `another value is refused naming the choices`() {
        #expect { try Eval.parse(["--model", "m", "--data", "d.csv", "--support-precision", "fp16"]) } throws: { error in
            let message = Eval.message(for: error)
            return message.contains("fp16") && message.contains("f32") && message.contains("bf16")
        }
    }
}
