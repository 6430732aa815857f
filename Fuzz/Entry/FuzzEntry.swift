import FuzzTargets

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a line to standard error (the C `stderr` global is not
/// concurrency-safe to name from Swift 6).
func printError(_ line: String) {
    var text = line + "\n"
    text.withUTF8 { bytes in _ = write(2, bytes.baseAddress, bytes.count) }
}

#if FUZZING
import FuzzDriverShim

/// The target this process fuzzes, from `MA_FUZZ_TARGET` (libFuzzer owns
/// the command line).
let selectedTarget: FuzzTarget = {
    let name = getenv("MA_FUZZ_TARGET").map { String(cString: $0) } ?? ""
    guard let target = FuzzTarget(rawValue: name) else {
        let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: ", ")
        printError("set MA_FUZZ_TARGET to one of: \(names)")
        exit(2)
    }
    return target
}()

/// libFuzzer's entry point: one input, synchronously. A trap anywhere below
/// is a finding; thrown errors are ordinary outcomes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ bytes: UnsafePointer<UInt8>?, _ count: Int) -> CInt {
    let data = bytes.map { Array(UnsafeBufferPointer(start: $0, count: count)) } ?? []
    _ = selectedTarget.runBlocking(data)
    return 0
}

/// SwiftPM gives every executable a main of its own, so libFuzzer's main
/// cannot be linked: this one hands the command line to libFuzzer's driver
/// (the binary links libclang_rt.fuzzer_no_main; see scripts/fuzz.sh).
@main
struct FuzzMain {
    static func main() {
        _ = selectedTarget
        var argc = CommandLine.argc
        var argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = CommandLine.unsafeArgv
        exit(LLVMFuzzerRunDriver(&argc, &argv) { bytes, count in fuzzOneInput(bytes, count) })
    }
}

#else

/// Without the fuzzer: replays files through a target and prints each
/// outcome, e.g. `mistral-actions-fuzz action-input Fuzz/corpus/action-input/*`.
@main
struct FuzzReplay {
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        guard let name = arguments.first, let target = FuzzTarget(rawValue: name) else {
            let names = FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")
            printError("usage: mistral-actions-fuzz <\(names)> FILE...")
            exit(2)
        }
        for path in arguments.dropFirst() {
            guard let data = readFile(path) else {
                printError("\(path): cannot read")
                exit(1)
            }
            print("\(path): \(await target.run(data))")
        }
    }

    static func readFile(_ path: String) -> [UInt8]? {
        guard let file = fopen(path, "rb") else { return nil }
        defer { fclose(file) }
        var data: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let count = fread(&buffer, 1, buffer.count, file)
            if count > 0 { data.append(contentsOf: buffer[0..<count]) }
            if count < buffer.count { break }
        }
        return ferror(file) == 0 ? data : nil
    }
}

#endif
