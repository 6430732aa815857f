/// The members of a JSON object, in order, with unique keys.
///
/// Backed by an array of `(key, value)` pairs: iteration, encoding and
/// positional access follow insertion order. Lookup by key is a linear scan
/// for small objects (the common case: a few dozen keys at most) and uses a
/// `[String: Int]` index once the object has more than
/// ``JSONObject/linearSearchLimit`` members, so that large or hostile inputs
/// stay linear to parse.
///
/// Keys are unique, like in a Python dict: assigning to an existing key
/// replaces its value *in place* (it keeps its position), which is also how a
/// repeated key in parsed text behaves (first position, last value).
public struct JSONObject: Sendable {
    /// A member: key and value.
    public typealias Element = (key: String, value: JSON)

    /// Objects with at most this many members are searched linearly.
    public static let linearSearchLimit = 16

    @usableFromInline
    internal var entries: [Element]

    /// Position of every key; present only when `entries.count > linearSearchLimit`.
    @usableFromInline
    internal var keyIndex: [String: Int]?

    /// An empty object.
    @inlinable
    public init() {
        entries = []
        keyIndex = nil
    }

    /// An empty object with room for `minimumCapacity` members.
    public init(minimumCapacity: Int) {
        entries = []
        entries.reserveCapacity(minimumCapacity)
        keyIndex = nil
    }

    /// An object with the given members in order; a repeated key keeps its
    /// first position and its last value.
    public init(_ members: some Sequence<(String, JSON)>) {
        self.init()
        for (key, value) in members {
            self[key] = value
        }
    }

    /// The number of members.
    @inlinable
    public var count: Int { entries.count }

    /// `true` when the object has no members.
    @inlinable
    public var isEmpty: Bool { entries.isEmpty }

    /// The keys, in order.
    public var keys: [String] { entries.map(\.key) }

    /// The values, in key order.
    public var values: [JSON] { entries.map(\.value) }

    /// The position of `key`, or `nil` if the object has no such member.
    @inlinable
    public func index(forKey key: String) -> Int? {
        if let keyIndex {
            return keyIndex[key]
        }
        for position in entries.indices where entries[position].key == key {
            return position
        }
        return nil
    }

    /// `true` if the object has a member named `key`.
    @inlinable
    public func contains(key: String) -> Bool {
        index(forKey: key) != nil
    }

    /// The value of member `key`. Setting a value replaces an existing member
    /// in place or appends a new one; setting `nil` removes the member.
    public subscript(key: String) -> JSON? {
        get {
            guard let position = index(forKey: key) else { return nil }
            return entries[position].value
        }
        set {
            if let newValue {
                updateValue(newValue, forKey: key)
            } else {
                removeValue(forKey: key)
            }
        }
    }

    /// Sets member `key` to `value` (in place if it exists, else appended) and
    /// returns the previous value.
    @discardableResult
    public mutating func updateValue(_ value: JSON, forKey key: String) -> JSON? {
        if let position = index(forKey: key) {
            let old = entries[position].value
            entries[position].value = value
            return old
        }
        appendNewMember(key: key, value: value)
        return nil
    }

    /// Appends a member whose key the caller knows is not in the object yet
    /// (e.g. when copying members of another object): cheaper than
    /// ``updateValue(_:forKey:)`` because it skips the lookup. Appending an
    /// existing key breaks the object's invariants (checked in debug builds).
    public mutating func append(uniqueKey key: String, value: JSON) {
        assert(index(forKey: key) == nil, "append(uniqueKey:value:) with an existing key \(key)")
        appendNewMember(key: key, value: value)
    }

    /// Removes member `key`, returning its value.
    @discardableResult
    public mutating func removeValue(forKey key: String) -> JSON? {
        guard let position = index(forKey: key) else { return nil }
        let old = entries.remove(at: position).value
        rebuildIndex()
        return old
    }

    /// Removes all members.
    public mutating func removeAll(keepingCapacity: Bool = false) {
        entries.removeAll(keepingCapacity: keepingCapacity)
        keyIndex = nil
    }

    /// Reserves room for `minimumCapacity` members.
    public mutating func reserveCapacity(_ minimumCapacity: Int) {
        entries.reserveCapacity(minimumCapacity)
    }

    /// Sets every member of `other` on this object, in `other`'s order
    /// (existing keys keep their position and take `other`'s value).
    public mutating func merge(_ other: JSONObject) {
        reserveCapacity(count + other.count)
        for (key, value) in other.entries {
            updateValue(value, forKey: key)
        }
    }

    /// The members for which `isIncluded` returns `true`, in order.
    public func filter(_ isIncluded: (Element) throws -> Bool) rethrows -> JSONObject {
        var result = JSONObject()
        for entry in entries where try isIncluded(entry) {
            result.appendNewMember(key: entry.key, value: entry.value)
        }
        return result
    }

    /// The same keys in the same order with transformed values.
    public func mapValues(_ transform: (JSON) throws -> JSON) rethrows -> JSONObject {
        var result = self
        for position in result.entries.indices {
            result.entries[position].value = try transform(result.entries[position].value)
        }
        return result
    }

    /// Appends a member whose key is known to be absent.
    @usableFromInline
    internal mutating func appendNewMember(key: String, value: JSON) {
        entries.append((key: key, value: value))
        if keyIndex != nil {
            keyIndex![key] = entries.count - 1
        } else if entries.count > Self.linearSearchLimit {
            rebuildIndex()
        }
    }

    private mutating func rebuildIndex() {
        guard entries.count > Self.linearSearchLimit else {
            keyIndex = nil
            return
        }
        var index = [String: Int](minimumCapacity: entries.count)
        for (position, entry) in entries.enumerated() {
            index[entry.key] = position
        }
        keyIndex = index
    }
}

// MARK: - Collection

extension JSONObject: RandomAccessCollection {
    /// Positions are the members' order, from 0.
    public typealias Index = Int

    /// The first member's position (0).
    @inlinable
    public var startIndex: Int { 0 }

    /// Past the last member.
    @inlinable
    public var endIndex: Int { entries.count }

    /// The member at `position` (in insertion order).
    @inlinable
    public subscript(position: Int) -> Element {
        entries[position]
    }
}

// MARK: - Equality (order-insensitive, like Python dicts)

extension JSONObject: Hashable {
    /// The same members with equal values, in the same order.
    public static func == (lhs: JSONObject, rhs: JSONObject) -> Bool {
        guard lhs.count == rhs.count else { return false }
        for (key, value) in lhs.entries {
            guard let other = rhs[key], other == value else { return false }
        }
        return true
    }

    /// Hashes the members in order.
    public func hash(into hasher: inout Hasher) {
        // Order-independent: sum of per-member hashes.
        var sum: Int = 0
        for (key, value) in entries {
            var memberHasher = Hasher()
            memberHasher.combine(key)
            memberHasher.combine(value)
            sum &+= memberHasher.finalize()
        }
        hasher.combine(entries.count)
        hasher.combine(sum)
    }

    /// `true` when both objects have the same members in the same order
    /// (nested objects are compared the same way).
    public func isIdentical(to other: JSONObject) -> Bool {
        guard count == other.count else { return false }
        for position in entries.indices {
            let (key, value) = entries[position]
            let (otherKey, otherValue) = other.entries[position]
            guard key == otherKey, value.isIdentical(to: otherValue) else { return false }
        }
        return true
    }
}

extension JSON {
    /// Equality that also requires the same key order in every object.
    public func isIdentical(to other: JSON) -> Bool {
        switch (self, other) {
        case (.object(let lhs), .object(let rhs)):
            return lhs.isIdentical(to: rhs)
        case (.array(let lhs), .array(let rhs)):
            guard lhs.count == rhs.count else { return false }
            return zip(lhs, rhs).allSatisfy { $0.isIdentical(to: $1) }
        default:
            return self == other
        }
    }
}

// MARK: - Literals and description

extension JSONObject: ExpressibleByDictionaryLiteral {
    /// An object literal; the members keep the literal's order.
    public init(dictionaryLiteral elements: (String, JSON)...) {
        self.init(elements)
    }
}

extension JSONObject: CustomStringConvertible {
    /// The compact JSON text of the object.
    public var description: String {
        JSON.object(self).description
    }
}
