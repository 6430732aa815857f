import CommandRunner
import Testing

@Suite("Command line parsing")
struct CommandPipelineTests {
    struct Accepted: Sendable, CustomTestStringConvertible {
        var line: String
        var stages: [[String]]
        var testDescription: String { line }
    }

    static let accepted: [Accepted] = [
        Accepted(line: "  ls   -l\t/tmp ", stages: [["ls", "-l", "/tmp"]]),
        Accepted(line: #"echo 'a b' 'c"d' '$HOME' 'a\b'"#, stages: [["echo", "a b", #"c"d"#, "$HOME", #"a\b"#]]),
        Accepted(line: #"echo "a \"b\" \\ \$x \`y\` \n""#, stages: [["echo", #"a "b" \ $x `y` \n"#]]),
        Accepted(line: #"echo a\ b \'c \| \; \$HOME \*"#, stages: [["echo", "a b", "'c", "|", ";", "$HOME", "*"]]),
        Accepted(line: #"echo a'b'"c"d"#, stages: [["echo", "abcd"]]),
        Accepted(line: "printf '%s' '' \"\"", stages: [["printf", "%s", "", ""]]),
        Accepted(line: "a|b | c", stages: [["a"], ["b"], ["c"]]),
        Accepted(line: "echo 'a|b' \"c|d\"", stages: [["echo", "a|b", "c|d"]]),
        Accepted(line: "echo a\\\nb", stages: [["echo", "ab"]]),
        Accepted(line: "echo \"a\\\nb\"", stages: [["echo", "ab"]]),
        Accepted(line: "echo 'two\nlines'", stages: [["echo", "two\nlines"]]),
        Accepted(line: #"echo $ a$ "$" "a $ b""#, stages: [["echo", "$", "a$", "$", "a $ b"]]),
        Accepted(line: "find . -name x -exec echo {} +", stages: [["find", ".", "-name", "x", "-exec", "echo", "{}", "+"]]),
        Accepted(line: "env A=b echo x=y a~ b#c", stages: [["env", "A=b", "echo", "x=y", "a~", "b#c"]]),
        Accepted(line: "'FOO=bar' ls", stages: [["FOO=bar", "ls"]]),
        Accepted(line: "echo '*' \"?\" '[a]' '{a,b}' '~' '#x'", stages: [["echo", "*", "?", "[a]", "{a,b}", "~", "#x"]]),
        Accepted(line: "df -h / | tail -n +2 | wc -l", stages: [["df", "-h", "/"], ["tail", "-n", "+2"], ["wc", "-l"]]),
        Accepted(line: "echo ünïcödé ✓", stages: [["echo", "ünïcödé", "✓"]]),
    ]

    @Test("splits words and stages like a shell", arguments: accepted)
    func accepts(_ example: Accepted) throws {
        let pipeline = try CommandPipeline(parsing: example.line)
        #expect(pipeline.stages == example.stages)
    }

    @Test("the description parses back to the same pipeline", arguments: accepted)
    func roundTrips(_ example: Accepted) throws {
        let pipeline = try CommandPipeline(parsing: example.line)
        #expect(try CommandPipeline(parsing: pipeline.description) == pipeline)
    }

    struct Rejected: Sendable, CustomTestStringConvertible {
        var line: String
        var message: String
        var testDescription: String { line }
    }

    static let rejected: [Rejected] = [
        Rejected(line: "ls; rm x", message: "';' at character 3 would separate commands in a shell"),
        Rejected(line: "ls\nrm x", message: "a line break at character 3 would separate commands"),
        Rejected(line: "true && rm x", message: "'&&' at character 6 would chain commands"),
        Rejected(line: "false || rm x", message: "'||' at character 7 would run a second command"),
        Rejected(line: "sleep 1 &", message: "'&' at character 9 would run a command in the background"),
        Rejected(line: "ls > out", message: "redirection '>' at character 4 is not supported"),
        Rejected(line: "ls >> out", message: "redirection '>>' at character 4 is not supported"),
        Rejected(line: "cat < in", message: "redirection '<' at character 5 is not supported"),
        Rejected(line: "ls 2>&1", message: "redirection '>' at character 5 is not supported"),
        Rejected(line: "echo $(id)", message: "command substitution '$(' at character 6"),
        Rejected(line: "echo \"$(id)\"", message: "command substitution '$(' at character 7"),
        Rejected(line: "echo `id`", message: "command substitution with '`' at character 6"),
        Rejected(line: "echo \"`id`\"", message: "command substitution with '`' at character 7"),
        Rejected(
            line: "echo $HOME",
            message: "variable expansion '$HOME' at character 6 is not supported (there is no shell); quote it with single quotes"),
        Rejected(
            line: "echo \"x$HOME_DIR/y\"",
            message: "variable expansion '$HOME_DIR' at character 8 is not supported (there is no shell); escape it as \\$"),
        Rejected(line: "echo ${HOME}", message: "parameter expansion '${' at character 6"),
        Rejected(line: "echo $1 $?", message: "variable expansion '$1' at character 6"),
        Rejected(line: "echo $?", message: "variable expansion '$?' at character 6"),
        Rejected(line: "echo $'a\\n'", message: "'$'' quoting at character 6 is not supported"),
        Rejected(line: "ls *.log", message: "'*' at character 4 is a glob pattern in a shell, but nothing expands it here; quote it"),
        Rejected(line: "ls file?", message: "'?' at character 8 is a glob pattern"),
        Rejected(line: "ls [ab]", message: "'[' at character 4 is a glob pattern"),
        Rejected(line: "ls ~/x", message: "'~' at character 4 would be expanded to a home directory"),
        Rejected(line: "echo a #comment", message: "'#' at character 8 starts a comment"),
        Rejected(line: "echo x{a,b}", message: "'{a,b}' at character 7 is a brace expansion"),
        Rejected(line: "echo {1..3}", message: "'{1..3}' at character 6 is a brace expansion"),
        Rejected(line: "(ls)", message: "'(' at character 1 would group commands or start a subshell"),
        Rejected(line: "FOO=bar ls", message: "'FOO=' at character 1 would set an environment variable"),
        Rejected(line: "ls | FOO=bar wc", message: "'FOO=' at character 6 would set an environment variable"),
        Rejected(line: "ls | | wc", message: "'|' at character 6 follows another '|' with no command between them"),
        Rejected(line: "| ls", message: "the command line starts with '|' at character 1"),
        Rejected(line: "ls |", message: "the command line ends with '|' at character 4"),
        Rejected(line: "ls | ", message: "the command line ends with '|' at character 4"),
        Rejected(line: "", message: "the command line is empty"),
        Rejected(line: "  \t ", message: "the command line is empty"),
        Rejected(line: "echo 'abc", message: "the single quote at character 6 is never closed"),
        Rejected(line: "echo \"abc\\\"", message: "the double quote at character 6 is never closed"),
        Rejected(line: "echo abc\\", message: "the command line ends with a backslash at character 9"),
    ]

    @Test("rejects shell syntax that would not work without a shell", arguments: rejected)
    func rejects(_ example: Rejected) {
        let error = #expect(throws: CommandError.self) {
            try CommandPipeline(parsing: example.line)
        }
        #expect(error?.code == .invalidCommandLine)
        #expect(error?.message.hasPrefix(example.message) == true, "\(error?.message ?? "")")
    }

    @Test("a pipeline built from argument vectors is written back quoted")
    func description() {
        let pipeline = CommandPipeline([["printf", #"%s\n"#, "it's", ""], ["wc", "-l"]])
        #expect(pipeline.description == #"printf '%s\n' 'it'\''s' '' | wc -l"#)
    }
}
