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
