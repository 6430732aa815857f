#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A short reason for a file-system error ("No such file or directory"):
/// the system's message for the underlying errno when there is one, the
/// error's own description otherwise.
func fileErrorDescription(_ error: any Error) -> String {
    if let posix = error as? POSIXError {
        return String(cString: strerror(posix.code.rawValue))
    }
    if let cocoa = error as? CocoaError, let posix = cocoa.userInfo["NSUnderlyingError"] as? POSIXError {
        return String(cString: strerror(posix.code.rawValue))
    }
    return String(describing: error)
}
