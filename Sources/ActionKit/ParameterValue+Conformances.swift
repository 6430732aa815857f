import OrderedJSON

extension String: ParameterValue {
    /// Decodes the value; throws for JSON of another type.
    public init(parameterJSON json: JSON) throws(ParameterTypeMismatch) {
        guard case .string(let value) = json else { throw ParameterTypeMismatch(expected: Self.parameterTypeDescription) }
        self = value
    }
    /// The value as JSON.
    public var parameterJSON: JSON { .string(self) }
    /// The type as users read it in errors.
    public static var parameterTypeDescription: String { "a string" }
}

extension Bool: ParameterValue {
    /// Decodes the value; throws for JSON of another type.
    public init(parameterJSON json: JSON) throws(ParameterTypeMismatch) {
        guard case .bool(let value) = json else { throw ParameterTypeMismatch(expected: Self.parameterTypeDescription) }
        self = value
    }
    /// The value as JSON.
    public var parameterJSON: JSON { .bool(self) }
    /// The type as users read it in errors.
    public static var parameterTypeDescription: String { "a boolean" }
}

extension Int: ParameterValue {
    /// Decodes the value; throws for JSON of another type.
    public init(parameterJSON json: JSON) throws(ParameterTypeMismatch) {
        switch json {
        case .integer(let value) where value >= Int64(Int.min) && value <= Int64(Int.max):
            self = Int(value)
        // Python sends 5.0 for a float that holds a whole number.
        case .double(let value) where value.rounded() == value && abs(value) < 9.0e15:
            self = Int(value)
        default:
            throw ParameterTypeMismatch(expected: Self.parameterTypeDescription)
        }
    }
    /// The value as JSON.
    public var parameterJSON: JSON { .integer(Int64(self)) }
    /// The type as users read it in errors.
    public static var parameterTypeDescription: String { "an integer" }
}

extension Double: ParameterValue {
    /// Decodes the value; throws for JSON of another type.
    public init(parameterJSON json: JSON) throws(ParameterTypeMismatch) {
        switch json {
        // NaN and ±Infinity reach us from Python (`float("inf")`); no
        // action means anything by them, and they must not reach a
        // conversion to an integer or a Duration.
        case .double(let value) where value.isFinite: self = value
        case .double: throw ParameterTypeMismatch(expected: "a finite number")
        case .integer(let value): self = Double(value)
        default: throw ParameterTypeMismatch(expected: Self.parameterTypeDescription)
        }
    }
    /// A whole number is written as an integer, so that a default reads
    /// `interval=5` (as a Python `interval=5` would), not `interval=5.0`.
    public var parameterJSON: JSON {
        if rounded() == self, abs(self) < 9.0e15 { return .integer(Int64(self)) }
        return .double(self)
    }
    /// The type as users read it in errors.
    public static var parameterTypeDescription: String { "a number" }
}

extension JSON: ParameterValue {
    /// Decodes the value; throws for JSON of another type.
    public init(parameterJSON json: JSON) throws(ParameterTypeMismatch) { self = json }
    /// The value as JSON.
    public var parameterJSON: JSON { self }
    /// The type as users read it in errors.
    public static var parameterTypeDescription: String { "any JSON value" }
}

extension Array: ParameterValue where Element: ParameterValue {
    /// Decodes the value; throws for JSON of another type.
    public init(parameterJSON json: JSON) throws(ParameterTypeMismatch) {
        guard case .array(let items) = json else { throw ParameterTypeMismatch(expected: Self.parameterTypeDescription) }
        var values: [Element] = []
        values.reserveCapacity(items.count)
        for item in items {
            do { values.append(try Element(parameterJSON: item)) } catch {
                throw ParameterTypeMismatch(expected: Self.parameterTypeDescription)
            }
        }
        self = values
    }
    /// The value as JSON.
    public var parameterJSON: JSON { .array(map(\.parameterJSON)) }
    /// The type as users read it in errors.
    public static var parameterTypeDescription: String { "a list of \(Element.parameterTypeDescription.droppingArticle)s" }
}

extension Optional: ParameterValue where Wrapped: ParameterValue {
    /// Decodes the value; throws for JSON of another type.
    public init(parameterJSON json: JSON) throws(ParameterTypeMismatch) {
        if case .null = json { self = .none; return }
        do { self = .some(try Wrapped(parameterJSON: json)) } catch {
            throw ParameterTypeMismatch(expected: Self.parameterTypeDescription)
        }
    }
    /// The value as JSON.
    public var parameterJSON: JSON { self?.parameterJSON ?? .null }
    /// The type as users read it in errors.
    public static var parameterTypeDescription: String { "\(Wrapped.parameterTypeDescription) or null" }
}

extension String {
    fileprivate var droppingArticle: String {
        for article in ["a ", "an "] where hasPrefix(article) { return String(dropFirst(article.count)) }
        return self
    }
}
