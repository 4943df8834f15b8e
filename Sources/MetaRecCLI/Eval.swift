import ArgumentParser
import Foundation
import MetaTrain

/// `metarec eval`: per-task metrics of a model on a CSV log.
struct Eval: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Evaluate a model directory on a CSV log (AUC/logloss, RMSE/MAE per task).")

    @Option(help: "Model directory.") var model: String
    @Option(help: "CSV log to evaluate.") var data: String
    @Option(help: "Skip and count up to N malformed rows.") var maxBadRows: Int = 0
    @Option(help: "Output format.") var format: OutputFormat = .table

    func run() async throws {
        try reportingErrors {
            var job = EvaluationJob(modelPath: model, dataPath: data)
            job.maxBadRows = maxBadRows
            let results = try job.run()
            switch format {
            case .table:
                print("task        n        auc      logloss  rmse     mae")
                for (task, m) in results {
                    func f(_ x: Double?) -> String { x.map { String(format: "%.4f", $0) } ?? "-" }
                    print(task.padding(toLength: 10, withPad: " ", startingAt: 0),
                          String(m.count).padding(toLength: 8, withPad: " ", startingAt: 0),
                          f(m.auc).padding(toLength: 8, withPad: " ", startingAt: 0),
                          f(m.logLoss).padding(toLength: 8, withPad: " ", startingAt: 0),
                          f(m.rmse).padding(toLength: 8, withPad: " ", startingAt: 0), f(m.mae))
                }
            case .json:
                var object: [String: [String: Double]] = [:]
                for (task, m) in results {
                    var values = m.values
                    values["count"] = Double(m.count)
                    object[task] = values
                }
                let data = try JSONSerialization.data(withJSONObject: ["tasks": object], options: [.sortedKeys, .prettyPrinted])
                print(String(decoding: data, as: UTF8.self))
            }
        }
    }
}
