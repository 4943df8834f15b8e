import Foundation
import ModelDescription
import ModelMath
import ParamServer
import Testing
@testable import MetaTrain

/// `model.support_encoder` through the training job: the model trains, its support sets keep each
/// row's source key, `metarec eval` runs it, and `eval --finetune` refuses it by name.
@Suite struct SupportEncoderTrainingTests {
    static var config: ModelConfig {
        var config = ModelConfig(
            taskKey: "user", time: "ts",
            features: [.init(name: "user", kind: .categorical), .init(name: "item", kind: .categorical)],
            labels: [.init(name: "like", kind: .binary), .init(name: "rating", kind: .regression)])
        config.model.embeddingDimension = 4
        config.model.experts = 2
        config.model.expertLayers = [8]
        config.model.towerLayers = [4]
        config.model.supportEncoder = .init(source: "item", pooling: [.mean, .labelWeighted], label: "rating")
        config.supportStore.capacity = 3
        config.supportStore.keepFloor = 1
        config.training.batchSize = 16
        config.training.epochs = 2
        config.training.threads = 1
        return config
    }

    /// Users `u0 … u4`, each with rows in time order; items and ratings deterministic.
    static func log(rows: Int) -> String {
        let lines = (0..<rows).map { i in
            let rating = 1 + (i * 7 + i / 5) % 5
            return "u\(i % 5),\(1_700_000_000 + i),m\((i * 3) % 11),\(rating >= 4 ? 1 : 0),\(rating)"
        }
        return (["user,ts,item,like,rating"] + lines).joined(separator: "\n") + "\n"
    }

    /// Each row's pools (keys and weights of every encoder column), in stream order.
    static func pools(_ stream: inout some BatchStream, encoderColumns: Int) throws -> [[[Float]]] {
        var rows: [[[Float]]] = []
        while let batch = try stream.next() {
            let columns = batch.multiCategorical.suffix(encoderColumns)
            for r in 0..<batch.count {
                rows.append(columns.map { c in
                    let range = Int(c.offsets[r])..<Int(c.offsets[r + 1])
                    return c.keys[range].map { Float(bitPattern: UInt32(truncatingIfNeeded: $0)) }
                        + (c.weights.isEmpty ? [] : Array(c.weights[range]))
                })
            }
        }
        return rows
    }

    @Test func `the validation pass pools a user's training rows first, as if its log followed the training log`() throws {
        let scratch = CSVScratchDirectory()
        defer { scratch.cleanUp() }
        let lines = Self.log(rows: 60).split(separator: "\n").map(String.init)
        let header = lines[0], training = Array(lines[1...40]), validation = Array(lines[41...])
        let trainingPath = scratch.write("train.csv", ([header] + training).joined(separator: "\n") + "\n")
        let validationPath = scratch.write("validation.csv", ([header] + validation).joined(separator: "\n") + "\n")
        let bothPath = scratch.write("both.csv", ([header] + training + validation).joined(separator: "\n") + "\n")
        let config = Self.config, featureEncoder = FeatureEncoder(unfittedConfig: config)
        let encoder = try #require(config.supportEncoder)
        var validationRows = try CSVBatchStream(path: validationPath, encoder: featureEncoder, chunkRows: 7)
        let users = try SupportHistory.taskKeys(of: &validationRows)
        #expect(users.count == 5)
        var pass = try CSVBatchStream(path: trainingPath, encoder: featureEncoder, chunkRows: 7)
        let history = try SupportHistory.afterPass(over: &pass, encoder: encoder, tasks: users)
        #expect(history.taskCount == 5)
        var partial = try CSVBatchStream(path: trainingPath, encoder: featureEncoder, chunkRows: 7)
        let u0 = FeatureKey.hash(feature: "user", value: "u0")
        let one = try SupportHistory.afterPass(over: &partial, encoder: encoder, tasks: [u0])
        #expect(one.taskCount == 1 && one.rows(of: u0) == history.rows(of: u0), "only the validation users are kept")
        var seeded = SupportEncodedStream(try CSVBatchStream(path: validationPath, encoder: featureEncoder, chunkRows: 7),
                                          encoder: encoder, prior: { history.rows(of: $0) })
        var unseeded = SupportEncodedStream(try CSVBatchStream(path: validationPath, encoder: featureEncoder, chunkRows: 7),
                                            encoder: encoder)
        var whole = SupportEncodedStream(try CSVBatchStream(path: bothPath, encoder: featureEncoder, chunkRows: 7),
                                         encoder: encoder)
        let columns = encoder.pools.count
        let expected = Array(try Self.pools(&whole, encoderColumns: columns).suffix(validation.count))
        #expect(try Self.pools(&seeded, encoderColumns: columns) == expected)
        #expect(try Self.pools(&unseeded, encoderColumns: columns) != expected, "without the seed the first rows pool less")
    }

    @Test func `an encoder model trains, keeps item keys in its support rows and evaluates`() throws {
        let directory = TrainingFixture.temporaryDirectory("support-encoder")
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configPath = try TrainingFixture.writeConfig(Self.config, in: directory)
        let data = directory + "/log.csv", model = directory + "/model"
        try Self.log(rows: 60).write(toFile: data, atomically: true, encoding: .utf8)
        try TrainingJob(configPath: configPath, trainingPath: data, validationPath: data, outputDirectory: model)
            .run(progress: ProgressReporter(quiet: true))

        let loaded = try LoadedModel(path: model)
        let w = loaded.support.config.rowWidth, k = loaded.config.taskCount, h = loaded.config.expertOutputWidth
        #expect(w == k * h + SupportRowKey.width)
        var features = [Float](repeating: 0, count: 3 * w), labels = [Float](repeating: 0, count: 3 * k)
        let encoder = try #require(loaded.config.supportEncoder)
        for u in 0..<5 {
            let task = FeatureKey.hash(feature: "user", value: "u\(u)")
            let rows = loaded.support.supportEncoderRows(task: task, encoder: encoder, features: &features, labels: &labels)
            // The user's newest three rows, oldest first: rows 45 + u, 50 + u, 55 + u of the log.
            let expected = [45 + u, 50 + u, 55 + u].map { FeatureKey.hash(feature: "item", value: "m\(($0 * 3) % 11)") }
            #expect(rows.keys == expected, "u\(u)")
            let ratings: [Float] = [45 + u, 50 + u, 55 + u].map { (i: Int) -> Float in Float(1 + (i * 7 + i / 5) % 5) }
            #expect(rows.labels == ratings, "u\(u) ratings")
        }

        let job = EvaluationJob(modelPath: model, dataPath: data)
        let metrics = try job.run()
        #expect(metrics.count == 2 && metrics[1].metrics.rmse.map { $0.isFinite } == true)
        do {
            _ = try job.runFineTuned(source: .supportStore, steps: 1, learningRate: 0.1)
            Issue.record("eval --finetune should refuse an encoder model")
        } catch let error as ConfigError {
            #expect(error.keyPath == "model.support_encoder")
        }
    }
}
