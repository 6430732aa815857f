#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Hides secrets in values that are printed: `config show`, warnings, errors.
public enum SecretMasking {
    /// What a hidden secret is shown as (oslo's `log_opt_values` uses the same).
    public static let mask = "****"

    /// What an unset value is shown as (oslo's sample uses the same).
    public static let unset = "<None>"

    /// The value as it may be printed: unchanged, fully masked, or a URL
    /// with its passwords masked.
    public static func display(_ value: String?, secrecy: Secrecy) -> String {
        guard let value else { return unset }
        switch secrecy {
        case .none: return value
        case .whole: return value.isEmpty ? value : mask
        case .urlCredentials: return maskingURLCredentials(value)
        }
    }

    /// Masks the password of every `user:password@host` in a URL (several
    /// comma-separated hosts included, as in transport URLs) and the value of
    /// `password=` parameters. User names, hosts and paths stay visible.
    ///
    ///     rabbit://mistral:s3cret@10.0.0.1:5672,mistral:s3cret@10.0.0.2:5672/
    ///     rabbit://mistral:****@10.0.0.1:5672,mistral:****@10.0.0.2:5672/
    public static func maskingURLCredentials(_ url: String) -> String {
        // Without a scheme (a malformed value in an error message), treat it all as authority.
        let restStart = url.firstRange(of: "://")?.upperBound ?? url.startIndex
        let rest = url[restStart...]
        // The query may hold '@' (an e-mail address); user information cannot follow it.
        let queryStart = rest.firstIndex { $0 == "?" || $0 == "#" } ?? rest.endIndex
        let beforeQuery = rest[..<queryStart]
        // Split hosts at commas and take each one's last '@', not the first
        // '/': a password with an unescaped '/' must not leak either.
        let hosts = beforeQuery.split(separator: ",", omittingEmptySubsequences: false).map { host -> String in
            guard let at = host.lastIndex(of: "@") else { return String(host) }
            let userInformation = host[..<at]
            guard let colon = userInformation.firstIndex(of: ":") else { return String(host) }
            return String(host[...colon]) + mask + String(host[at...])
        }
        return maskingPasswordParameters(
            String(url[..<restStart]) + hosts.joined(separator: ",") + String(rest[queryStart...]))
    }

    /// Masks `password=value` (and `passwd=`, `pwd=`) in query strings and
    /// libpq-style `key=value` connection strings.
    static func maskingPasswordParameters(_ text: String) -> String {
        let secretKeys: Set<String> = ["password", "passwd", "pwd"]
        var result = ""
        var index = text.startIndex
        var tokenStart = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            if character == "=" {
                let key = text[tokenStart..<index].lowercased()
                result += text[tokenStart...index]
                index = text.index(after: index)
                let valueEnd = text[index...].firstIndex { $0 == "&" || $0 == ";" || $0 == "#" || $0.isWhitespace }
                    ?? text.endIndex
                result += secretKeys.contains(key) && valueEnd > index ? mask : String(text[index..<valueEnd])
                index = valueEnd
                tokenStart = index
                continue
            }
            if character == "&" || character == "?" || character == ";" || character == "#" || character.isWhitespace {
                result += text[tokenStart...index]
                tokenStart = text.index(after: index)
            }
            index = text.index(after: index)
        }
        return result + text[tokenStart...]
    }
}
