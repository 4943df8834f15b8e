import Foundation
import TensorCore

/// Trains the two towers with the sampled softmax over in-batch and queued negatives, by Adam.
///
/// One ``step(history:targets:)``:
/// ```
/// Q ← observe(targets)                                  streaming batch frequencies (logQ)
/// u = UserTower(history), v = ItemTower(targets)         (B, d) each
/// L = (1/B) Σ_b −log softmax_j(⟨u_b, c_j⟩/τ − log Q_j)_b  c = [v | queue], accidental hits masked
/// θ ← Adam(θ, ∇L)                                        every tensor of ``RetrievalParameters``
/// queue ← push(v, targets)                               after the step: a batch is never its own queue
/// ```
/// The queue's entries join the softmax only after `queueWarmupSteps` steps (before that the
/// loss sees in-batch negatives alone; the queue is filled all along). With an adaptation in
/// the config, `u` is adapted (``UserAdaptation``, against the catalogue's embeddings refreshed
/// every ``adaptationRefreshSteps`` steps) before the loss, and `∂L/∂u_adapted` is passed back
/// as `∂L/∂u` (first order: the adaptation's Jacobian taken as the identity).
/// Not `Sendable`-shared: one trainer on one thread.
public struct RetrievalTrainer {
    /// The model's settings.
    public let config: RetrievalConfig
    /// The current parameters.
    public private(set) var parameters: RetrievalParameters
    /// The items' content features, `(N, G)`.
    public let features: Tensor
    /// Optimizer steps taken.
    public private(set) var steps = 0
    private var gradients: RetrievalParameters
    private var firstMoment: RetrievalParameters
    private var secondMoment: RetrievalParameters
    private var queue: NegativeQueue
    private var frequency: ItemFrequencyEstimator
    private var userWorkspace = UserTowerWorkspace()
    private var itemWorkspace = ItemTowerWorkspace()
    private var lossWorkspace = SampledSoftmaxWorkspace()
    private var dUsers = Tensor(shape: [0, 0])
    private var dItems = Tensor(shape: [0, 0])
    private var logQ: [Float] = []
    private var adaptedUsers = Tensor(shape: [0, 0])
    private var adaptationItems = Tensor(shape: [0, 0])
    private var adaptationWorkspace = UserAdaptation.Workspace()
    /// Steps between recomputations of the catalogue embeddings the training-time adaptation
    /// steps against (they carry no gradient; a full item-tower pass per step would cost more
    /// than the step).
    public static let adaptationRefreshSteps = 50
    private let paths: [(name: String, path: WritableKeyPath<RetrievalParameters, Tensor>)]

    /// A trainer from `config`'s initial parameters; `features` `(N, G)` match the config.
    public init(config: RetrievalConfig, features: Tensor) {
        precondition(features.shape == [config.items, config.itemFeatures],
                     "RetrievalTrainer: features \(features.shape), config needs [\(config.items), \(config.itemFeatures)]")
        self.config = config
        self.features = features
        parameters = RetrievalParameters(config: config)
        gradients = parameters.zeros()
        firstMoment = parameters.zeros()
        secondMoment = parameters.zeros()
        queue = NegativeQueue(capacity: config.queueCapacity, dimension: config.dimension)
        frequency = ItemFrequencyEstimator(items: config.items, initialGap: max(1, Double(config.items) / Double(config.batchSize)))
        paths = RetrievalParameters.paths(encoder: config.encoder)
    }

    /// One optimizer step on `history` `(B, L)` and each row's positive item `targets` `(B)`;
    /// returns the batch's mean loss.
    @discardableResult
    public mutating func step(history: HistoryBatch, targets: [Int32]) -> Double {
        precondition(history.count == targets.count && !targets.isEmpty,
                     "RetrievalTrainer.step: \(history.count) histories, \(targets.count) targets")
        for (_, path) in paths { gradients[keyPath: path].fill(0) }
        frequency.observe(targets)
        let negatives = steps >= config.queueWarmupSteps ? queue : Self.noQueue(config)
        UserTower.forward(parameters, history: history, workspace: &userWorkspace)
        ItemTower.forward(parameters, features: features, ids: targets, workspace: &itemWorkspace)
        let b = targets.count
        let users = adaptUsers(history)
        var correction: [Float]? = nil
        if config.logQCorrection {
            logQ.removeAll(keepingCapacity: true)
            for id in targets { logQ.append(frequency.logProbability(id)) }
            for j in 0..<negatives.count { logQ.append(frequency.logProbability(negatives.ids[j])) }
            correction = logQ
        }
        let loss = SampledSoftmax.forward(
            users: users, items: itemWorkspace.output, itemIDs: targets, queue: negatives, logQ: correction,
            temperature: config.temperature, workspace: &lossWorkspace)
        dUsers.resize(rows: b, columns: config.dimension, zeroed: true)
        dItems.resize(rows: b, columns: config.dimension, zeroed: true)
        SampledSoftmax.backward(users: users, items: itemWorkspace.output, queue: negatives,
                                temperature: config.temperature, scale: 1 / Float(b), workspace: &lossWorkspace,
                                dUsers: &dUsers, dItems: &dItems)
        UserTower.backward(parameters, history: history, dUser: dUsers, workspace: &userWorkspace, gradients: &gradients)
        ItemTower.backward(parameters, ids: targets, dItem: dItems, workspace: &itemWorkspace, gradients: &gradients)
        applyAdam()
        queue.push(itemWorkspace.output, itemIDs: targets)
        return loss / Double(b)
    }

    /// `u` of the batch: the tower's output, or (with an adaptation) a copy adapted on each
    /// history's last items.
    private mutating func adaptUsers(_ history: HistoryBatch) -> Tensor {
        guard let adaptation = config.adaptation, adaptation.steps > 0 else { return userWorkspace.output }
        if steps % Self.adaptationRefreshSteps == 0 || adaptationItems.shape[0] != config.items {
            adaptationItems = itemEmbeddings()
        }
        adaptedUsers.resize(rows: history.count, columns: config.dimension)
        adaptedUsers.assign(userWorkspace.output)
        adaptation.adapt(&adaptedUsers, histories: (0..<history.count).map { history.history($0) }, items: adaptationItems,
                         temperature: config.temperature, workspace: &adaptationWorkspace)
        return adaptedUsers
    }

    /// An empty queue (the warm-up's negatives: in-batch only).
    private static func noQueue(_ config: RetrievalConfig) -> NegativeQueue {
        NegativeQueue(capacity: 0, dimension: config.dimension)
    }

    /// Adam (β = 0.9, 0.999, ε = 1e-8, no weight decay) on every tensor.
    private mutating func applyAdam() {
        steps += 1
        let t = Float(steps)
        let c = AdamStep.Constants(beta1: 0.9, beta2: 0.999, inverseCorrection1: 1 / (1 - powf(0.9, t)),
                                   inverseCorrection2: 1 / (1 - powf(0.999, t)), epsilon: 1e-8,
                                   learningRate: config.learningRate, weightDecay: 0)
        for (_, path) in paths {
            Borrow.update(&parameters[keyPath: path], &firstMoment[keyPath: path], &secondMoment[keyPath: path]) { p, m, v in
                Borrow.read(gradients[keyPath: path]) { g in
                    let n = gradients[keyPath: path].count
                    AdamStep.apply(parameters: UnsafeMutableBufferPointer(start: p, count: n),
                                   gradients: UnsafeBufferPointer(start: g, count: n),
                                   m: UnsafeMutableBufferPointer(start: m, count: n),
                                   v: UnsafeMutableBufferPointer(start: v, count: n), constants: c)
                }
            }
        }
    }

    /// The item index of the current parameters, `(N, d)`.
    public func itemEmbeddings() -> Tensor { ItemTower.catalogue(parameters, features: features) }

    /// Replaces the parameters (restoring the best epoch); the optimizer state is kept.
    public mutating func restore(_ p: RetrievalParameters) { parameters = p }
}
