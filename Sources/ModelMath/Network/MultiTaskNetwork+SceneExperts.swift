import TensorCore

/// Scene experts (``SceneExperts``) in the training bottom: scene `s`'s experts, and with
/// `.perScene` gates scene `s`'s gates, run on scene `s`'s rows only (``SceneGroups``); the
/// shared experts (and `.shared` gates) on the whole batch. Each row's gate has its local columns
/// (`shared + perScene`, or `shared` for an unknown scene), so nothing is computed for the 0
/// weights the masked form (``NetworkWorkspace/SceneEvaluation/masked``, the naive reference)
/// gives the other scenes' experts.
extension MultiTaskNetwork {
    /// The grouped bottom after the shared experts: gathers each group's input, runs the scene
    /// experts on their rows, the gates, and the mixture into `ws.meta`.
    static func forwardSceneGroups(
        _ parameters: ModelParameters, spec: NetworkSpec, scenes: SceneExperts, layout: InputLayout,
        workspace ws: inout NetworkWorkspace
    ) {
        let b = ws.scenes.count, h = spec.metaWidth, e = spec.expertCount, count = scenes.sceneCount
        let perSceneGates = scenes.gates == .perScene, folded = ws.foldedFirstLayer
        ws.sceneGroups.group(ws.scenes, sceneCount: count)
        for g in 0...count where ws.sceneGroups.count(g) > 0 && (g < count || perSceneGates) {
            if folded {
                ws.sceneGroups.gatherFolded(g, rest: ws.rest, batch: ws.input.units, features: layout.categoricalCount)
            } else {
                ws.sceneGroups.gatherDense(g, x: ws.x)
            }
        }
        ws.expertStack.resize(e, b, h)
        for x in 0..<e {
            let scene = scenes.owner(ofExpert: x)
            if let scene {
                guard ws.sceneGroups.count(scene) > 0 else { continue }
                let expert = parameters.experts[x]
                ws.experts[x].prepare(rows: ws.sceneGroups.count(scene), for: expert)
                groupFirstLayer(expert.layers[0], group: ws.sceneGroups.inputs[scene], rows: ws.sceneGroups.count(scene),
                                folded: folded, embeddingRows: ws.input.rows, layout: layout, projection: &ws.foldScratch,
                                output: &ws.experts[x].outputs[0])
                MLP.forwardAfterFirstLayer(expert, activation: spec.activation, activatesLast: true, cache: &ws.experts[x])
            }
            // Expert x's slice of the stack holds its rows: the batch's, or its scene's in group order.
            let rows = scene.map { ws.sceneGroups.count($0) } ?? b
            Borrow.update(&ws.expertStack) { stack in
                Borrow.read(ws.experts[x].result) { src in (stack + x * b * h).update(from: src, count: rows * h) }
            }
        }
        let w = scenes.localWidth
        for k in 0..<spec.taskCount {
            ws.sceneLogits.resize(rows: b, columns: w)
            if perSceneGates {
                for g in 0...count where ws.sceneGroups.count(g) > 0 {
                    let gate = g < count ? parameters.sceneGates[k][g] : parameters.gates[k]
                    groupFirstLayer(gate, group: ws.sceneGroups.inputs[g], rows: ws.sceneGroups.count(g), folded: folded,
                                    embeddingRows: ws.input.rows, layout: layout, projection: &ws.foldScratch, output: &ws.groupLogits)
                    placeGroupLogits(group: g, width: gate.outputs, workspace: &ws)
                }
            } else {
                let gate = parameters.gates[k]
                if folded {
                    FoldedInputLinear.forward(weight: gate.weight, bias: gate.bias, layout: layout, input: ws.input, rest: ws.rest,
                                              projection: &ws.foldScratch, output: &ws.gateLogits[k])
                } else {
                    Linear.forward(input: ws.x, weight: gate.weight, bias: gate.bias, output: &ws.gateLogits[k])
                }
                Borrow.update(&ws.sceneLogits) { local in
                    Borrow.read(ws.gateLogits[k], ws.scenes) { full, rowScenes in
                        scenes.gatherLocal(full: full, fullStride: e, rows: b, scenes: rowScenes, local: local, localStride: w)
                    }
                }
            }
            ws.gates[k].resize(rows: b, columns: w)
            Softmax.forward(ws.sceneLogits, into: &ws.gates[k])
            Borrow.update(&ws.meta[k]) { f in
                Borrow.read(ws.gates[k], ws.scenes, ws.sceneGroups.position, ws.expertStack) { g, rowScenes, positions, stack in
                    scenes.mix(gates: g, gateStride: w, rows: b, scenes: rowScenes, positions: positions, expertBase: stack,
                               expertStride: b * h, rowStride: h, relu: false, width: h, output: f, outputStride: h)
                }
            }
        }
    }

    /// Backward of ``forwardSceneGroups(_:spec:scenes:layout:workspace:)`` and of the shared
    /// experts from `ws.dMeta`; `dx` is the dense pass's `∂L/∂x` (the folded pass accumulates
    /// `ws.input.dRows` and `ws.dRest`).
    static func backwardSceneGroups(
        _ parameters: ModelParameters, spec: NetworkSpec, scenes: SceneExperts, layout: InputLayout,
        gradients: inout ModelParameters, dx: inout Tensor, workspace ws: inout NetworkWorkspace
    ) {
        let b = ws.scenes.count, h = spec.metaWidth, e = spec.expertCount, count = scenes.sceneCount, w = scenes.localWidth
        let perSceneGates = scenes.gates == .perScene
        ws.dExpertStack.resize(to: [e, b, h], zeroed: true)
        ws.dGate.resize(rows: b, columns: w)
        for k in 0..<spec.taskCount {
            Borrow.update(&ws.dGate, &ws.dExpertStack) { dGate, dStack in
                Borrow.read(ws.gates[k], ws.scenes, ws.sceneGroups.position, ws.expertStack, ws.dMeta[k]) {
                    g, rowScenes, positions, stack, df in
                    scenes.mixBackward(gates: g, rows: b, scenes: rowScenes, positions: positions, experts: stack,
                                       expertStride: b * h, dOutput: df, width: h, dGate: dGate, dExperts: dStack)
                }
            }
            ws.sceneLogits.resize(rows: b, columns: w, zeroed: true)
            Softmax.backward(output: ws.gates[k], dOutput: ws.dGate, dInput: &ws.sceneLogits)
            if perSceneGates {
                for g in 0...count where ws.sceneGroups.count(g) > 0 {
                    let known = g < count
                    let gate = known ? parameters.sceneGates[k][g] : parameters.gates[k]
                    takeGroupGradient(group: g, width: gate.outputs, workspace: &ws)
                    if known {
                        firstLayerBackward(gate, group: g, dOutput: ws.groupLogits, gradient: &gradients.sceneGates[k][g],
                                           layout: layout, dx: &dx, workspace: &ws)
                    } else {
                        firstLayerBackward(gate, group: g, dOutput: ws.groupLogits, gradient: &gradients.gates[k],
                                           layout: layout, dx: &dx, workspace: &ws)
                    }
                }
            } else {
                ws.dGateLogits.resize(rows: b, columns: e, zeroed: true)
                Borrow.update(&ws.dGateLogits) { dFull in
                    Borrow.read(ws.sceneLogits, ws.scenes) { dLocal, rowScenes in
                        scenes.scatterLocal(dLocal: dLocal, localStride: w, rows: b, scenes: rowScenes, dFull: dFull, fullStride: e)
                    }
                }
                firstLayerBackward(parameters.gates[k], group: nil, dOutput: ws.dGateLogits, gradient: &gradients.gates[k],
                                   layout: layout, dx: &dx, workspace: &ws)
            }
        }
        for x in 0..<e {
            let scene = scenes.owner(ofExpert: x), rows = scene.map { ws.sceneGroups.count($0) } ?? b
            guard rows > 0 else { continue }
            ws.dExpert.resize(rows: rows, columns: h)
            Borrow.update(&ws.dExpert) { dst in
                Borrow.read(ws.dExpertStack) { stack in dst.update(from: stack + x * b * h, count: rows * h) }
            }
            MLP.backwardAboveFirstLayer(parameters.experts[x], activation: spec.activation, activatesLast: true,
                                        cache: &ws.experts[x], dOutput: ws.dExpert, gradients: &gradients.experts[x])
            firstLayerBackward(parameters.experts[x].layers[0], group: scene, dOutput: ws.experts[x].deltas[0],
                               gradient: &gradients.experts[x].layers[0], layout: layout, dx: &dx, workspace: &ws)
        }
    }

    /// `output = x_g·W + b` on a group's `rows` rows `(n, outputs)`, dense or folded as the pass.
    private static func groupFirstLayer(
        _ layer: DenseLayer, group: SceneGroupInput, rows n: Int, folded: Bool, embeddingRows: Tensor, layout: InputLayout,
        projection: inout Tensor, output: inout Tensor
    ) {
        output.resize(rows: n, columns: layer.outputs)
        if folded {
            FoldedInputLinear.forward(weight: layer.weight, bias: layer.bias, layout: layout, rows: embeddingRows,
                                      units: group.units, rest: group.rest, projection: &projection, output: &output)
        } else {
            Linear.forward(input: group.x, weight: layer.weight, bias: layer.bias, output: &output)
        }
    }

    /// Backward of a first layer from `∂L/∂(x·W + b)` on group `g`'s rows (nil: the whole batch):
    /// `gradient`, and `dx` (dense) or the embedding rows and `ws.dRest` (folded).
    private static func firstLayerBackward(
        _ layer: DenseLayer, group g: Int?, dOutput: Tensor, gradient: inout DenseLayer, layout: InputLayout,
        dx: inout Tensor, workspace ws: inout NetworkWorkspace
    ) {
        let restGradient = !layout.multiCategoricalPooling.isEmpty
        gradient.withTensors { dWeight, dBias in
            switch (ws.foldedFirstLayer, g) {
            case (true, nil):
                FoldedInputLinear.backward(weight: layer.weight, layout: layout, input: &ws.input, rest: ws.rest, dOutput: dOutput,
                                           sums: &ws.foldScratch, dWeight: &dWeight, dBias: &dBias, dRest: &ws.dRest,
                                           restGradient: restGradient)
            case (true, let g?):
                if restGradient { ws.groupDRest.resize(to: ws.sceneGroups.inputs[g].rest.shape, zeroed: true) }
                FoldedInputLinear.backward(weight: layer.weight, layout: layout, rows: ws.input.rows,
                                           units: ws.sceneGroups.inputs[g].units, rest: ws.sceneGroups.inputs[g].rest,
                                           dOutput: dOutput, sums: &ws.foldScratch, dWeight: &dWeight, dBias: &dBias,
                                           dRows: &ws.input.dRows, dRest: &ws.groupDRest, restGradient: restGradient)
                if restGradient { ws.sceneGroups.scatterAdd(g, ws.groupDRest, into: &ws.dRest) }
            case (false, nil):
                Linear.backward(input: ws.x, weight: layer.weight, dOutput: dOutput, dInput: &dx, dWeight: &dWeight, dBias: &dBias)
            case (false, let g?):
                ws.groupDx.resize(rows: ws.sceneGroups.count(g), columns: layer.inputs, zeroed: true)
                Linear.backward(input: ws.sceneGroups.inputs[g].x, weight: layer.weight, dOutput: dOutput, dInput: &ws.groupDx,
                                dWeight: &dWeight, dBias: &dBias)
                ws.sceneGroups.scatterAdd(g, ws.groupDx, into: &dx)
            }
        }
    }

    /// Writes group `g`'s gate logits `ws.groupLogits` `(n, width)` to its rows of
    /// `ws.sceneLogits`, `−∞` in the columns past `width` (an unknown scene's).
    private static func placeGroupLogits(group g: Int, width: Int, workspace ws: inout NetworkWorkspace) {
        let lw = ws.sceneLogits.shape[1], first = ws.sceneGroups.start[g], n = ws.sceneGroups.count(g)
        Borrow.update(&ws.sceneLogits) { local in
            Borrow.read(ws.groupLogits, ws.sceneGroups.order) { z, order in
                for r in 0..<n {
                    let row = local + Int(order[first + r]) * lw
                    for c in 0..<lw { row[c] = c < width ? z[r * width + c] : -.infinity }
                }
            }
        }
    }

    /// Gathers group `g`'s rows' first `width` columns of `ws.sceneLogits` (the local logits'
    /// gradient) into `ws.groupLogits` `(n, width)`.
    private static func takeGroupGradient(group g: Int, width: Int, workspace ws: inout NetworkWorkspace) {
        let lw = ws.sceneLogits.shape[1], first = ws.sceneGroups.start[g], n = ws.sceneGroups.count(g)
        ws.groupLogits.resize(rows: n, columns: width)
        Borrow.update(&ws.groupLogits) { dz in
            Borrow.read(ws.sceneLogits, ws.sceneGroups.order) { local, order in
                for r in 0..<n { (dz + r * width).update(from: local + Int(order[first + r]) * lw, count: width) }
            }
        }
    }

    // MARK: The naive reference of `.perScene` gates (every scene's gate on every row).

    /// `ws.gateLogits[k]` `(B, E)`: row `b`'s own scene's gate logits in its experts' columns, `−∞`
    /// elsewhere (an unknown scene's row: the task's shared-expert gate).
    static func maskedSceneGateLogits(
        _ parameters: ModelParameters, task k: Int, scenes: SceneExperts, layout: InputLayout, workspace ws: inout NetworkWorkspace
    ) {
        let b = ws.scenes.count, e = scenes.expertCount
        ws.gateLogits[k].fill(-.infinity)
        for g in 0...scenes.sceneCount {
            let layer = g < scenes.sceneCount ? parameters.sceneGates[k][g] : parameters.gates[k], n = layer.outputs
            ws.groupLogits.resize(rows: b, columns: n)
            if ws.foldedFirstLayer {
                FoldedInputLinear.forward(weight: layer.weight, bias: layer.bias, layout: layout, input: ws.input, rest: ws.rest,
                                          projection: &ws.foldScratch, output: &ws.groupLogits)
            } else {
                Linear.forward(input: ws.x, weight: layer.weight, bias: layer.bias, output: &ws.groupLogits)
            }
            let s = g < scenes.sceneCount ? g : -1
            Borrow.update(&ws.gateLogits[k]) { full in
                Borrow.read(ws.groupLogits, ws.scenes) { z, rowScenes in
                    for row in 0..<b where Int(rowScenes[row]) == s {
                        for c in 0..<n { full[row * e + scenes.expert(local: c, scene: s)] = z[row * n + c] }
                    }
                }
            }
        }
    }

    /// Backward of ``maskedSceneGateLogits(_:task:scenes:layout:workspace:)`` from `ws.dGateLogits`
    /// `(B, E)`: each scene's gate (and the unknown scene's) over every row, the other rows' gradient 0.
    static func maskedSceneGatesBackward(
        _ parameters: ModelParameters, task k: Int, scenes: SceneExperts, layout: InputLayout,
        gradients: inout ModelParameters, dx: inout Tensor, workspace ws: inout NetworkWorkspace
    ) {
        for g in 0...scenes.sceneCount {
            let known = g < scenes.sceneCount
            let layer = known ? parameters.sceneGates[k][g] : parameters.gates[k]
            ws.groupLogits.resize(rows: ws.scenes.count, columns: layer.outputs)
            maskedSceneGateGradient(group: g, scenes: scenes, workspace: &ws)
            if known {
                firstLayerBackward(layer, group: nil, dOutput: ws.groupLogits, gradient: &gradients.sceneGates[k][g],
                                   layout: layout, dx: &dx, workspace: &ws)
            } else {
                firstLayerBackward(layer, group: nil, dOutput: ws.groupLogits, gradient: &gradients.gates[k],
                                   layout: layout, dx: &dx, workspace: &ws)
            }
        }
    }

    /// `ws.groupLogits` `(B, n)`: group `g`'s gate's share of `ws.dGateLogits` (0 on other rows).
    private static func maskedSceneGateGradient(group g: Int, scenes: SceneExperts, workspace ws: inout NetworkWorkspace) {
        let b = ws.scenes.count, e = scenes.expertCount, n = ws.groupLogits.shape[1]
        let s = g < scenes.sceneCount ? g : -1
        ws.groupLogits.fill(0)
        Borrow.update(&ws.groupLogits) { dz in
            Borrow.read(ws.dGateLogits, ws.scenes) { full, rowScenes in
                for row in 0..<b where Int(rowScenes[row]) == s {
                    for c in 0..<n { dz[row * n + c] = full[row * e + scenes.expert(local: c, scene: s)] }
                }
            }
        }
    }
}
