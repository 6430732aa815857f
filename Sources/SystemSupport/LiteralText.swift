// Literal (Unicode scalar by scalar) text replacement, where Foundation's
// replacingOccurrences(of:with:) was used.

/// `text` with every occurrence of `target` replaced by `replacement`,
/// compared Unicode scalar by scalar (a literal search: a `"` followed by a
/// combining mark still matches `"`, as it would not Character by Character).
package func replacingLiterally(_ text: String, _ target: String, with replacement: String) -> String {
    let needle = Array(target.unicodeScalars)
    guard let first = needle.first else { return text }
    let scalars = Array(text.unicodeScalars)
    var result = String.UnicodeScalarView()
    var index = 0
    while index < scalars.count {
        if scalars[index] == first, scalars.count - index >= needle.count,
            scalars[index..<(index + needle.count)].elementsEqual(needle)
        {
            result.append(contentsOf: replacement.unicodeScalars)
            index += needle.count
        } else {
            result.append(scalars[index])
            index += 1
        }
    }
    return String(result)
}

/// How many times `target` occurs in `text`, without overlaps, compared
/// Unicode scalar by scalar.
package func countingLiterally(_ text: String, _ target: String) -> Int {
    let needle = Array(target.unicodeScalars)
    guard let first = needle.first else { return 0 }
    let scalars = Array(text.unicodeScalars)
    var count = 0
    var index = 0
    while index < scalars.count {
        if scalars[index] == first, scalars.count - index >= needle.count,
            scalars[index..<(index + needle.count)].elementsEqual(needle)
        {
            count += 1
            index += needle.count
        } else {
            index += 1
        }
    }
    return count
}
