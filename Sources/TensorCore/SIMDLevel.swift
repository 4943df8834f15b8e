import CKernels

/// The instruction set the hand-written C kernels (GEMM, tower head and fused tower forward, gate
/// mixture, sigmoid, softmax, peak loop) run with, chosen once per process from what the CPU
/// supports (AVX-512 needs AVX-512F with AVX2 and FMA).
///
/// The environment variable `METAREC_SIMD=portable|avx2|avx512` caps the level, so one binary
/// can be measured at a lower level on the same machine (`METAREC_SIMD=avx2 metarec-bench …`).
public enum SIMDLevel: Int, Sendable, Comparable, CaseIterable, CustomStringConvertible {
    /// Plain C loops (any CPU).
    case portable = 0
    /// 256-bit AVX2 with FMA: 8 floats per vector, 16 registers.
    case avx2 = 1
    /// 512-bit AVX-512F: 16 floats per vector, 32 registers, lane masks.
    case avx512 = 2

    /// The highest level this CPU and OS support.
    public static var cpu: SIMDLevel { SIMDLevel(rawValue: Int(mr_cpu_simd_level())) ?? .portable }

    /// The level the kernels use: ``cpu``, capped by `METAREC_SIMD`.
    public static var inUse: SIMDLevel { SIMDLevel(rawValue: Int(mr_simd_level())) ?? .portable }

    /// Every level this CPU can run, lowest first (what tests compare against the reference).
    public static var available: [SIMDLevel] { allCases.filter { $0 <= cpu } }

    public static func < (lhs: SIMDLevel, rhs: SIMDLevel) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String {
        switch self {
        case .portable: "portable C"
        case .avx2: "AVX2/FMA"
        case .avx512: "AVX-512"
        }
    }
}
