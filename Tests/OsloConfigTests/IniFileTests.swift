import Foundation
import OsloConfig
import Testing

@Suite("INI reading with oslo.config's semantics")
struct IniFileTests {
    private func parse(_ text: String) throws -> IniFile {
        try IniFile.parse(text, path: "/etc/test.conf")
    }

    private func values(_ file: IniFile) -> [String] {
        file.entries.map { "[\($0.section)] \($0.key)=\($0.value)" }
    }

    @Test func sectionsKeysAndLineNumbers() throws {
        let file = try parse(
            """
            [DEFAULT]
            transport_url = rabbit://h/

            [database]
            connection = postgresql://db/mistral
            """)
        #expect(
            values(file) == [
                "[DEFAULT] transport_url=rabbit://h/",
                "[database] connection=postgresql://db/mistral",
            ])
        #expect(file.entries.map(\.location.line) == [2, 5])
        #expect(file.entries.map(\.location.path) == ["/etc/test.conf", "/etc/test.conf"])
        #expect(file.sectionHeaders.map(\.name) == ["DEFAULT", "database"])
    }

    @Test func bothSeparatorsAndTheFirstOneWins() throws {
        let file = try parse(
            """
            [s]
            equals = a
            colon: b
            url = rabbit://u:p@h:5672/
            listen: 127.0.0.1:9469
            tight=x=y
            spaced   =   padded value   \t
            empty =
            """)
        #expect(
            values(file) == [
                "[s] equals=a", "[s] colon=b", "[s] url=rabbit://u:p@h:5672/",
                "[s] listen=127.0.0.1:9469", "[s] tight=x=y", "[s] spaced=padded value", "[s] empty=",
            ])
    }

    @Test func commentsAndBlankLines() throws {
        let file = try parse(
            """
            # a comment
            ; another comment
            [s]

            #commented = out
            password = a#b ; not a comment
            hash = #starts with a hash
            """)
        #expect(values(file) == ["[s] password=a#b ; not a comment", "[s] hash=#starts with a hash"])
    }

    @Test func multiLineValuesJoinWithNewlines() throws {
        let file = try parse(
            "[s]\n"
                + "commands = ls,\n"
                + "    cat ,\n"
                + "\tgrep\n"
                + "next = 1\n"
                + "empty_first =\n"
                + "  a\n"
                + "  # an indented hash continues the value, as in oslo\n"
                + "\n"
                + "after_blank = 2\n")
        #expect(
            values(file) == [
                "[s] commands=ls,\ncat ,\ngrep",
                "[s] next=1",
                "[s] empty_first=\na\n# an indented hash continues the value, as in oslo",
                "[s] after_blank=2",
            ])
        #expect(file.entries.map(\.location.line) == [2, 5, 6, 10])
    }

    @Test(arguments: [
        ("\"quoted\"", "quoted"),
        ("'single'", "single"),
        ("\"  spaces kept inside  \"", "  spaces kept inside  "),
        ("\"mismatched'", "\"mismatched'"),
        ("\"only at start", "\"only at start"),
        ("say \"hi\"", "say \"hi\""),
        ("\"a\" and \"b\"", "a\" and \"b"),
        ("\"", ""),
        ("\"\"", ""),
    ])
    func quotesAreRemovedAsOsloDoes(written: String, read: String) throws {
        let file = try parse("[s]\nkey = \(written)\n")
        #expect(file.entries.first?.value == read)
    }

    @Test func repeatedKeysKeepEveryOccurrenceAndTheLastWins() throws {
        let file = try parse(
            """
            [s]
            key = first
            key = second
            [other]
            key = elsewhere
            [s]
            key = third
            """)
        let stack = ConfigFiles([file])
        #expect(stack.value(section: "s", key: "key")?.value == "third")
        #expect(stack.value(section: "s", key: "key")?.location.line == 7)
        #expect(stack.occurrences(section: "s", key: "key").map(\.value) == ["first", "second", "third"])
        #expect(stack.value(section: "other", key: "key")?.value == "elsewhere")
    }

    @Test func defaultIsNotInheritedByOtherSections() throws {
        let stack = ConfigFiles([try parse("[DEFAULT]\nhost = a\n[executor]\ntopic = t\n")])
        #expect(stack.value(section: "DEFAULT", key: "host")?.value == "a")
        #expect(stack.value(section: "executor", key: "host") == nil)
    }

    @Test func sectionNamesMatchAsInOslo() throws {
        let stack = ConfigFiles([try parse("[Database]\nconnection = x\n[default]\ntransport_url = y\n")])
        // Other sections are matched case-insensitively...
        #expect(stack.value(section: "database", key: "connection")?.value == "x")
        // ...but DEFAULT only literally; keys are case-sensitive.
        #expect(stack.value(section: "DEFAULT", key: "transport_url") == nil)
        #expect(stack.value(section: "database", key: "Connection") == nil)
    }

    @Test func windowsAndOldMacLineEnds() throws {
        let file = try parse("[s]\r\na = 1\r\nb = 2\rc = 3\r\n")
        #expect(values(file) == ["[s] a=1", "[s] b=2", "[s] c=3"])
        #expect(file.entries.map(\.location.line) == [2, 3, 4])
    }

    @Test func laterFilesOverrideKeyByKey() throws {
        try withTemporaryFiles { temporary in
            let first = try temporary.write(
                """
                [DEFAULT]
                control_exchange = first
                rpc_response_timeout = 10
                [executor]
                topic = first_topic
                """)
            let second = try temporary.write(
                """
                [DEFAULT]
                control_exchange = second
                """)
            let stack = try ConfigFiles.read([.file(first), .file(second)])
            #expect(stack.files.map(\.path) == [first, second])
            #expect(stack.value(section: "DEFAULT", key: "control_exchange")?.value == "second")
            #expect(stack.value(section: "DEFAULT", key: "control_exchange")?.location.path == second)
            #expect(stack.value(section: "DEFAULT", key: "rpc_response_timeout")?.value == "10")
            #expect(stack.value(section: "executor", key: "topic")?.location == ConfigLocation(path: first, line: 5))
            #expect(
                stack.occurrences(section: "DEFAULT", key: "control_exchange").map(\.value) == ["first", "second"])
        }
    }

    @Test func configurationDirectoriesReadConfFilesInSortedOrder() throws {
        try withTemporaryFiles { temporary in
            try temporary.write("[s]\nkey = b\n", to: "conf.d/20-b.conf")
            try temporary.write("[s]\nkey = a\nonly_a = yes\n", to: "conf.d/10-a.conf")
            try temporary.write("[s]\nkey = ignored\n", to: "conf.d/30-c.conf.disabled")
            try temporary.write("[s]\nkey = hidden\n", to: "conf.d/.99-hidden.conf")
            let main = try temporary.write("[s]\nkey = main\nonly_main = yes\n", to: "main.conf")
            let directory = temporary.directory + "/conf.d"

            let stack = try ConfigFiles.read([.file(main), .directory(directory)])
            #expect(stack.files.map(\.path) == [main, directory + "/10-a.conf", directory + "/20-b.conf"])
            #expect(stack.value(section: "s", key: "key")?.value == "b")
            #expect(stack.value(section: "s", key: "only_a")?.value == "yes")
            #expect(stack.value(section: "s", key: "only_main")?.value == "yes")
        }
    }

    @Test func byteOrderMarkIsSkipped() throws {
        try withTemporaryFiles { temporary in
            let path = try temporary.write(Data([0xEF, 0xBB, 0xBF]) + Data("[s]\nkey = v\n".utf8), to: "bom.conf")
            #expect(try IniFile.read(path: path).entries.first?.value == "v")
        }
    }
}
