import Foundation
import ModelDescription
import ModelMath
import ParamServer

extension ServingModel {
    /// Writes this model as a model directory (config, preprocessing, weights, embeddings,
    /// support store, manifest last), loadable by `LoadedModel` and `metarec serve`; used to
    /// serve the benchmark's synthetic model over HTTP.
    public func write(to path: String) throws {
        let directory = ModelDirectory(path: path)
        try directory.create()
        try ModelDescription.AtomicFile.write(config.yamlString(), to: directory.configPath)
        try directory.writeJSON(encoder.statistics, to: directory.preprocessingPath)
        try directory.writeParameters(parameters, modelVersion: modelVersion)
        try embeddings.snapshot(to: directory.embeddingsPath)
        try support.snapshot(to: directory.supportPath)
        let manifest = ModelManifest(
            modelVersion: modelVersion, dataFingerprint: "synthetic", architecture: config.model.architecture.rawValue,
            parameterCount: parameters.parameterCount, embeddingRows: embeddings.rowCount, metrics: [:],
            rowsTrained: 0, epochsCompleted: 0)
        try directory.writeJSON(manifest, to: directory.manifestPath)
    }
}
