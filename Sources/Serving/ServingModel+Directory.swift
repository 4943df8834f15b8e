import Foundation
import ModelDescription
import ModelMath
import ParamServer

extension ServingModel {
    /// Publishes this model as a model directory (config, preprocessing, weights, embeddings,
    /// support store, then the manifest with their checksums, through ``ModelPublisher``),
    /// loadable by `LoadedModel` and `metarec serve`; used to serve the benchmark's synthetic
    /// model over HTTP.
    public func write(to path: String) throws {
        let publisher = ModelPublisher(root: path)
        try publisher.prepare()
        let directory = try publisher.beginVersion(modelVersion)
        try ModelDescription.AtomicFile.write(config.yamlString(), to: directory.configPath)
        try directory.writeJSON(encoder.statistics, to: directory.preprocessingPath)
        try directory.writeParameters(parameters, modelVersion: modelVersion)
        try embeddings.snapshot(to: directory.embeddingsPath)
        try support.snapshot(to: directory.supportPath)
        let manifest = ModelManifest(
            modelVersion: modelVersion, dataFingerprint: "synthetic", architecture: config.model.architecture.rawValue,
            parameterCount: parameters.parameterCount, embeddingRows: embeddings.rowCount, metrics: [:],
            rowsTrained: 0, epochsCompleted: 0)
        try publisher.publish(directory, manifest: manifest)
    }
}
