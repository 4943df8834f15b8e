import ParamServer

/// The event times a live server accepts (`docs/DESIGN.md` §HTTP): not before `earliest`, not
/// later than `maximumSkew` ahead of the support store's clock. An event outside them is a
/// client's bug (milliseconds sent as seconds, a zero, a clock far off): appended, a time far in
/// the future would keep its row from ever expiring, and one long past would expire at once.
///
/// ```
/// earliest ≤ t ≤ now + maximumSkew        t in seconds since the Unix epoch
/// ```
///
/// Offline paths (`metarec eval-cold`, held-out support from historical CSVs) do not apply them:
/// ``Predictor/record(events:)`` accepts any time; the HTTP route checks with
/// ``Predictor/checkTimes(of:within:)`` first.
public struct EventTimeBounds: Sendable, Equatable {
    /// The earliest accepted time, in seconds since the epoch.
    public var earliest: Int64
    /// How far ahead of the clock an event may be (clients' clocks drift).
    public var maximumSkew: Duration

    /// 2000-01-01T00:00:00Z (946 684 800 s) to one day ahead of the clock.
    public static let standard = EventTimeBounds(earliest: 946_684_800, maximumSkew: .seconds(86_400))

    /// Bounds from `earliest` (seconds since the epoch) to `maximumSkew` ahead of the clock.
    public init(earliest: Int64, maximumSkew: Duration) {
        self.earliest = earliest
        self.maximumSkew = maximumSkew
    }
}

extension Predictor {
    /// Checks every event as ``record(events:)`` does (columns, types, user, a label), then its
    /// time against `bounds` and the support store's clock, before any is recorded, so the first
    /// bad event is the one reported: its time present (as the config's time column or
    /// `timestamp`) and within the bounds. A model without a time column takes no times.
    ///
    /// - Throws: ``record(events:)``'s errors; ``ServingError/missingField(field:)`` for an event
    ///   without a time, or ``ServingError/invalidValue(field:reason:)`` for one out of bounds,
    ///   naming `events[i].timestamp` (or the time column the event used).
    public func checkTimes(of request: EventsRequest, within bounds: EventTimeBounds) throws(ServingError) {
        guard let timeFeature = schema.timeFeature else { return }
        let column = schema.names[timeFeature]
        let now = model.support.clock.now().nanosecondsSinceEpoch / 1_000_000_000
        let (skew, _) = bounds.maximumSkew.components
        let latest = now.addingReportingOverflow(skew).overflow ? Int64.max : now + skew
        for (i, event) in request.events.enumerated() {
            try validate(event: event, index: i)
            let key = event[column] != nil ? column : "timestamp"
            let field = "events[\(i)].\(key)"
            let seconds: Double
            switch event[key] {
            case nil: throw .missingField(field: field)
            case .integer(let t): seconds = Double(t)
            case .number(let t): seconds = t
            default: continue  // null: record(events:) names it
            }
            guard seconds.isFinite else { throw .invalidValue(field: field, reason: "not a finite number of seconds") }
            guard seconds >= Double(bounds.earliest) else {
                throw .invalidValue(field: field, reason: "\(Self.format(seconds)) is before the earliest accepted time, \(bounds.earliest)")
            }
            guard seconds <= Double(latest) else {
                throw .invalidValue(field: field, reason: "\(Self.format(seconds)) is more than \(skew) s ahead of the server's clock (\(now)); times are in seconds")
            }
        }
    }

    private static func format(_ seconds: Double) -> String {
        seconds == seconds.rounded() && abs(seconds) < 9e15 ? String(Int64(seconds)) : String(seconds)
    }
}
