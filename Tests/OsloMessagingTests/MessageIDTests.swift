import OsloMessaging
import Testing

@Suite struct MessageIDTests {
    @Test func uuid4HexShape() {
        var seen = Set<String>()
        for _ in 0..<1_000 {
            let id = MessageID.generate()
            #expect(MessageID.isHexIdentifier(id), "\(id)")
            let characters = Array(id)
            #expect(characters[12] == "4", "version nibble: \(id)")
            #expect("89ab".contains(characters[16]), "variant nibble: \(id)")
            seen.insert(id)
        }
        #expect(seen.count == 1_000)
    }

    /// Ids come from a shared pool of random bytes refilled 4 KiB at a
    /// time: concurrent callers across many refills never get the same one,
    /// and the bytes are not stuck (each hex digit shows up about equally).
    @Test func distinctAcrossRefillsAndThreads() async {
        let batches = await withTaskGroup(of: [String].self) { group in
            for _ in 0..<8 {
                group.addTask { (0..<2_000).map { _ in MessageID.generate() } }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let all = batches.flatMap { $0 }
        #expect(Set(all).count == 16_000)
        // Digits of the random positions (not the version/variant ones).
        var counts = [Character: Int]()
        for id in all { for (index, digit) in id.enumerated() where index != 12 && index != 16 { counts[digit, default: 0] += 1 } }
        #expect(counts.count == 16)
        let expected = Double(16_000 * 30) / 16
        #expect(counts.values.allSatisfy { Double($0) > expected * 0.9 && Double($0) < expected * 1.1 }, "\(counts)")
    }

    @Test func deterministicWithAGivenGenerator() {
        struct Zeros: RandomNumberGenerator { mutating func next() -> UInt64 { 0 } }
        var zeros = Zeros()
        #expect(MessageID.generate(using: &zeros) == "00000000000040008000000000000000")
    }

    @Test func dashedForms() {
        let uuid = MessageID.generateUUIDString()
        #expect(uuid.count == 36)
        #expect(uuid.split(separator: "-").map(\.count) == [8, 4, 4, 4, 12])
        let request = MessageID.generateRequestID()
        #expect(request.hasPrefix("req-"))
        #expect(request.count == 40)
    }

    @Test func hexIdentifierCheck() {
        #expect(MessageID.isHexIdentifier("1bdde40d41bd48e7ab54bf64e4b2b688"))
        #expect(!MessageID.isHexIdentifier("1BDDE40D41BD48E7AB54BF64E4B2B688"))
        #expect(!MessageID.isHexIdentifier("1bdde40d-41bd-48e7-ab54-bf64e4b2b688"))
        #expect(!MessageID.isHexIdentifier(""))
    }
}
