#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Finds the file a command names, as `execvp` would but in a given search
/// path rather than the worker's own `PATH`.
enum ExecutableLookup {
    enum FileState: Equatable {
        case executable
        case notExecutable(reason: String)
        case missing
    }

    /// Whether `path` is a regular file this process may execute.
    static func state(of path: String) -> FileState {
        // The C call would stop at a NUL and look at another file.
        guard !ControlCharacters.containsNUL(path) else { return .missing }
        var information = stat()
        guard stat(path, &information) == 0 else { return .missing }
        guard information.st_mode & S_IFMT == S_IFREG else {
            return .notExecutable(reason: information.st_mode & S_IFMT == S_IFDIR ? "is a directory" : "is not a regular file")
        }
        guard access(path, X_OK) == 0 else {
            return .notExecutable(reason: "is not executable (\(systemErrorText(errno)))")
        }
        return .executable
    }

    /// The file that runs for `command`: a name containing `/` is a path
    /// (relative to the worker's directory); a bare name is looked up in the
    /// directories of `searchPath`, in order.
    static func locate(_ command: String, searchPath: String) throws(CommandError) -> String {
        if command.isEmpty {
            throw CommandError(code: .notFound, message: "the command name is empty")
        }
        if ControlCharacters.containsNUL(command) {
            throw CommandError(code: .invalidCommandLine, message: "the command name holds a NUL byte")
        }
        if ControlCharacters.containsNUL(searchPath) {
            throw CommandError(code: .invalidConfiguration, message: "the search path holds a NUL byte")
        }
        if command.contains("/") {
            switch state(of: command) {
            case .executable:
                return command
            case .notExecutable(let reason):
                throw CommandError(code: .notExecutable, message: "'\(command)' \(reason)")
            case .missing:
                throw CommandError(code: .notFound, message: "'\(command)' does not exist")
            }
        }
        var firstProblem: String?
        // An empty element would mean the current directory; never look there.
        for directory in searchPath.split(separator: ":") {
            let candidate = directory.hasSuffix("/") ? "\(directory)\(command)" : "\(directory)/\(command)"
            switch state(of: candidate) {
            case .executable:
                return candidate
            case .notExecutable(let reason):
                firstProblem = firstProblem ?? "'\(candidate)' \(reason)"
            case .missing:
                continue
            }
        }
        if let firstProblem {
            throw CommandError(code: .notExecutable, message: "command '\(command)' was found but \(firstProblem)")
        }
        throw CommandError(code: .notFound, message: "command '\(command)' not found in \(searchPath)")
    }

    /// The canonical absolute path of an existing file: every symbolic link,
    /// `.` and `..` resolved.
    ///
    /// Nil also for a path with a NUL (the C call would resolve a shorter
    /// one) and for a result that is not UTF-8: repaired into a String it
    /// would name another file than the one checked.
    static func realPath(_ path: String) -> String? {
        guard !ControlCharacters.containsNUL(path), let resolved = realpath(path, nil) else { return nil }
        defer { free(resolved) }
        return String(validatingCString: resolved)
    }

    /// The last component of a path (`/usr/bin/ls` → `ls`).
    static func baseName(_ path: String) -> String {
        path.split(separator: "/").last.map(String.init) ?? path
    }
}

/// `strerror`'s text for an errno value.
func systemErrorText(_ code: Int32) -> String {
    String(cString: strerror(code))
}
