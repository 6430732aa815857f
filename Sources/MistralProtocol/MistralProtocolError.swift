/// A Mistral message that this executor cannot understand.
public enum MistralProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    case missingArgument(String)
    case wrongArgumentType(String, expected: String, got: String)
    case malformedArgument(detail: String)
    case malformedAction(detail: String)
    case malformedResult(detail: String)

    public var description: String {
        switch self {
        case .missingArgument(let name): return "run_action without the '\(name)' argument"
        case .wrongArgumentType(let name, let expected, let got): return "argument '\(name)' must be \(expected), got \(got)"
        case .malformedArgument(let detail): return "malformed argument: \(detail)"
        case .malformedAction(let detail): return "malformed action: \(detail)"
        case .malformedResult(let detail): return "malformed result: \(detail)"
        }
    }
}
