import Foundation

/// A directory of its own under the system's temporary directory, removed by
/// `remove()`; tests run in parallel, so every instance has a unique name.
struct TemporaryFiles {
    let directory: String

    init() throws {
        directory = FileManager.default.temporaryDirectory
            .appendingPathComponent("oslo-config-tests-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    }

    /// Writes `contents` to `name` in the directory and returns its path.
    @discardableResult
    func write(_ contents: String, to name: String = "\(UUID().uuidString).conf") throws -> String {
        try write(Data(contents.utf8), to: name)
    }

    @discardableResult
    func write(_ data: Data, to name: String) throws -> String {
        let path = (directory as NSString).appendingPathComponent(name)
        let parent = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: parent, withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: path))
        return path
    }

    func remove() {
        try? FileManager.default.removeItem(atPath: directory)
    }
}

/// Runs `body` with a fresh temporary directory and removes it afterwards.
func withTemporaryFiles<Result>(_ body: (TemporaryFiles) throws -> Result) throws -> Result {
    let files = try TemporaryFiles()
    defer { files.remove() }
    return try body(files)
}
