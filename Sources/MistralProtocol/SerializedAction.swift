import OrderedJSON
import OsloMessaging

/// The `action` argument of `run_action`: what the engine asks to run, as
/// mistral_lib's polymorphic serialization describes it.
public indirect enum SerializedAction: Sendable, Equatable {
    /// A dynamic action: a class in a code source stored in Mistral's DB.
    /// mistral-actions registers its actions this way.
    case dynamic(DynamicAction)
    /// An ad-hoc (DSL) action wrapping a base action; the engine already
    /// evaluated the base input, and applies the ad-hoc output itself.
    case adHoc(base: SerializedAction)
    /// Any other action (std.*, mistral-extra's OpenStack actions, ...):
    /// Python's to run. `className` is the `cls` path when known.
    case python(serialKey: String, className: String?)

    /// A dynamic action as the engine serializes it.
    public struct DynamicAction: Sendable, Equatable {
        public var className: String
        public var codeSourceID: String
        public var namespace: String
        /// The constructor's stored attributes: the action's input with the
        /// defaults filled in by the engine.
        public var data: JSONObject
        public var classAttributes: JSONObject

        public init(className: String, codeSourceID: String, namespace: String = "", data: JSONObject, classAttributes: JSONObject = [:]) {
            self.className = className
            self.codeSourceID = codeSourceID
            self.namespace = namespace
            self.data = data
            self.classAttributes = classAttributes
        }
    }

    public static let dynamicKey = "mistral.actions.dynamic_action.DynamicAction"
    public static let adHocKey = "mistral.actions.adhoc.AdHocAction"
    public static let baseKey = "mistral_lib.actions.base.Action"

    /// The action that actually runs: the innermost base of ad-hoc wrappers.
    public var innermost: SerializedAction {
        if case .adHoc(let base) = self { return base.innermost }
        return self
    }

    /// Decodes the (already unwrapped once) `action` argument:
    /// `{"__serial_key": ..., "__serial_data": "<JSON string>"}`.
    public init(serialized value: JSON, depth: Int = 0) throws(MistralProtocolError) {
        guard depth < 8 else { throw .malformedAction(detail: "ad-hoc actions nested more than 8 deep") }
        guard case .object(let object) = value else {
            throw .malformedAction(detail: "expected an object with __serial_key, got \(value.typeName)")
        }
        guard case .string(let key)? = object["__serial_key"] else {
            throw .malformedAction(detail: "missing or non-string __serial_key")
        }
        let data: JSONObject
        switch object["__serial_data"] {
        case .string(let text)?:
            do {
                guard case .object(let decoded) = try JSON(parsing: text, options: .python) else {
                    throw MistralProtocolError.malformedAction(detail: "__serial_data of \(key) is not an object")
                }
                data = decoded
            } catch let error as MistralProtocolError {
                throw error
            } catch {
                throw .malformedAction(detail: "__serial_data of \(key) is not valid JSON: \(error)")
            }
        case .object(let decoded)?:
            data = decoded
        default:
            throw .malformedAction(detail: "missing __serial_data for \(key)")
        }
        switch key {
        case Self.dynamicKey:
            guard case .string(let className)? = data["cls_name"] else {
                throw .malformedAction(detail: "DynamicAction without a string cls_name")
            }
            guard case .string(let codeSourceID)? = data["code_source_id"] else {
                throw .malformedAction(detail: "DynamicAction \(className) without a string code_source_id")
            }
            let input: JSONObject
            switch data["data"] {
            case .object(let object)?: input = object
            case nil, .null?: input = JSONObject()
            default: throw .malformedAction(detail: "DynamicAction \(className): data is not an object")
            }
            self = .dynamic(DynamicAction(
                className: className,
                codeSourceID: codeSourceID,
                namespace: data["namespace"]?.stringValue ?? "",
                data: input,
                classAttributes: data["cls_attrs"]?.objectValue ?? JSONObject()
            ))
        case Self.adHocKey:
            guard let base = data["base_action"] else {
                throw .malformedAction(detail: "AdHocAction without base_action")
            }
            let decodedBase: JSON
            if case .string(let text) = base {
                do { decodedBase = try JSON(parsing: text, options: .python) } catch {
                    throw .malformedAction(detail: "AdHocAction base_action is not valid JSON: \(error)")
                }
            } else {
                decodedBase = base
            }
            self = .adHoc(base: try SerializedAction(serialized: decodedBase, depth: depth + 1))
        default:
            self = .python(serialKey: key, className: data["cls"]?.stringValue)
        }
    }

    /// A short human name for logs and errors: the class name.
    public var displayName: String {
        switch self {
        case .dynamic(let action): return action.className
        case .adHoc(let base): return "ad-hoc action on \(base.displayName)"
        case .python(let key, let className): return className ?? key
        }
    }
}
