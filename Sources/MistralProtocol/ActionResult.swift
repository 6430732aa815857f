import OrderedJSON
import OsloMessaging

/// mistral_lib's `Result`: what an action produced. The engine reads
/// `cancel` first (CANCELLED), then `error` (ERROR), else SUCCESS with `data`.
public struct ActionResult: Sendable, Equatable {
    public var data: JSON
    public var error: JSON
    public var cancel: Bool

    public static let serialKey = "mistral_lib.actions.types.Result"

    public init(data: JSON = .null, error: JSON = .null, cancel: Bool = false) {
        self.data = data
        self.error = error
        self.cancel = cancel
    }

    public static func success(_ data: JSON) -> ActionResult { ActionResult(data: data) }
    public static func failure(_ error: JSON) -> ActionResult { ActionResult(error: error) }
    public static func failure(_ message: String) -> ActionResult { ActionResult(error: .string(message)) }

    public var isError: Bool { !error.isNull }

    /// The polymorphic form: `{"__serial_key": "mistral_lib.actions.types.Result", "__serial_data": "..."}`.
    public func serialized() throws(OsloCodecError) -> JSON {
        try MistralSerializedObject(key: Self.serialKey, data: ["data": data, "error": error, "cancel": .bool(cancel)]).encoded()
    }

    /// Decodes a (once unwrapped) serialized `Result`.
    public init(serialized value: JSON) throws(MistralProtocolError) {
        guard case .string(let key)? = value["__serial_key"], key == Self.serialKey else {
            throw .malformedResult(detail: "expected __serial_key \(Self.serialKey)")
        }
        let data: JSON
        switch value["__serial_data"] {
        case .string(let text)?:
            do { data = try JSON(parsing: text, options: .python) } catch {
                throw .malformedResult(detail: "__serial_data is not valid JSON: \(error)")
            }
        case let other?: data = other
        case nil: throw .malformedResult(detail: "missing __serial_data")
        }
        self.init(
            data: data["data"] ?? .null,
            error: data["error"] ?? .null,
            cancel: data["cancel"]?.boolValue ?? false
        )
    }
}
