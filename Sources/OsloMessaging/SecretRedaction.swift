import OrderedJSON

/// Hides secrets in JSON before it is logged.
///
/// A member is secret when its name (without a `_context_` prefix,
/// case-insensitive) contains `password`, `passwd`, `passphrase`, `token`,
/// `secret`, `credential`, `private_key`, `api_key`, `access_key` or `hmac`
/// (osprofiler's `trace_info.hmac_key`), or is
/// `service_catalog` or `trust_id`. Secret values other than `null` are
/// replaced by ``placeholder`` wherever they appear (nested objects and
/// arrays included); `null` stays visible, since "no token" is useful to know.
public enum SecretRedaction {
    /// What a secret value is replaced with.
    public static let placeholder = "***"

    private static let secretFragments = [
        "password", "passwd", "passphrase", "token", "secret", "credential", "private_key", "api_key",
        "access_key", "hmac",
    ]
    private static let secretNames: Set<String> = ["service_catalog", "trust_id"]

    /// Whether a member named `key` holds a secret.
    public static func isSecret(key: String) -> Bool {
        var name = key.lowercased()
        if name.hasPrefix("_context_") {
            name.removeFirst("_context_".count)
        }
        if secretNames.contains(name) {
            return true
        }
        return secretFragments.contains { name.contains($0) }
    }

    /// `value` with every secret member replaced.
    public static func redact(_ value: JSON) -> JSON {
        switch value {
        case .object(let object):
            return .object(redact(object))
        case .array(let elements):
            return .array(elements.map(redact))
        default:
            return value
        }
    }

    /// `object` with every secret member replaced (order kept).
    public static func redact(_ object: JSONObject) -> JSONObject {
        object.mapMembers { key, value in
            if isSecret(key: key) {
                return value.isNull ? value : .string(placeholder)
            }
            return redact(value)
        }
    }
}

extension JSONObject {
    /// The same keys in order, with values computed from each member.
    func mapMembers(_ transform: (String, JSON) -> JSON) -> JSONObject {
        var result = JSONObject(minimumCapacity: count)
        for (key, value) in self {
            result.updateValue(transform(key, value), forKey: key)
        }
        return result
    }
}
