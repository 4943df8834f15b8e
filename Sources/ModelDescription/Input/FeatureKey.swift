import ModelMath

/// Stable 64-bit keys for categorical values: the embedding-table key of *(feature, value)*.
///
/// Swift's `Hasher` is seeded per process, so it cannot name rows that are stored on disk and
/// read back by another process. `FeatureKey` is a fixed function of the bytes:
///
/// ```
/// h   = FNV-1a-64( utf8(feature) ++ [0x1F] ++ utf8(value) )      offset basis 0xcbf29ce484222325,
///                                                                  prime 0x100000001b3
/// key = fmix64(h)                                                  MurmurHash3's 64-bit finaliser:
///       h ^= h >> 33; h *= 0xff51afd7ed558ccd; h ^= h >> 33; h *= 0xc4ceb9fe1a85ec53; h ^= h >> 33
/// ```
///
/// The unit separator 0x1F keeps `("ab", "c")` and `("a", "bc")` apart; the finaliser spreads
/// FNV's weak low bits so keys shard evenly by their low bits. The empty string is a value
/// like any other (a missing categorical value gets the key `hash(feature, "")`, one shared
/// "missing" row per feature). Task keys use the same function with the task-key column name.
/// Hashing a `String` and hashing its UTF-8 bytes give the same key.
public enum FeatureKey {
    @usableFromInline static let offsetBasis: UInt64 = 0xcbf2_9ce4_8422_2325
    @usableFromInline static let prime: UInt64 = 0x0000_0100_0000_01b3
    /// The byte between the feature name and the value (ASCII unit separator).
    public static let separator: UInt8 = 0x1F

    /// The key of `value` of feature `feature`.
    public static func hash(feature: String, value: String) -> UInt64 {
        FeatureKeyHasher(feature: feature).hash(value)
    }

    /// The key of the UTF-8 bytes `value` of feature `feature` (same key as the `String` form).
    @inlinable
    public static func hash(feature: String, value: UnsafeRawBufferPointer) -> UInt64 {
        FeatureKeyHasher(feature: feature).hash(value)
    }

    /// The key of a scene-private feature's value in scene `scene` (``ModelConfig/SceneEmbedding``):
    ///
    /// ```
    /// scoped(key, scene) = fmix64(key ⊕ scene · 0x9E3779B97F4A7C15)
    /// ```
    /// For a fixed scene a bijection of `key` (so two values of one scene never share a row
    /// unless their keys did), and the same value gets unrelated keys in different scenes.
    @inlinable @inline(__always)
    public static func scoped(_ key: UInt64, scene: UInt64) -> UInt64 {
        finalize(key ^ (scene &* 0x9E37_79B9_7F4A_7C15))
    }

    /// FNV-1a over `bytes`, continuing from `state`.
    @inlinable @inline(__always)
    static func fnv1a(_ state: UInt64, _ bytes: UnsafeRawBufferPointer) -> UInt64 {
        var h = state
        for b in bytes { h = (h ^ UInt64(b)) &* prime }
        return h
    }

    /// MurmurHash3's `fmix64` finaliser (a bijection on 64-bit values).
    @inlinable @inline(__always)
    public static func finalize(_ x: UInt64) -> UInt64 {
        var h = x
        h ^= h >> 33
        h &*= 0xff51_afd7_ed55_8ccd
        h ^= h >> 33
        h &*= 0xc4ce_b9fe_1a85_ec53
        h ^= h >> 33
        return h
    }
}

/// ``FeatureKey`` with the feature name already absorbed: the per-feature hasher the encoder
/// keeps so each value costs one pass over its own bytes.
public struct FeatureKeyHasher: Sendable, Equatable {
    /// FNV-1a state after `utf8(feature) ++ [0x1F]`.
    @usableFromInline let prefixState: UInt64

    /// A hasher for values of `feature`.
    public init(feature: String) {
        var h = FeatureKey.offsetBasis
        for b in feature.utf8 { h = (h ^ UInt64(b)) &* FeatureKey.prime }
        prefixState = (h ^ UInt64(FeatureKey.separator)) &* FeatureKey.prime
    }

    /// The key of the UTF-8 bytes `value`.
    @inlinable
    public func hash(_ value: UnsafeRawBufferPointer) -> UInt64 {
        FeatureKey.finalize(FeatureKey.fnv1a(prefixState, value))
    }

    /// The key of `value` (hashes its UTF-8 bytes).
    public func hash(_ value: some StringProtocol) -> UInt64 {
        var h = prefixState
        for b in value.utf8 { h = (h ^ UInt64(b)) &* FeatureKey.prime }
        return FeatureKey.finalize(h)
    }
}
