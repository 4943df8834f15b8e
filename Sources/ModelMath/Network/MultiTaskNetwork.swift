import TensorCore

/// Forward and backward of the whole multi-task network (`docs/DESIGN.md` §Math):
///
/// ```
/// x    = InputLayer(batch)                                   (B, D)
/// h_e  = Expert_e(x)                                         (B, H)      (a scene's expert: its n_s rows)
/// g_k  = softmax(x · W_k + b_k)                              (B, E)      (MMoE only)
/// f_k  = Σ_e g_k[:, e] ⊙ h_e        (Shared-Bottom: f_k = h_0)  (B, H)
///   with SceneExperts a row mixes the shared experts and its scene's through its local gate
///   columns, (B, shared + perScene), from W_k masked or W_{k,s} (MultiTaskNetwork+SceneExperts)
/// f_k ← PN_k(f_k)   partitioned normalisation per row's scene (optional; PartitionedNorm)  (B, H)
/// z_k  = Tower_k(f_k)   (STAR: the tower of the row's scene, StarTower)   (B, 1)
/// L    = Σ_k w_k · (1/n_k) Σ_b loss_k(z_k[b], y_k[b])        n_k = labelled rows of task k
/// ```
public enum MultiTaskNetwork {
    /// Runs the bottom (input layer, experts, gates) and fills `ws.meta` (`f_k`).
    public static func forwardBottom(
        _ parameters: ModelParameters, spec: NetworkSpec, layout: InputLayout,
        batch: EncodedBatch, table: any EmbeddingTable, createEmbeddings: Bool,
        workspace ws: inout NetworkWorkspace
    ) {
        precondition(layout.width == spec.inputWidth, "MultiTaskNetwork: layout width \(layout.width) != spec D \(spec.inputWidth)")
        let b = batch.count
        ws.prepare(rows: b, spec: spec)
        InputLayer.pull(batch: batch, layout: layout, table: table, create: createEmbeddings, workspace: &ws.input)
        if let star = spec.starTowers { star.scenes(of: batch, into: &ws.starScenes) }
        ws.foldedFirstLayer = ws.firstLayer.folds(rows: b, layout: layout, input: &ws.input)
        if ws.foldedFirstLayer {
            InputLayer.writeRest(batch: batch, layout: layout, workspace: &ws.input, into: &ws.rest)
        } else {
            InputLayer.writeInput(batch: batch, layout: layout, workspace: &ws.input, output: &ws.x)
        }
        if let scenes = spec.sceneExperts { scenes.scenes(of: batch, into: &ws.scenes) }
        // Grouped: the scene experts run on their scene's rows in `forwardSceneGroups`.
        let grouped = spec.sceneExperts != nil && ws.sceneEvaluation == .grouped
        for e in 0..<(grouped ? spec.sceneExperts!.shared : spec.expertCount) {
            let expert = parameters.experts[e]
            if ws.foldedFirstLayer {
                ws.experts[e].prepare(rows: b, for: expert)
                FoldedInputLinear.forward(weight: expert.layers[0].weight, bias: expert.layers[0].bias, layout: layout,
                                          input: ws.input, rest: ws.rest, projection: &ws.foldScratch, output: &ws.experts[e].outputs[0])
                MLP.forwardAfterFirstLayer(expert, activation: spec.activation, activatesLast: true, cache: &ws.experts[e])
            } else {
                MLP.forward(expert, input: ws.x, activation: spec.activation, activatesLast: true, cache: &ws.experts[e])
            }
        }
        if grouped, let scenes = spec.sceneExperts {
            forwardSceneGroups(parameters, spec: spec, scenes: scenes, layout: layout, workspace: &ws)
        } else if spec.hasGates {
            let h = spec.metaWidth
            for e in 0..<spec.expertCount {
                copy(ws.experts[e].result, intoSlice: e, of: &ws.expertStack, sliceCount: b * h)
            }
            for k in 0..<spec.taskCount {
                if let scenes = spec.sceneExperts, scenes.gates == .perScene {
                    maskedSceneGateLogits(parameters, task: k, scenes: scenes, layout: layout, workspace: &ws)
                } else {
                    let gate = parameters.gates[k]
                    if ws.foldedFirstLayer {
                        FoldedInputLinear.forward(weight: gate.weight, bias: gate.bias, layout: layout, input: ws.input, rest: ws.rest,
                                                  projection: &ws.foldScratch, output: &ws.gateLogits[k])
                    } else {
                        Linear.forward(input: ws.x, weight: gate.weight, bias: gate.bias, output: &ws.gateLogits[k])
                    }
                    if let scenes = spec.sceneExperts {
                        let rowScenes = ws.scenes
                        Borrow.update(&ws.gateLogits[k]) { z in
                            scenes.mask(z, stride: spec.expertCount, rows: 0..<b, scenes: rowScenes)
                        }
                    }
                }
                Softmax.forward(ws.gateLogits[k], into: &ws.gates[k])
                GateMixture.forward(gate: ws.gates[k], experts: ws.expertStack, output: &ws.meta[k])
            }
        } else {
            for k in 0..<spec.taskCount { ws.meta[k].assign(ws.experts[0].result) }
        }
        if let norm = spec.partitionedNorm { forwardPartitionedNorm(parameters, norm: norm, batch: batch, workspace: &ws) }
    }

    /// Runs tower `k` on `ws.meta[k]`; the logit is `ws.logits(task: k)`.
    public static func forwardTower(_ parameters: ModelParameters, spec: NetworkSpec, task k: Int, workspace ws: inout NetworkWorkspace) {
        if spec.starTowers != nil {
            precondition(parameters.starTowers.count == spec.taskCount, "MultiTaskNetwork: STAR spec without STAR parameters")
            if ws.towers.count != spec.taskCount { ws.towers = Array(repeating: MLPActivations(), count: spec.taskCount) }
            if ws.star.count != spec.taskCount { ws.star = Array(repeating: StarTowerWorkspace(), count: spec.taskCount) }
            ws.towers[k].prepare(rows: ws.meta[k].rows, for: parameters.towers[k])
            let last = parameters.towers[k].layers.count - 1
            StarTower.forward(shared: parameters.towers[k], scenes: parameters.starTowers[k], rowScenes: ws.starScenes,
                              input: ws.meta[k], activation: spec.activation, workspace: &ws.star[k], output: &ws.towers[k].outputs[last])
            return
        }
        MLP.forward(parameters.towers[k], input: ws.meta[k], activation: spec.activation, activatesLast: false, cache: &ws.towers[k])
    }

    /// Full forward pass: bottom then every tower.
    public static func forward(
        _ parameters: ModelParameters, spec: NetworkSpec, layout: InputLayout,
        batch: EncodedBatch, table: any EmbeddingTable, createEmbeddings: Bool,
        workspace ws: inout NetworkWorkspace
    ) {
        forwardBottom(parameters, spec: spec, layout: layout, batch: batch, table: table, createEmbeddings: createEmbeddings, workspace: &ws)
        for k in 0..<spec.taskCount { forwardTower(parameters, spec: spec, task: k, workspace: &ws) }
    }

    /// The base loss of the last forward pass and `∂L/∂logit_k` in `ws.dLogits`.
    /// Returns the per-task mean losses (NaN for a task with no labelled rows) and the total.
    ///
    /// - Parameter labelCounts: the normaliser `n_k` of each task; defaults to this batch's
    ///   labelled rows. Data-parallel workers pass the whole batch's counts so that the sum of
    ///   their gradients equals the gradient of the whole batch.
    @discardableResult
    public static func loss(
        batch: EncodedBatch, tasks: [TaskSpec], labelCounts: [Int]? = nil, workspace ws: inout NetworkWorkspace
    ) -> (perTask: [Double], total: Double) {
        var perTask: [Double] = []
        var total = 0.0
        for (k, task) in tasks.enumerated() {
            TaskLoss.labels(of: batch, task: k, into: &ws.labels[k])
            let n = labelCounts?[k] ?? TaskLoss.labelledCount(ws.labels[k])
            ws.dLogits[k].fill(0)
            guard n > 0 else { perTask.append(.nan); continue }
            let sum = TaskLoss.loss(kind: task.kind, logits: ws.towers[k].result, labels: ws.labels[k])
            TaskLoss.backward(kind: task.kind, logits: ws.towers[k].result, labels: ws.labels[k],
                              scale: task.weight / Float(n), dLogits: &ws.dLogits[k])
            perTask.append(sum / Double(n))
            total += Double(task.weight) * sum / Double(n)
        }
        return (perTask, total)
    }

    /// Backward of the whole network from `ws.dLogits`: accumulates dense gradients into
    /// `gradients` and leaves embedding-row gradients in `ws.input.dRows` for `ws.input.keys`.
    public static func backward(
        _ parameters: ModelParameters, spec: NetworkSpec, layout: InputLayout,
        batch: EncodedBatch, gradients: inout ModelParameters, workspace ws: inout NetworkWorkspace
    ) {
        backwardTowers(parameters, spec: spec, gradients: &gradients, workspace: &ws)
        backwardBottom(parameters, spec: spec, layout: layout, batch: batch, gradients: &gradients, workspace: &ws)
    }

    /// Backward of every tower from `ws.dLogits`: tower gradients into `gradients`, and
    /// `ws.dMeta[k]` (∂L/∂f_k) overwritten. Callers may add further terms to `ws.dMeta`
    /// (the MAML meta-gradient) before ``backwardBottom(_:spec:layout:batch:gradients:workspace:)``.
    public static func backwardTowers(_ parameters: ModelParameters, spec: NetworkSpec, gradients: inout ModelParameters,
                                      workspace ws: inout NetworkWorkspace) {
        for k in 0..<spec.taskCount {
            ws.dMeta[k].fill(0)
            var dMeta: Tensor? = ws.dMeta[k]
            ws.dMeta[k] = Tensor(shape: [0, 1])  // `dMeta` holds the only reference: written in place, not copied
            if spec.starTowers != nil {
                StarTower.backward(shared: parameters.towers[k], scenes: parameters.starTowers[k], activation: spec.activation,
                                   workspace: &ws.star[k], dOutput: ws.dLogits[k], dShared: &gradients.towers[k],
                                   dScenes: &gradients.starTowers[k], dInput: &dMeta)
                ws.dMeta[k] = dMeta!
                continue
            }
            MLP.backward(parameters.towers[k], input: ws.meta[k], activation: spec.activation, activatesLast: false,
                         cache: &ws.towers[k], dOutput: ws.dLogits[k], gradients: &gradients.towers[k], dInput: &dMeta)
            ws.dMeta[k] = dMeta!
        }
    }

    /// Backward of the bottom from `ws.dMeta` (`∂L/∂f_k`, one per task).
    public static func backwardBottom(
        _ parameters: ModelParameters, spec: NetworkSpec, layout: InputLayout,
        batch: EncodedBatch, gradients: inout ModelParameters, workspace ws: inout NetworkWorkspace
    ) {
        if spec.partitionedNorm != nil { backwardPartitionedNorm(parameters, gradients: &gradients, workspace: &ws) }
        let b = batch.count, h = spec.metaWidth, e = spec.expertCount
        let folded = ws.foldedFirstLayer
        let restGradient = folded && !layout.multiCategoricalPooling.isEmpty
        var dx = Tensor(shape: [0, 1])
        if folded {
            ws.input.dRows.resize(to: ws.input.rows.shape, zeroed: true)
            if restGradient { ws.dRest.resize(to: ws.rest.shape, zeroed: true) }
        } else {
            ws.dx.resize(rows: b, columns: spec.inputWidth, zeroed: true)
            swap(&dx, &ws.dx)  // `dx` holds the only reference: the GEMMs write it in place (a shared one was copied)
        }
        /// Backward of one first layer (an expert's or a gate's) from `∂L/∂(x·W + b)`.
        func firstLayerBackward(_ layer: DenseLayer, dOutput: Tensor, gradient: inout DenseLayer, ws: inout NetworkWorkspace) {
            gradient.withTensors { dWeight, dBias in
                if folded {
                    FoldedInputLinear.backward(weight: layer.weight, layout: layout, input: &ws.input, rest: ws.rest, dOutput: dOutput,
                                               sums: &ws.foldScratch, dWeight: &dWeight, dBias: &dBias, dRest: &ws.dRest,
                                               restGradient: restGradient)
                } else {
                    Linear.backward(input: ws.x, weight: layer.weight, dOutput: dOutput, dInput: &dx, dWeight: &dWeight, dBias: &dBias)
                }
            }
        }
        /// Backward of expert `j` from `∂L/∂h_j`.
        func expertBackward(_ j: Int, dOutput: Tensor) {
            MLP.backwardAboveFirstLayer(parameters.experts[j], activation: spec.activation, activatesLast: true,
                                        cache: &ws.experts[j], dOutput: dOutput, gradients: &gradients.experts[j])
            firstLayerBackward(parameters.experts[j].layers[0], dOutput: ws.experts[j].deltas[0],
                               gradient: &gradients.experts[j].layers[0], ws: &ws)
        }
        if let scenes = spec.sceneExperts, ws.sceneEvaluation == .grouped {
            backwardSceneGroups(parameters, spec: spec, scenes: scenes, layout: layout, gradients: &gradients, dx: &dx, workspace: &ws)
        } else if spec.hasGates {
            ws.dExpertStack.resize(to: [e, b, h], zeroed: true)
            ws.dGate.resize(to: [b, e])
            ws.dGateLogits.resize(to: [b, e])
            for k in 0..<spec.taskCount {
                ws.dGate.fill(0)
                GateMixture.backward(gate: ws.gates[k], experts: ws.expertStack, dOutput: ws.dMeta[k],
                                     dGate: &ws.dGate, dExperts: &ws.dExpertStack)
                ws.dGateLogits.fill(0)
                Softmax.backward(output: ws.gates[k], dOutput: ws.dGate, dInput: &ws.dGateLogits)
                if let scenes = spec.sceneExperts, scenes.gates == .perScene {
                    maskedSceneGatesBackward(parameters, task: k, scenes: scenes, layout: layout, gradients: &gradients,
                                             dx: &dx, workspace: &ws)
                } else {
                    firstLayerBackward(parameters.gates[k], dOutput: ws.dGateLogits, gradient: &gradients.gates[k], ws: &ws)
                }
            }
            ws.dExpert.resize(to: [b, h])
            for j in 0..<e {
                copy(slice: j, of: ws.dExpertStack, sliceCount: b * h, into: &ws.dExpert)
                expertBackward(j, dOutput: ws.dExpert)
            }
        } else {
            ws.dExpert.resize(to: [b, h], zeroed: true)
            for k in 0..<spec.taskCount { ws.dExpert.add(ws.dMeta[k]) }
            expertBackward(0, dOutput: ws.dExpert)
        }
        if folded {
            if restGradient { InputLayer.backwardRest(batch: batch, layout: layout, dRest: ws.dRest, workspace: &ws.input) }
        } else {
            swap(&dx, &ws.dx)
            InputLayer.backward(batch: batch, layout: layout, dInput: ws.dx, workspace: &ws.input)
        }
    }

    private static func copy(_ source: Tensor, intoSlice index: Int, of stack: inout Tensor, sliceCount: Int) {
        precondition(source.count == sliceCount, "copy: slice of \(sliceCount) from \(source.shape)")
        source.withUnsafeBufferPointer { src in
            stack.withUnsafeMutableBufferPointer { dst in
                (dst.baseAddress! + index * sliceCount).update(from: src.baseAddress!, count: sliceCount)
            }
        }
    }

    private static func copy(slice index: Int, of stack: Tensor, sliceCount: Int, into destination: inout Tensor) {
        precondition(destination.count == sliceCount, "copy: slice of \(sliceCount) into \(destination.shape)")
        stack.withUnsafeBufferPointer { src in
            destination.withUnsafeMutableBufferPointer { dst in
                dst.baseAddress!.update(from: src.baseAddress! + index * sliceCount, count: sliceCount)
            }
        }
    }
}
