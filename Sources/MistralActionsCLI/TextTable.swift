/// A plain-text table with a ruled header, as the CLI prints:
///
///     +------+--------+
///     | Name | Result |
///     +------+--------+
///     | a    | created|
///     +------+--------+
struct TextTable {
    var headers: [String]
    var rows: [[String]]

    func render() -> String {
        var widths = headers.map(\.count)
        for row in rows {
            for (index, cell) in row.enumerated() where index < widths.count {
                widths[index] = max(widths[index], cell.count)
            }
        }
        let rule = "+" + widths.map { String(repeating: "-", count: $0 + 2) }.joined(separator: "+") + "+"
        func line(_ cells: [String]) -> String {
            "|" + widths.indices.map { index in
                let cell = index < cells.count ? cells[index] : ""
                return " " + cell + String(repeating: " ", count: widths[index] - cell.count) + " "
            }.joined(separator: "|") + "|"
        }
        var lines = [rule, line(headers), rule]
        lines += rows.map(line)
        lines.append(rule)
        return lines.joined(separator: "\n")
    }
}
