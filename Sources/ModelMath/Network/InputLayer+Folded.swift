import TensorCore

/// The input layer's side of the folded first layer (``FoldedInputLinear``): the first layers
/// read the embedding rows per *unit* (one distinct row of one categorical feature), so `x`'s
/// categorical columns are never written; only the rest of `x` is:
///
/// ```
/// x    = [ e(cat_1) | … | e(cat_Fc) | rest ]
/// rest = [ pool(multi_1) | … | pool(multi_Fm) | numeric ]      (B, R)   R = Fm·d + Fn
/// ```
extension InputLayer {
    /// Indexes the units of the last ``pull(batch:layout:table:create:workspace:)``: per unit its
    /// row and first weight row, per (feature, batch row) its unit. Units of one feature are
    /// contiguous, in first-seen order. Returns the unit count `U ≤ B·Fc`.
    @discardableResult
    static func indexUnits(rows b: Int, layout: InputLayout, workspace ws: inout InputWorkspace) -> Int {
        let fc = layout.categoricalCount, d = layout.embeddingDimension, slots = ws.keys.count
        ws.unitSlots.removeAll(keepingCapacity: true)
        ws.unitWeightRows.removeAll(keepingCapacity: true)
        if ws.unitOfValue.count != fc * b {
            ws.unitOfValue.removeAll(keepingCapacity: true)
            ws.unitOfValue.append(contentsOf: repeatElement(0, count: fc * b))
        }
        if ws.slotFeature.count < slots {
            ws.slotFeature.append(contentsOf: repeatElement(-1, count: slots - ws.slotFeature.count))
            ws.slotUnit.append(contentsOf: repeatElement(0, count: slots - ws.slotUnit.count))
        }
        // Sized for the worst case (every value its own unit), trimmed after; raw pointers in the
        // loop (B·Fc iterations a batch).
        ws.unitSlots.append(contentsOf: repeatElement(0, count: fc * b))
        ws.unitWeightRows.append(contentsOf: repeatElement(0, count: fc * b))
        var units = 0
        let slotCount = ws.slotFeature.count
        Borrow.update(&ws.slotFeature, &ws.slotUnit, &ws.unitSlots, &ws.unitWeightRows, &ws.unitOfValue) {
            slotFeature, slotUnit, unitSlots, unitWeightRows, unitOfValue in
            slotFeature.update(repeating: -1, count: slotCount)
            for f in 0..<fc {
                let feature = Int32(truncatingIfNeeded: f), weightRow = Int32(truncatingIfNeeded: f * d)
                precondition(ws.categoricalIDs[f].count == b,
                             "InputLayer.indexUnits: \(ws.categoricalIDs[f].count) key slots for \(b) rows (not the pulled batch)")
                Borrow.read(ws.categoricalIDs[f]) { ids in
                    for r in 0..<b {
                        let slot = Int(ids[r])
                        precondition(slot >= 0 && slot < slots, "InputLayer.indexUnits: key slot \(slot) outside \(slots) rows")
                        if slotFeature[slot] != feature {
                            slotFeature[slot] = feature
                            slotUnit[slot] = Int32(truncatingIfNeeded: units)
                            unitSlots[units] = ids[r]
                            unitWeightRows[units] = weightRow
                            units += 1
                        }
                        unitOfValue[f * b + r] = slotUnit[slot]
                    }
                }
            }
        }
        ws.unitSlots.removeLast(fc * b - units)
        ws.unitWeightRows.removeLast(fc * b - units)
        groupMembers(rows: b, features: fc, units: units, workspace: &ws)
        return ws.unitSlots.count
    }

    /// Counting sort of the (feature, row) values by unit: ``InputWorkspace/unitMembers`` and
    /// its offsets. Rows come out ascending within a unit (features in order, rows in order).
    private static func groupMembers(rows b: Int, features fc: Int, units: Int, workspace ws: inout InputWorkspace) {
        ws.unitMemberOffsets.removeAll(keepingCapacity: true)
        ws.unitMemberOffsets.append(contentsOf: repeatElement(0, count: units + 1))
        if ws.unitMembers.count != fc * b {
            ws.unitMembers.removeAll(keepingCapacity: true)
            ws.unitMembers.append(contentsOf: repeatElement(0, count: fc * b))
        }
        Borrow.update(&ws.unitMemberOffsets, &ws.unitMembers) { offsets, members in
            Borrow.read(ws.unitOfValue) { unitOfValue in
                for i in 0..<(fc * b) { offsets[Int(unitOfValue[i]) + 1] += 1 }
                for u in 0..<units { offsets[u + 1] += offsets[u] }
                // Units of feature f are numbered after those of f − 1, so one cursor per unit,
                // advanced in (feature, row) order, fills each unit's rows in ascending order.
                for f in 0..<fc {
                    for r in 0..<b {
                        let u = Int(unitOfValue[f * b + r])
                        members[Int(offsets[u])] = Int32(truncatingIfNeeded: r)
                        offsets[u] += 1
                    }
                }
                // Each cursor now sits at the next unit's start: shift back by one unit.
                for u in stride(from: units, to: 0, by: -1) { offsets[u] = offsets[u - 1] }
                offsets[0] = 0
            }
        }
    }

    /// Width `R` of ``writeRest(batch:layout:workspace:into:)``'s output.
    static func restWidth(_ layout: InputLayout) -> Int { layout.width - layout.categoricalCount * layout.embeddingDimension }

    /// Writes `rest` `(B, R)`: the pooled multi-categorical blocks and the numeric columns of `x`.
    static func writeRest(batch: EncodedBatch, layout: InputLayout, workspace ws: inout InputWorkspace, into rest: inout Tensor) {
        rest.resize(rows: batch.count, columns: restWidth(layout))
        writeBagsAndNumeric(batch: batch, layout: layout, workspace: &ws, into: &rest, atColumn: 0)
    }

    /// Adds the pooled blocks' share of `∂L/∂rest` to ``InputWorkspace/dRows`` (the numeric
    /// columns' share is not needed).
    static func backwardRest(batch: EncodedBatch, layout: InputLayout, dRest: Tensor, workspace ws: inout InputWorkspace) {
        precondition(dRest.shape == [batch.count, restWidth(layout)], "InputLayer.backwardRest: dRest \(dRest.shape), expected [\(batch.count), \(restWidth(layout))]")
        backwardBags(batch: batch, layout: layout, dOutput: dRest, atColumn: 0, workspace: &ws)
    }
}
