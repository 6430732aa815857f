import Foundation
import OsloConfig
import Testing

@Suite("Bad files give precise messages")
struct BadFileTests {
    @Test(arguments: [
        (
            "[DEFAULT]\nfoo\n",
            #"/etc/mistral/mistral.conf:2: expected 'key = value' or '[section]', found "foo""#
        ),
        (
            "# comment\ntransport_url = rabbit://h/\n[DEFAULT]\n",
            #"/etc/mistral/mistral.conf:2: "transport_url = rabbit://h/" comes before any [section] header; "#
                + "start the file with a section such as [DEFAULT]"
        ),
        (
            "[DEFAULT]\nkey = 1\n[database\n",
            #"/etc/mistral/mistral.conf:3: section header "[database" must end with ']'"#
        ),
        (
            "[DEFAULT] # the default section\n",
            #"/etc/mistral/mistral.conf:1: section header "[DEFAULT] # the default section" must end with ']'; "#
                + "comments go on a line of their own"
        ),
        (
            "[]\n",
            #"/etc/mistral/mistral.conf:1: empty section name "[]""#
        ),
        (
            "[DEFAULT]\n= value\n",
            #"/etc/mistral/mistral.conf:2: empty key in "= value""#
        ),
        (
            "[DEFAULT]\n\n: value\n",
            #"/etc/mistral/mistral.conf:3: empty key in ": value""#
        ),
        (
            "  indented = first\n",
            #"/etc/mistral/mistral.conf:1: indented line "  indented = first" does not continue a 'key = value' line; "#
                + "remove the indentation (continuation lines must directly follow their key)"
        ),
        (
            "[DEFAULT]\n    # an indented comment right after a header\n",
            #"/etc/mistral/mistral.conf:2: indented line "    # an indented comment right after a header" "#
                + "does not continue a 'key = value' line; "
                + "remove the indentation (continuation lines must directly follow their key)"
        ),
        (
            "[DEFAULT]\nkey = a\n\n  b\n",
            #"/etc/mistral/mistral.conf:4: indented line "  b" does not continue a 'key = value' line; "#
                + "remove the indentation (continuation lines must directly follow their key)"
        ),
    ])
    func syntaxErrorsNameFileLineAndProblem(text: String, message: String) {
        let error = #expect(throws: ConfigError.self) {
            try IniFile.parse(text, path: "/etc/mistral/mistral.conf")
        }
        #expect(error?.code == .syntax)
        #expect(error?.file == "/etc/mistral/mistral.conf")
        #expect(error?.description == message)
    }

    @Test func aSyntaxErrorInAFileOnDiskNamesThatFile() throws {
        try withTemporaryFiles { temporary in
            let good = try temporary.write("[DEFAULT]\ncontrol_exchange = openstack\n", to: "good.conf")
            let bad = try temporary.write("[DEFAULT]\n\n\nnot an assignment\n", to: "bad.conf")
            let error = #expect(throws: ConfigError.self) {
                try Configuration.load(files: [good, bad])
            }
            #expect(error?.description == "\(bad):4: expected 'key = value' or '[section]', found \"not an assignment\"")
            #expect(error?.line == 4)
        }
    }

    @Test func missingFile() throws {
        try withTemporaryFiles { temporary in
            let path = temporary.directory + "/absent.conf"
            let error = #expect(throws: ConfigError.self) {
                try Configuration.load(files: [path])
            }
            #expect(error?.code == .unreadableFile)
            #expect(error?.description == "\(path): cannot read configuration file: no such file")
        }
    }

    @Test func aDirectoryGivenAsAFile() throws {
        try withTemporaryFiles { temporary in
            let error = #expect(throws: ConfigError.self) {
                try IniFile.read(path: temporary.directory)
            }
            #expect(
                error?.description
                    == "\(temporary.directory): cannot read configuration file: "
                    + "it is a directory (pass directories as configuration directories)")
        }
    }

    @Test func missingConfigurationDirectory() throws {
        try withTemporaryFiles { temporary in
            let path = temporary.directory + "/conf.d"
            let error = #expect(throws: ConfigError.self) {
                try Configuration.load(files: [], directories: [path])
            }
            #expect(error?.description == "\(path): configuration directory not found")
        }
    }

    @Test func notUTF8() throws {
        try withTemporaryFiles { temporary in
            let path = try temporary.write(Data([0x5B, 0x73, 0x5D, 0x0A, 0x6B, 0x3D, 0xFF, 0xFE]), to: "latin.conf")
            let error = #expect(throws: ConfigError.self) {
                try IniFile.read(path: path)
            }
            #expect(error?.description == "\(path): cannot read configuration file: it is not UTF-8 text")
        }
    }
}
