import CheckedNumbers
import OpenStackClient

/// Timestamps of the OpenStack services, and the time in created resources' names.
enum OpenStackTimestamp {
    /// Seconds since 1970-01-01T00:00:00Z of any service's timestamp
    /// (Keystone's, Nova's, Cinder's naive UTC, Trove's, with offsets), or nil.
    static func parse(_ text: String) -> Double? {
        Timestamps.parseISO8601(text)
    }

    /// `2026_11_25_10_04_05`, for names of created resources (as the original tool named them).
    static func nameSuffix(secondsSinceEpoch: Double) -> String {
        // Years 1 to 9999 (the clock's value; never trap on a broken one).
        let total = Int(Int64(truncating: secondsSinceEpoch.rounded(.down), within: -62_135_596_800...253_402_300_799) ?? 0)
        let days = total >= 0 ? total / 86_400 : (total - 86_399) / 86_400
        let secondsOfDay = total - days * 86_400
        let (year, month, day) = civilFromDays(days)
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(year)_\(two(month))_\(two(day))_\(two(secondsOfDay / 3600))_\(two(secondsOfDay / 60 % 60))_\(two(secondsOfDay % 60))"
    }

    static func civilFromDays(_ days: Int) -> (year: Int, month: Int, day: Int) {
        let shifted = days + 719_468
        let era = (shifted >= 0 ? shifted : shifted - 146_096) / 146_097
        let dayOfEra = shifted - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }
}
