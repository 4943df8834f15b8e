import Foundation
import TensorCore

/// The shape sweep behind ``GEMM/resolvedBackend(m:n:k:)``: hand kernel over OpenBLAS on a
/// grid of (M, N, K), so the dispatch rule can be re-derived on a new machine
/// (`metarec-bench gemm --dispatch-grid`).
extension BenchGEMM {
    static let defaultGridM = [1, 4, 16, 64, 256, 1024]
    static let defaultGridN = [1, 4, 8, 16, 32, 64, 128, 256]
    static let defaultGridK = [8, 32, 128, 256, 512]

    private func values(_ list: String?, _ fallback: [Int]) -> [Int] {
        guard let list else { return fallback }
        let parsed = list.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        return parsed.isEmpty ? fallback : parsed
    }

    /// One line per (variant, M, K): the hand/OpenBLAS median-throughput ratio for each N.
    func dispatchGrid(variants: [(Bool, Bool)]) -> String {
        let gridMs = values(gridM, Self.defaultGridM), gridNs = values(gridN, Self.defaultGridN)
        let gridKs = values(gridK, Self.defaultGridK)
        var lines = ["hand/OpenBLAS median GFLOP/s ratio (>1: hand faster); * = automatic picks hand",
                     "op     M     K  " + gridNs.map { pad("N=\($0)", 7) }.joined(separator: " ")]
        for (ta, tb) in variants {
            for m in gridMs {
                for k in gridKs {
                    var cells: [String] = []
                    for n in gridNs {
                        let c = GEMMBenchCase(label: "grid", m: m, n: n, k: k, transposeA: ta, transposeB: tb)
                        let row = c.measure(samples: samples, minimumSeconds: sampleMilliseconds / 1000, timing: clock.timing)
                        let mark = GEMM.resolvedBackend(m: m, n: n, k: k, transposeA: ta, transposeB: tb) == .microKernel ? "*" : " "
                        cells.append(pad(String(format: "%.2f", row.handOverOpenBLAS) + mark, 7))
                    }
                    lines.append("\(c2(ta, tb))  \(pad("\(m)", 4))  \(pad("\(k)", 4))  " + cells.joined(separator: " "))
                }
            }
        }
        return lines.joined(separator: "\n")
    }

    private func c2(_ ta: Bool, _ tb: Bool) -> String { (ta ? "T" : "N") + (tb ? "T" : "N") }
    private func pad(_ s: String, _ w: Int) -> String { String(repeating: " ", count: max(0, w - s.count)) + s }
}
