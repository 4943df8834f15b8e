import ArgumentParser
import Foundation
import TensorCore

/// Runs `body`; an error becomes one line on standard error and exit code 1.
/// Also applies the process-wide compute policy first, as `metarec` does: one OpenBLAS thread
/// per call (parallelism comes from MetaRec's own worker threads) and a warmed-up BLAS.
func reportingErrors(_ body: () throws -> Void) throws {
    BLASRuntime.threadCount = 1
    BLASRuntime.warmUp()
    do {
        try body()
    } catch let error as ExitCode {
        throw error
    } catch {
        printError("error: \(error)")
        throw ExitCode.failure
    }
}

/// Writes a line to standard error.
func printError(_ text: String) {
    FileHandle.standardError.write(Data((text + "\n").utf8))
}
