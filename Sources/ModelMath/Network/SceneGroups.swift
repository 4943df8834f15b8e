import TensorCore

/// One unit index of the folded first layers (``FoldedInputLinear``): the whole batch's
/// (``InputWorkspace``) or a scene group's (``SceneGroups``), over the same pulled rows.
struct FoldedUnits: Sendable {
    /// `(U)` each unit's row among the pulled embedding rows.
    var slots: [Int32] = []
    /// `(U)` the first weight row `f·d` multiplying the unit.
    var weightRows: [Int32] = []
    /// `(Fc·B)` the unit of row `b`'s value of feature `f`, at `f·B + b`.
    var unitOfValue: [Int32] = []
    /// `(U + 1)` where each unit's members start in `members`.
    var offsets: [Int32] = []
    /// `(Fc·B)` the rows reading each unit, unit by unit.
    var members: [Int32] = []

    /// `U`.
    var count: Int { slots.count }
}

extension InputWorkspace {
    /// The batch's unit index (shares the arrays, copies nothing).
    var units: FoldedUnits {
        FoldedUnits(slots: unitSlots, weightRows: unitWeightRows, unitOfValue: unitOfValue, offsets: unitMemberOffsets,
                    members: unitMembers)
    }
}

/// A batch's rows grouped by scene (``SceneExperts``), so that scene `s`'s experts and gates run
/// on its rows only: group `g < S` is scene `g`, group `S` the rows of unknown scenes. Each
/// group keeps its gathered input: `x`'s rows (dense first layers) or `rest`'s rows and a unit
/// index of its own (folded: only the units its rows read).
struct SceneGroups: Sendable {
    /// `(B)` the batch rows, group by group (ascending within a group).
    var order: [Int32] = []
    /// `(G + 1)` where each group starts in `order`.
    var start: [Int] = []
    /// `(B)` row `b`'s index within its group.
    var position: [Int32] = []
    /// Per group: its gathered input and gradient scratch.
    var inputs: [SceneGroupInput] = []
    /// `(U)` scratch: the batch unit → the group's unit (−1: not read by the group).
    var unitMap: [Int32] = []

    /// Rows of group `g`.
    func count(_ g: Int) -> Int { start[g + 1] - start[g] }

    /// Groups `scenes` (`(B)`, −1 = unknown) into `S + 1` groups by a counting sort.
    mutating func group(_ scenes: [Int32], sceneCount: Int) {
        let groups = sceneCount + 1, b = scenes.count
        start.removeAll(keepingCapacity: true)
        start.append(contentsOf: repeatElement(0, count: groups + 1))
        for s in scenes { start[(s < 0 ? sceneCount : Int(s)) + 1] += 1 }
        for g in 0..<groups { start[g + 1] += start[g] }
        if order.count != b {
            order = [Int32](repeating: 0, count: b)
            position = [Int32](repeating: 0, count: b)
        }
        if inputs.count != groups { inputs = Array(repeating: SceneGroupInput(), count: groups) }
        var cursor = start
        for (row, s) in scenes.enumerated() {
            let g = s < 0 ? sceneCount : Int(s)
            order[cursor[g]] = Int32(truncatingIfNeeded: row)
            position[row] = Int32(truncatingIfNeeded: cursor[g] - start[g])
            cursor[g] += 1
        }
    }

    /// Gathers group `g`'s rows of the dense input `x` `(B, D)` into `inputs[g].x`.
    mutating func gatherDense(_ g: Int, x: Tensor) {
        let n = count(g), d = x.shape[1], first = start[g]
        inputs[g].x.resize(rows: n, columns: d)
        Borrow.update(&inputs[g].x) { dst in
            Borrow.read(x, order) { src, order in
                for r in 0..<n { (dst + r * d).update(from: src + Int(order[first + r]) * d, count: d) }
            }
        }
    }

    /// Gathers group `g`'s rows of `rest` `(B, R)` and indexes the units they read (a sub-index of
    /// `batch`'s, `(Fc·n)` values, members ascending within a unit as in the batch's).
    mutating func gatherFolded(_ g: Int, rest: Tensor, batch units: FoldedUnits, features fc: Int) {
        let n = count(g), first = start[g], rw = rest.shape[1], b = order.count
        inputs[g].rest.resize(rows: n, columns: rw)
        if rw > 0 {
            Borrow.update(&inputs[g].rest) { dst in
                Borrow.read(rest, order) { src, order in
                    for r in 0..<n { (dst + r * rw).update(from: src + Int(order[first + r]) * rw, count: rw) }
                }
            }
        }
        if unitMap.count != units.count {
            unitMap.removeAll(keepingCapacity: true)
            unitMap.append(contentsOf: repeatElement(-1, count: units.count))
        }
        var local = inputs[g].units
        inputs[g].units = FoldedUnits()  // `local` holds the only reference: appended in place
        local.slots.removeAll(keepingCapacity: true)
        local.weightRows.removeAll(keepingCapacity: true)
        local.unitOfValue.removeAll(keepingCapacity: true)
        local.unitOfValue.append(contentsOf: repeatElement(0, count: fc * n))
        for f in 0..<fc {
            for r in 0..<n {
                let u = Int(units.unitOfValue[f * b + Int(order[first + r])])
                if unitMap[u] < 0 {
                    unitMap[u] = Int32(truncatingIfNeeded: local.slots.count)
                    local.slots.append(units.slots[u])
                    local.weightRows.append(units.weightRows[u])
                }
                local.unitOfValue[f * n + r] = unitMap[u]
            }
        }
        // Reset the touched entries only.
        for f in 0..<fc {
            for r in 0..<n { unitMap[Int(units.unitOfValue[f * b + Int(order[first + r])])] = -1 }
        }
        // Counting sort of the values by unit; rows ascend within a unit (units of feature f are
        // numbered after those of f − 1), as ``InputLayer/indexUnits(rows:layout:workspace:)``'s.
        let u = local.slots.count
        local.offsets.removeAll(keepingCapacity: true)
        local.offsets.append(contentsOf: repeatElement(0, count: u + 1))
        local.members.removeAll(keepingCapacity: true)
        local.members.append(contentsOf: repeatElement(0, count: fc * n))
        for i in 0..<(fc * n) { local.offsets[Int(local.unitOfValue[i]) + 1] += 1 }
        for j in 0..<u { local.offsets[j + 1] += local.offsets[j] }
        for f in 0..<fc {
            for r in 0..<n {
                let j = Int(local.unitOfValue[f * n + r])
                local.members[Int(local.offsets[j])] = Int32(truncatingIfNeeded: r)
                local.offsets[j] += 1
            }
        }
        for j in stride(from: u, to: 0, by: -1) { local.offsets[j] = local.offsets[j - 1] }
        local.offsets[0] = 0
        inputs[g].units = local
    }

    /// `full[order[start[g] + r]] += part[r]` for every row of group `g` (`part`: `(n, w)`, `full`: `(B, w)`).
    func scatterAdd(_ g: Int, _ part: Tensor, into full: inout Tensor) {
        let n = count(g), w = part.shape[1], first = start[g]
        guard n > 0, w > 0 else { return }
        Borrow.update(&full) { dst in
            Borrow.read(part, order) { src, order in
                for r in 0..<n {
                    let to = dst + Int(order[first + r]) * w, from = src + r * w
                    for j in 0..<w { to[j] += from[j] }
                }
            }
        }
    }
}

/// One scene group's gathered input and its gradients.
struct SceneGroupInput: Sendable {
    /// `(n, D)` the group's rows of `x` (dense first layers).
    var x = Tensor(shape: [0, 1])
    /// `(n, R)` the group's rows of `rest` (folded first layers).
    var rest = Tensor(shape: [0, 1])
    /// The units the group's rows read (folded first layers).
    var units = FoldedUnits()
    /// `(n, D)` ∂L/∂x of the group's rows (dense first layers).
    var dx = Tensor(shape: [0, 1])
    /// `(n, R)` ∂L/∂rest of the group's rows (folded first layers with pooled bags).
    var dRest = Tensor(shape: [0, 1])
    /// `(n, w)` a gate's logits or their gradient on the group's rows (`.perScene` gates).
    var logits = Tensor(shape: [0, 1])
}
