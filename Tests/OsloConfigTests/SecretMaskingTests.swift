import OsloConfig
import Testing

@Suite("Secrets are masked when printed")
struct SecretMaskingTests {
    @Test(arguments: [
        ("rabbit://guest:guest@127.0.0.1:5672/", "rabbit://guest:****@127.0.0.1:5672/"),
        (
            "rabbit://u1:p1@h1:5672,u2:p2@h2:5672/vhost",
            "rabbit://u1:****@h1:5672,u2:****@h2:5672/vhost"
        ),
        ("rabbit://user@host/", "rabbit://user@host/"),
        ("rabbit://", "rabbit://"),
        ("rabbit://host:5672/", "rabbit://host:5672/"),
        ("rabbit://u:p@ss:w/rd@host/", "rabbit://u:****@host/"),
        ("rabbit://u:p%40ss@host/v?ssl=1", "rabbit://u:****@host/v?ssl=1"),
        (
            "postgresql+psycopg2://mistral:s3cret@db:5432/mistral?sslmode=require",
            "postgresql+psycopg2://mistral:****@db:5432/mistral?sslmode=require"
        ),
        (
            "postgresql://db/mistral?user=m&password=s3cret&sslmode=verify-full",
            "postgresql://db/mistral?user=m&password=****&sslmode=verify-full"
        ),
        ("postgresql://db/mistral?contact=a@b.org", "postgresql://db/mistral?contact=a@b.org"),
        ("host=db user=m password=s3cret dbname=mistral", "host=db user=m password=**** dbname=mistral"),
        ("mistral:s3cret@db/mistral", "mistral:****@db/mistral"),
    ])
    func urlCredentials(url: String, masked: String) {
        #expect(SecretMasking.maskingURLCredentials(url) == masked)
    }

    @Test func displayBySecrecy() {
        #expect(SecretMasking.display("s3cret", secrecy: .whole) == "****")
        #expect(SecretMasking.display("", secrecy: .whole) == "")
        #expect(SecretMasking.display(nil, secrecy: .whole) == "<None>")
        #expect(SecretMasking.display("visible", secrecy: .none) == "visible")
        #expect(SecretMasking.display("rabbit://a:b@h/", secrecy: .urlCredentials) == "rabbit://a:****@h/")
    }

    @Test func warningsNeverCarryValues() throws {
        let text = "[mistral_actions]\npassword = s3cret\n"
        let loaded = try Configuration.load(from: ConfigFiles([try IniFile.parse(text, path: "/p.conf")]))
        #expect(loaded.warnings.count == 1)
        #expect(!loaded.warnings[0].description.contains("s3cret"))
    }
}
