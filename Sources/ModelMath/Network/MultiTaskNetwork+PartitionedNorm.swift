import TensorCore

/// Partitioned normalisation (``PartitionedNormalization``) as the last step of the bottom: one
/// call at the end of ``MultiTaskNetwork/forwardBottom(_:spec:layout:batch:table:createEmbeddings:workspace:)``
/// and one at the start of ``MultiTaskNetwork/backwardBottom(_:spec:layout:batch:gradients:workspace:)``.
///
/// ```
/// f'_k = PN_k(f_k)     per task, statistics and affine of each row's scene       (B, H)
/// ```
/// The towers, and MAML's support and query rows, see `f'_k`; in training (`.batch` statistics)
/// the meta-gradient reaching `f'_k` flows through the batch statistics like the base loss's.
extension MultiTaskNetwork {
    /// Normalises every `ws.meta[k]` in place (the raw `f_k` kept in `ws.normInput[k]`).
    static func forwardPartitionedNorm(
        _ parameters: ModelParameters, norm: PartitionedNormalization, batch: EncodedBatch, workspace ws: inout NetworkWorkspace
    ) {
        let k = ws.meta.count
        precondition(parameters.partitionedNorm.count == k, "MultiTaskNetwork: partitioned-norm spec without its parameters")
        norm.scenes(of: batch, into: &ws.normScenes)
        if ws.normInput.count != k { ws.normInput = Array(repeating: Tensor(shape: [0, 1]), count: k) }
        if ws.norm.count != k { ws.norm = Array(repeating: PartitionedNormWorkspace(), count: k) }
        for t in 0..<k {
            swap(&ws.normInput[t], &ws.meta[t])
            PartitionedNorm.forward(parameters.partitionedNorm[t], rowScenes: ws.normScenes, input: ws.normInput[t],
                                    statistics: ws.normStatistics, epsilon: norm.epsilon, minimumRows: norm.minimumBatchRows,
                                    workspace: &ws.norm[t], output: &ws.meta[t])
        }
    }

    /// Replaces every `ws.dMeta[k]` (`∂L/∂f'_k`) by `∂L/∂f_k`, accumulating `dγ, dβ, dγ_s, dβ_s`.
    static func backwardPartitionedNorm(
        _ parameters: ModelParameters, gradients: inout ModelParameters, workspace ws: inout NetworkWorkspace
    ) {
        for t in ws.dMeta.indices {
            ws.dNormInput.resize(to: ws.normInput[t].shape, zeroed: true)
            PartitionedNorm.backward(parameters.partitionedNorm[t], rowScenes: ws.normScenes, input: ws.normInput[t],
                                     workspace: &ws.norm[t], dOutput: ws.dMeta[t], gradients: &gradients.partitionedNorm[t],
                                     dInput: &ws.dNormInput)
            swap(&ws.dNormInput, &ws.dMeta[t])
        }
    }
}
