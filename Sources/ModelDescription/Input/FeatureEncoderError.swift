import ModelMath

/// A raw value the ``FeatureEncoder`` cannot encode, or statistics that do not fit the config.
///
/// The encoder knows columns, not files: the CSV reader adds `file:line:column`, the HTTP
/// layer the JSON field.
public enum FeatureEncoderError: Error, CustomStringConvertible, Equatable, Sendable {
    /// The value of input column `column` (slot `slot` of ``FeatureEncoder/columns``) is not
    /// acceptable, e.g. `not a number: "abc"`.
    case invalidValue(column: String, slot: Int, reason: String)
    /// A `standard`-normalised numeric feature has no fitted moments.
    case missingStatistics(feature: String)

    /// The column name, when the error is about one value.
    public var column: String? {
        if case .invalidValue(let column, _, _) = self { return column }
        return nil
    }

    /// The slot of ``FeatureEncoder/columns``, when the error is about one value.
    public var slot: Int? {
        if case .invalidValue(_, let slot, _) = self { return slot }
        return nil
    }

    /// The reason without the column.
    public var reason: String {
        switch self {
        case .invalidValue(_, _, let reason): reason
        case .missingStatistics(let feature): "numeric feature \"\(feature)\" has no fitted statistics"
        }
    }

    public var description: String {
        switch self {
        case .invalidValue(let column, _, let reason): "column \"\(column)\": \(reason)"
        case .missingStatistics: reason
        }
    }
}
