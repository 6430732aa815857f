/// Collects the `@Parameter` and `@KeywordArguments` properties an action's
/// `init()` creates, in the order it creates them, so that decoding a
/// request's input needs no reflection over the new instance (a `Mirror`
/// boxes and casts every stored property: the costliest step of decoding a
/// small action's input).
///
/// ``ActionDescriptor`` trusts the collected order only after checking,
/// once per action type, that it is the order reflection finds the same
/// properties in (declaration order); an action whose `init()` creates its
/// properties in another order, or creates parameters that are not its own
/// stored properties, is decoded through reflection as before.
final class ParameterCollector: @unchecked Sendable {
    // @unchecked: bound as a task-local value only around one synchronous
    // `init()` call, which is the only code that appends; read afterwards by
    // the same caller.
    var parameters: [any AnyParameter] = []
    var keywordArguments: [any AnyKeywordArguments] = []

    @TaskLocal static var current: ParameterCollector?

    /// A new instance of `type` and the properties its `init()` created.
    static func instantiate(_ type: any MistralAction.Type) -> (action: any MistralAction, collector: ParameterCollector) {
        let collector = ParameterCollector()
        let action = $current.withValue(collector) { type.init() }
        return (action, collector)
    }
}
