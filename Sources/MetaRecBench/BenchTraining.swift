import ArgumentParser
import Foundation
import MetaTrain
import ModelDescription
import ModelMath
import ParamServer
import TensorCore

/// `metarec-bench training`: training throughput (rows/s) with 1 and 2 worker threads,
/// plain MMoE (λ = 0) and first-order MAML with k = 1, on the census config.
///
/// Every run is the real training loop (`Trainer.train`: shuffle buffer, `DataParallelStep`,
/// Adam, embedding-row updates) over the same fixed batches, from fresh weights and a fresh
/// embedding table, so runs do the same work. The four configurations are interleaved run
/// by run, so background load drifts over all of them alike; medians are reported, and the
/// ratios are also given as medians of per-round ratios (paired, robust to drift).
struct BenchTraining: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "training",
        abstract: "Training rows/s with 1 and 2 threads, plain MMoE and first-order MAML (k = 1), median of several runs.",
        discussion: """
            Data: --data/--config when given; otherwise the census dataset generated from \
            $METAREC_DATA/census-income-kdd/census-income.test.gz into a temporary directory; \
            otherwise the synthetic generator. Batches are read into memory first (CSV parsing \
            is not timed) unless --include-csv is given. Targets (issue 3): 2 threads ≥ 1.6× \
            1 thread; first-order k = 1 meta-training ≤ 2× plain time per row.
            """)

    @Option(help: "Model config (YAML); needs --data.") var config: String?
    @Option(help: "Training CSV log; needs --config.") var data: String?
    @Option(help: "Mini-batches per timed run (of the config's batch size).") var batches = 40
    @Option(help: "Timed runs per configuration (the median is reported), after one warm-up run.") var runs = 5
    @Flag(help: "Time CSV parsing and encoding too (the trainer reads the file on its own thread).") var includeCSV = false
    @Flag(help: "Also print where the time goes: a phase profile of the trainer's per-batch loop.") var phases = false
    @Option(help: "Output format.") var format: OutputFormat = .table

    func validate() throws {
        guard batches > 0, runs > 0 else { throw ValidationError("--batches and --runs must be positive") }
        guard (config == nil) == (data == nil) else { throw ValidationError("give both --config and --data, or neither") }
    }

    func run() async throws {
        try reportingErrors {
            let scratch = FileManager.default.temporaryDirectory
                .appendingPathComponent("metarec-bench-training-\(ProcessInfo.processInfo.processIdentifier)").path
            defer { try? FileManager.default.removeItem(atPath: scratch) }
            let source = try TrainingBenchSource.resolve(config: config, data: data, scratch: scratch)
            let bench = try TrainingBench(source: source, batches: batches, includeCSV: includeCSV)
            try bench.validate()
            let results = try bench.measure(runs: runs)
            print(format == .json ? bench.json(results) : bench.table(results))
            if phases { print(try bench.phaseTable(runs: runs)) }
        }
    }
}

/// Where the benchmark's rows and config come from.
struct TrainingBenchSource {
    var name: String
    var config: String
    var data: String

    static func resolve(config: String?, data: String?, scratch: String) throws -> TrainingBenchSource {
        if let config, let data { return TrainingBenchSource(name: data, config: config, data: data) }
        let root = ProcessInfo.processInfo.environment["METAREC_DATA"] ?? ""
        let census = root + "/census-income-kdd/census-income.test.gz"
        if !root.isEmpty, FileManager.default.fileExists(atPath: census) {
            printError("bench training: generating the census dataset from \(census)")
            let summary = try CensusDataset.write(raw: census, to: scratch)
            return TrainingBenchSource(name: "census (generated from $METAREC_DATA)", config: summary.configPath,
                                       data: summary.file(.train).path)
        }
        printError("bench training: $METAREC_DATA has no census file; using the synthetic generator")
        let summary = try SyntheticDataset.write(try SyntheticConfig(users: 2000, rows: 60_000), to: scratch)
        return TrainingBenchSource(name: "synthetic (60000 rows, 2000 users)", config: summary.configPath,
                                   data: summary.file(.train).path)
    }
}

/// One measured configuration.
struct TrainingBenchCase: Hashable {
    var meta: Bool
    var threads: Int
    var label: String { meta ? "meta (first order, k = 1)" : "plain MMoE" }
}

/// The benchmark proper: fixed in-memory batches, the real trainer.
struct TrainingBench {
    let source: TrainingBenchSource
    let baseConfig: ModelConfig
    let encoder: FeatureEncoder
    let batchList: [EncodedBatch]
    let rowsPerRun: Int
    let includeCSV: Bool
    static let cases = [false, true].flatMap { meta in [1, 2].map { TrainingBenchCase(meta: meta, threads: $0) } }

    init(source: TrainingBenchSource, batches: Int, includeCSV: Bool) throws {
        self.source = source
        self.includeCSV = includeCSV
        let config = try ModelConfig.load(yamlFile: source.config)
        baseConfig = config
        let profile = try DataProfile.fit(path: source.data, config: config)
        encoder = try FeatureEncoder(config: config, statistics: profile.statistics)
        // The batches a training epoch would start with (same shuffle as epoch 0).
        var stream = ShuffledBatches(try CSVBatchStream(path: source.data, encoder: encoder), batchSize: config.training.batchSize,
                                     bufferRows: config.training.shuffle.rows, seed: config.training.seed)
        var list: [EncodedBatch] = []
        while list.count < batches, let batch = try stream.next(), batch.count == config.training.batchSize { list.append(batch) }
        guard list.count == batches else {
            throw ValidationError("bench training: \(source.data) has only \(list.count) full batches of \(config.training.batchSize); lower --batches")
        }
        batchList = list
        rowsPerRun = batches * config.training.batchSize
    }

    /// The config of one case: the census model, `threads` workers, meta-learning on
    /// (first order, one inner step) or off.
    func config(_ c: TrainingBenchCase) -> ModelConfig {
        var config = baseConfig
        config.training.threads = c.threads
        config.training.epochs = 1
        config.meta.enabled = c.meta
        config.meta.order = .first
        config.meta.innerSteps = 1
        return config
    }

    /// Before timing: 1 and 2 threads compute the same gradient (plain and meta), so the
    /// parallel path being timed is the correct one.
    func validate() throws {
        for meta in [false, true] {
            let config = config(TrainingBenchCase(meta: meta, threads: 1))
            let parameters = ModelParameters(spec: config.networkSpec, seed: config.model.seed)
            let table = try EmbeddingStore(config: EmbeddingStoreConfig(model: config))
            var gradients: [[(name: String, tensor: Tensor)]] = []
            var losses: [[Double]] = []
            for threads in [1, 2] {
                let step = DataParallelStep(spec: config.networkSpec, layout: config.inputLayout, tasks: config.taskSpecs,
                                            threads: threads, meta: MetaLearning(config: config), like: parameters)
                losses.append(step.compute(parameters: parameters, batch: batchList[0], table: table, splitSeed: 7).base)
                gradients.append(step.gradients.namedTensors)
            }
            var scale: Float = 0, worst: Float = 0
            for (a, b) in zip(gradients[0], gradients[1]) {
                for (x, y) in zip(a.tensor.scalars, b.tensor.scalars) {
                    scale = max(scale, abs(x))
                    worst = max(worst, abs(x - y))
                }
            }
            guard scale > 0, worst <= 1e-4 * scale, zip(losses[0], losses[1]).allSatisfy({ abs($0 - $1) <= 1e-5 * max(1, abs($0)) }) else {
                throw ValidationError("bench training: 1- and 2-thread gradients differ (meta \(meta)): max |Δ| \(worst), scale \(scale)")
            }
        }
    }

    /// One training run of `case` over the fixed batches; returns wall and process CPU seconds.
    func timeOneRun(_ c: TrainingBenchCase) throws -> (wall: Double, cpu: Double) {
        let config = config(c)
        let store = try EmbeddingStore(config: EmbeddingStoreConfig(model: config))
        let trainer = Trainer(config: config, table: store, checkpoint: nil)
        let batches = batchList, path = source.data, encoder = encoder, rows = rowsPerRun
        let pass: () throws -> any BatchStream = includeCSV
            ? { RowLimit(base: try CSVBatchStream(path: path, encoder: encoder), remaining: rows) }
            : { MemoryBatches(batches: batches) }
        let data = TrainingData(trainingPass: pass, validationPass: nil, trainingRows: rowsPerRun, fingerprint: "bench")
        let start = ContinuousClock.now
        let cpuStart = Self.processCPUSeconds()
        let report = try trainer.train(data: data, progress: ProgressReporter(quiet: true))
        let cpu = Self.processCPUSeconds() - cpuStart
        let d = ContinuousClock.now - start
        guard report.rowsTrained == rowsPerRun else {
            throw ValidationError("bench training: trained \(report.rowsTrained) rows, expected \(rowsPerRun)")
        }
        guard trainer.parameters.namedTensors.allSatisfy({ $0.tensor.isFinite }) else {
            throw ValidationError("bench training: non-finite weights after training (\(c.label), \(c.threads) threads)")
        }
        return (Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18, cpu)
    }

    /// User + system CPU seconds of the whole process (all threads). CPU time over wall time
    /// shows how many cores a run really had: on a shared machine, a 2-thread run that gets
    /// ~1 core cannot show its speed-up.
    static func processCPUSeconds() -> Double {
        var usage = rusage()
        #if os(Linux)
        getrusage(RUSAGE_SELF.rawValue, &usage)
        #else
        getrusage(RUSAGE_SELF, &usage)
        #endif
        return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) * 1e-6
            + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) * 1e-6
    }

    /// Seconds per run for every case, runs interleaved across cases (one warm-up round first).
    func measure(runs: Int) throws -> TrainingBenchResults {
        let loadBefore = Self.loadAverage()
        for c in Self.cases { _ = try timeOneRun(c) }
        var seconds: [TrainingBenchCase: [Double]] = [:], cpu: [TrainingBenchCase: [Double]] = [:]
        for round in 0..<runs {
            // Rotate the order each round so no case always runs first after another.
            for i in 0..<Self.cases.count {
                let c = Self.cases[(i + round) % Self.cases.count]
                let t = try timeOneRun(c)
                seconds[c, default: []].append(t.wall)
                cpu[c, default: []].append(t.cpu)
            }
        }
        return TrainingBenchResults(seconds: seconds, cpuSeconds: cpu, runs: runs, loadBefore: loadBefore,
                                    loadAfter: Self.loadAverage())
    }

    /// The 1-minute load average (other processes share the cores), when readable.
    static func loadAverage() -> Double? {
        guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else { return nil }
        return text.split(separator: " ").first.flatMap { Double($0) }
    }
}

/// Timings and derived figures.
struct TrainingBenchResults {
    /// Seconds per timed run, in run order, by case.
    var seconds: [TrainingBenchCase: [Double]]
    /// Process CPU seconds per timed run, in run order, by case.
    var cpuSeconds: [TrainingBenchCase: [Double]]
    var runs: Int
    var loadBefore: Double?
    var loadAfter: Double?

    func median(_ c: TrainingBenchCase) -> Double { Self.median(seconds[c]!) }

    /// Median over runs of CPU seconds / wall seconds: the cores a run actually used.
    func coresUsed(_ c: TrainingBenchCase) -> Double { Self.median(zip(cpuSeconds[c]!, seconds[c]!).map { $0 / $1 }) }

    static func median(_ xs: [Double]) -> Double {
        let s = xs.sorted()
        return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
    }

    /// `numerator`'s time over `denominator`'s: the ratio of medians, the median of per-round
    /// ratios, and the ratio of the fastest runs (the least disturbed by other processes).
    func timeRatio(_ numerator: TrainingBenchCase, _ denominator: TrainingBenchCase) -> (ofMedians: Double, paired: Double, best: Double) {
        let paired = zip(seconds[numerator]!, seconds[denominator]!).map { $0 / $1 }
        return (median(numerator) / median(denominator), Self.median(paired),
                seconds[numerator]!.min()! / seconds[denominator]!.min()!)
    }
}

extension TrainingBench {
    private func c(_ meta: Bool, _ threads: Int) -> TrainingBenchCase { TrainingBenchCase(meta: meta, threads: threads) }

    func table(_ r: TrainingBenchResults) -> String {
        let b = baseConfig.training.batchSize
        var out = "Training throughput: \(source.name)\n"
        out += "  \(baseConfig.labels.count) tasks, \(baseConfig.features.count) features, D = \(baseConfig.networkSpec.inputWidth), "
        out += "\(baseConfig.model.experts) experts \(baseConfig.model.expertLayers), towers \(baseConfig.model.towerLayers), B = \(b)\n"
        out += "  \(batchList.count) batches (\(rowsPerRun) rows) per run, median of \(r.runs) runs, "
        out += includeCSV ? "CSV parsing timed\n" : "batches in memory (CSV parsing not timed)\n"
        out += "  load average \(r.loadBefore.map { String(format: "%.2f", $0) } ?? "?") before, "
        out += "\(r.loadAfter.map { String(format: "%.2f", $0) } ?? "?") after; \(ProcessInfo.processInfo.activeProcessorCount) cores\n"
        out += "mode                        threads   rows/s (median)   [worst – best]       ms/batch   cores used\n"
        for k in Self.cases {
            let xs = r.seconds[k]!.sorted()
            out += k.label.padding(toLength: 28, withPad: " ", startingAt: 0)
            out += String(format: "%7d   %15.0f   [%7.0f – %7.0f]   %8.2f   %10.2f\n", k.threads, Double(rowsPerRun) / r.median(k),
                          Double(rowsPerRun) / xs.last!, Double(rowsPerRun) / xs.first!, 1000 * r.median(k) / Double(batchList.count),
                          r.coresUsed(k))
        }
        for meta in [false, true] {
            let s = r.timeRatio(c(meta, 1), c(meta, 2))
            out += String(format: "speed-up 2 threads / 1 thread, %@: %.2f× (paired median %.2f×, fastest runs %.2f×; target ≥ 1.6×)%@\n",
                          c(meta, 1).label, s.ofMedians, s.paired, s.best, s.ofMedians >= 1.6 ? "" : "  MISSED")
        }
        for threads in [1, 2] {
            let t = r.timeRatio(c(true, threads), c(false, threads))
            out += String(format: "meta / plain time per row, %d thread%@: %.2f× (paired median %.2f×, fastest runs %.2f×; target ≤ 2×)%@\n",
                          threads, threads == 1 ? "" : "s", t.ofMedians, t.paired, t.best, t.ofMedians <= 2 ? "" : "  MISSED")
        }
        return out
    }

    func json(_ r: TrainingBenchResults) -> String {
        func number(_ x: Double) -> String { String(format: "%.4f", x) }
        let cases = Self.cases.map { k in
            "{\"mode\":\"\(k.meta ? "meta_first_order_k1" : "plain")\",\"threads\":\(k.threads),"
                + "\"rows_per_s_median\":\(number(Double(rowsPerRun) / r.median(k))),"
                + "\"cores_used_median\":\(number(r.coresUsed(k))),"
                + "\"seconds\":[\(r.seconds[k]!.map(number).joined(separator: ","))],"
                + "\"cpu_seconds\":[\(r.cpuSeconds[k]!.map(number).joined(separator: ","))]}"
        }
        let speedups = [false, true].map { meta in
            let s = r.timeRatio(c(meta, 1), c(meta, 2))
            return "\"\(meta ? "meta" : "plain")\":{\"of_medians\":\(number(s.ofMedians)),\"paired\":\(number(s.paired)),\"fastest\":\(number(s.best))}"
        }
        let metaRatios = [1, 2].map { threads in
            let t = r.timeRatio(c(true, threads), c(false, threads))
            return "\"\(threads)\":{\"of_medians\":\(number(t.ofMedians)),\"paired\":\(number(t.paired)),\"fastest\":\(number(t.best))}"
        }
        let source = self.source.name.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"")
        return "{\"benchmark\":\"training\",\"source\":\"\(source)\",\"batch_size\":\(baseConfig.training.batchSize),"
            + "\"batches\":\(batchList.count),\"rows_per_run\":\(rowsPerRun),\"runs\":\(r.runs),\"include_csv\":\(includeCSV),"
            + "\"load_average_before\":\(r.loadBefore.map(number) ?? "null"),\"load_average_after\":\(r.loadAfter.map(number) ?? "null"),"
            + "\"cases\":[\(cases.joined(separator: ","))],"
            + "\"speedup_2_over_1_threads\":{\(speedups.joined(separator: ","))},"
            + "\"meta_over_plain_time_per_row\":{\(metaRatios.joined(separator: ","))},"
            + "\"targets\":{\"speedup_min\":1.6,\"meta_over_plain_max\":2.0}}"
    }
}

extension TrainingBench {
    /// The phases of one training step, in loop order.
    static let phaseNames = ["gradient (DataParallelStep.compute)",
                             "update ∥ next batch (Adam, push ∥ shuffle)"]

    /// Milliseconds per batch of each phase of the trainer's loop (`Trainer.train`'s body, spelled
    /// out with the same calls so each can be timed) for one run of one case. The second phase
    /// applies the update on the caller while a helper reads the next batch (one after the
    /// other with one thread). Reading the first batch is not timed.
    func phaseRun(_ c: TrainingBenchCase) throws -> [Double] {
        let config = config(c)
        let store = try EmbeddingStore(config: EmbeddingStoreConfig(model: config))
        var parameters = ModelParameters(spec: config.networkSpec, seed: config.model.seed)
        var optimizer = DenseOptimizer(like: parameters, config: config)
        let step = DataParallelStep(spec: config.networkSpec, layout: config.inputLayout, tasks: config.taskSpecs,
                                    threads: c.threads, meta: MetaLearning(config: config), like: parameters)
        var stream = ShuffledBatches(MemoryBatches(batches: batchList), batchSize: config.training.batchSize,
                                     bufferRows: config.training.shuffle.rows, seed: config.training.seed)
        var totals = [Double](repeating: 0, count: Self.phaseNames.count)
        var clock = ContinuousClock.now
        func lap(_ phase: Int) {
            let now = ContinuousClock.now
            let d = (now - clock).components
            totals[phase] += Double(d.seconds) * 1e3 + Double(d.attoseconds) * 1e-15
            clock = now
        }
        var index: UInt64 = 0
        var upcoming = try stream.next()
        clock = ContinuousClock.now
        while let batch = upcoming {
            step.compute(parameters: parameters, batch: batch, table: store, splitSeed: config.training.seed &+ index)
            lap(0)
            upcoming = try step.applyUpdate(optimizer: &optimizer, parameters: &parameters, table: store,
                                            readingNextFrom: &stream).get()
            lap(1)
            index += 1
        }
        return totals.map { $0 / Double(batchList.count) }
    }

    /// The phase profile of every case as a table (ms per batch), with the 2-thread speed-up of
    /// the gradient and the share of the overlapped update.
    func phaseTable(runs: Int) throws -> String {
        // Interleaved like the main measurement, one warm-up round; median per phase.
        var samples: [TrainingBenchCase: [[Double]]] = [:]
        for round in 0...runs {
            for i in 0..<Self.cases.count {
                let c = Self.cases[(i + round) % Self.cases.count]
                let run = try phaseRun(c)
                if round > 0 { samples[c, default: []].append(run) }
            }
        }
        var profiles: [TrainingBenchCase: [Double]] = [:]
        for (c, runs) in samples {
            profiles[c] = (0..<Self.phaseNames.count).map { p in TrainingBenchResults.median(runs.map { $0[p] }) }
        }
        var out = "Where the time goes: ms per batch of \(baseConfig.training.batchSize) rows (median of \(runs) runs; "
        out += "load average \(Self.loadAverage().map { String(format: "%.2f", $0) } ?? "?"))\n"
        out += "phase".padding(toLength: 38, withPad: " ", startingAt: 0)
        for c in Self.cases {
            let name = (c.meta ? "meta " : "plain ") + "\(c.threads)t"
            out += String(repeating: " ", count: max(0, 9 - name.count)) + name + "  "
        }
        out += "\n"
        for (p, name) in Self.phaseNames.enumerated() {
            out += name.padding(toLength: 38, withPad: " ", startingAt: 0)
            for c in Self.cases { out += String(format: "%9.3f  ", profiles[c]![p]) }
            out += "\n"
        }
        out += "total".padding(toLength: 38, withPad: " ", startingAt: 0)
        for c in Self.cases { out += String(format: "%9.3f  ", profiles[c]!.reduce(0, +)) }
        out += "\n"
        for meta in [false, true] {
            let one = profiles[TrainingBenchCase(meta: meta, threads: 1)]!, two = profiles[TrainingBenchCase(meta: meta, threads: 2)]!
            out += String(format: "%@: gradient speed-up %.2f×; update ∥ next batch %.3f ms with 1 thread, %.3f ms with 2 "
                          + "(%.0f%% of the 2-thread step)\n",
                          meta ? "meta" : "plain", one[0] / two[0], one[1], two[1], 100 * two[1] / two.reduce(0, +))
        }
        return out
    }
}

/// Fixed batches replayed from memory.
struct MemoryBatches: BatchStream {
    var batches: [EncodedBatch]
    var index = 0
    mutating func next() throws -> EncodedBatch? {
        guard index < batches.count else { return nil }
        defer { index += 1 }
        return batches[index]
    }
}

/// The first `remaining` rows of a stream.
struct RowLimit<Base: BatchStream>: BatchStream {
    var base: Base
    var remaining: Int
    mutating func next() throws -> EncodedBatch? {
        guard remaining > 0, let batch = try base.next() else { return nil }
        if batch.count <= remaining {
            remaining -= batch.count
            return batch
        }
        defer { remaining = 0 }
        return batch.selecting(rows: 0..<remaining)
    }
}

extension ModelConfig.Shuffle {
    /// Rows in the shuffle buffer (0 = file order).
    fileprivate var rows: Int {
        switch self {
        case .none: 0
        case .buffer(let rows): rows
        }
    }
}
