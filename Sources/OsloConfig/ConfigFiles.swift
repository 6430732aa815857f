#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Where configuration comes from, in the order oslo processes
/// `--config-file` and `--config-dir` arguments.
public enum ConfigSource: Sendable, Hashable {
    /// One file; it must exist.
    case file(String)
    /// Every `*.conf` file directly in the directory, in sorted order (as
    /// oslo's `--config-dir`); the directory must exist, it may be empty.
    case directory(String)
}

/// The name of an option: its section and its key.
public struct OptionName: Sendable, Hashable, CustomStringConvertible {
    public var section: String
    public var name: String

    public init(section: String, name: String) {
        self.section = section
        self.name = name
    }

    /// `[section] name`.
    public var description: String { "[\(section)] \(name)" }
}

/// Configuration files stacked in load order: a later file overrides an
/// earlier one key by key, and inside one file the last occurrence of a key
/// wins.
///
/// Section names are matched as oslo matches them: `DEFAULT` only literally,
/// every other section case-insensitively (`[Database]` is `[database]`;
/// `[default]` is a section of its own). Keys are matched exactly.
public struct ConfigFiles: Sendable {
    /// The parsed files, earliest first.
    public private(set) var files: [IniFile]
    /// Per file: entries by normalized section and key, in file order.
    private var indexes: [[OptionName: [IniEntry]]]

    public init(_ files: [IniFile] = []) {
        self.files = []
        self.indexes = []
        for file in files { append(file) }
    }

    /// Reads every source in order; directories expand to their `*.conf` files.
    public static func read(_ sources: [ConfigSource]) throws(ConfigError) -> ConfigFiles {
        var result = ConfigFiles()
        for source in sources {
            switch source {
            case .file(let path):
                result.append(try IniFile.read(path: path))
            case .directory(let path):
                for file in try configurationFiles(inDirectory: path) {
                    result.append(try IniFile.read(path: file))
                }
            }
        }
        return result
    }

    /// The `*.conf` files directly in `path`, sorted by code point as Python's
    /// `sorted(glob(...))`; names starting with a dot are skipped, as glob does.
    public static func configurationFiles(inDirectory path: String) throws(ConfigError) -> [String] {
        var isDirectory = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory else {
            throw ConfigError(
                code: .unreadableFile, message: "configuration directory not found", file: path)
        }
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: path)
        } catch {
            throw ConfigError(
                code: .unreadableFile,
                message: "cannot list configuration directory: \(fileErrorDescription(error))", file: path)
        }
        let directory = path.hasSuffix("/") ? path : path + "/"
        return names
            .filter { $0.hasSuffix(".conf") && !$0.hasPrefix(".") }
            .sorted { $0.unicodeScalars.lexicographicallyPrecedes($1.unicodeScalars) }
            .map { directory + $0 }
    }

    /// Adds a file on top of the stack (it overrides every earlier file).
    public mutating func append(_ file: IniFile) {
        var index: [OptionName: [IniEntry]] = [:]
        for entry in file.entries {
            index[Self.normalized(section: entry.section, name: entry.key), default: []].append(entry)
        }
        files.append(file)
        indexes.append(index)
    }

    /// The value oslo would use for a single-valued option: the last
    /// occurrence in the latest file that sets it.
    public func value(section: String, key: String) -> IniEntry? {
        find([OptionName(section: section, name: key)])?.entry
    }

    /// Every occurrence in every file, earliest first: what a multi-valued
    /// option collects.
    public func occurrences(section: String, key: String) -> [IniEntry] {
        let name = Self.normalized(section: section, name: key)
        return indexes.flatMap { $0[name] ?? [] }
    }

    /// Looks up an option that may also be spelled by deprecated names:
    /// files are searched latest first and, inside one file, the names in the
    /// given order (the current name before deprecated ones), as oslo does.
    func find(_ names: [OptionName]) -> (entry: IniEntry, matched: OptionName)? {
        for index in indexes.reversed() {
            for name in names {
                if let entry = index[Self.normalized(section: name.section, name: name.name)]?.last {
                    return (entry, name)
                }
            }
        }
        return nil
    }

    /// oslo's `_normalize_group_name`: DEFAULT stays, others are lowercased.
    static func normalized(section: String) -> String {
        section == "DEFAULT" ? section : section.lowercased()
    }

    static func normalized(section: String, name: String) -> OptionName {
        OptionName(section: normalized(section: section), name: name)
    }
}
