import ModelDescription
import ModelMath

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Accumulates one task's predictions and labels and computes its metrics.
///
/// Binary tasks: ROC AUC (rank-sum / Mann–Whitney form, ties get their average rank) and
/// log loss (probabilities clipped to [1e-7, 1 − 1e-7]). Regression tasks: RMSE and MAE.
/// Rows with a missing (NaN) label are ignored.
public struct TaskMetricsAccumulator: Sendable {
    public let kind: TaskKind
    private(set) var predictions: [Float] = []
    private(set) var labels: [Float] = []

    public init(kind: TaskKind) { self.kind = kind }

    /// Adds one prediction (a probability for binary tasks, a value for regression).
    public mutating func add(prediction: Float, label: Float) {
        guard !label.isNaN else { return }
        predictions.append(prediction)
        labels.append(label)
    }

    /// Rows counted.
    public var count: Int { labels.count }

    /// The metrics of everything added so far.
    public func result() -> TaskMetrics {
        switch kind {
        case .binary:
            TaskMetrics(kind: kind, count: count, auc: Self.auc(scores: predictions, labels: labels), logLoss: logLoss())
        case .regression:
            TaskMetrics(kind: kind, count: count, rmse: rmse(), mae: mae())
        }
    }

    /// ROC AUC: `(Σ ranks of positives − P(P+1)/2) / (P·N)`; NaN when a class is absent.
    public static func auc(scores: [Float], labels: [Float]) -> Double {
        RankingMetrics.auc(labels: labels, scores: scores) ?? .nan
    }

    private func logLoss() -> Double {
        guard count > 0 else { return .nan }
        var total = 0.0
        for (p, y) in zip(predictions, labels) {
            let q = min(max(Double(p), 1e-7), 1 - 1e-7)
            total -= Double(y) * log(q) + (1 - Double(y)) * log(1 - q)
        }
        return total / Double(count)
    }

    private func rmse() -> Double {
        guard count > 0 else { return .nan }
        let s = zip(predictions, labels).reduce(0.0) { $0 + Double($1.0 - $1.1) * Double($1.0 - $1.1) }
        return (s / Double(count)).squareRoot()
    }

    private func mae() -> Double {
        guard count > 0 else { return .nan }
        return zip(predictions, labels).reduce(0.0) { $0 + Double(abs($1.0 - $1.1)) } / Double(count)
    }
}

/// One task's evaluation figures. Binary tasks fill `auc`/`logLoss`, regression `rmse`/`mae`.
public struct TaskMetrics: Sendable, Equatable, Codable {
    public var kind: String
    public var count: Int
    public var auc: Double?
    public var logLoss: Double?
    public var rmse: Double?
    public var mae: Double?

    init(kind: TaskKind, count: Int, auc: Double? = nil, logLoss: Double? = nil, rmse: Double? = nil, mae: Double? = nil) {
        self.kind = kind == .binary ? "binary" : "regression"
        self.count = count
        self.auc = auc
        self.logLoss = logLoss
        self.rmse = rmse
        self.mae = mae
    }

    /// One line for logs: `auc 0.9441 logloss 0.1523 (n=24940)`.
    public var summary: String {
        func f(_ x: Double?) -> String { x.map { $0.isNaN ? "nan" : String(Int(($0 * 10_000).rounded())).paddedDecimal } ?? "-" }
        if kind == "binary" { return "auc \(f(auc)) logloss \(f(logLoss)) (n=\(count))" }
        return "rmse \(f(rmse)) mae \(f(mae)) (n=\(count))"
    }
}

extension String {
    /// "9441" → "0.9441" (a value ×10⁴ rounded, shown with four decimals, no Foundation).
    fileprivate var paddedDecimal: String {
        var digits = self
        let negative = digits.hasPrefix("-")
        if negative { digits.removeFirst() }
        while digits.count < 5 { digits = "0" + digits }
        let split = digits.index(digits.endIndex, offsetBy: -4)
        return (negative ? "-" : "") + digits[..<split] + "." + digits[split...]
    }
}
