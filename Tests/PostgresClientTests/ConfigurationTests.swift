import PostgresClient
import Testing

@Suite("Database URL parsing")
struct ConfigurationTests {
    @Test("postgresql:// with every part")
    func fullURL() throws {
        let configuration = try PostgresConfiguration(url: "postgresql://mistral:secret@db.example.com:6432/mistral_db")
        #expect(configuration.host == "db.example.com")
        #expect(configuration.port == 6432)
        #expect(configuration.user == "mistral")
        #expect(configuration.password == "secret")
        #expect(configuration.database == "mistral_db")
        #expect(configuration.options.isEmpty)
        #expect(configuration.notes.isEmpty)
    }

    @Test("SQLAlchemy driver suffixes and the postgres:// alias", arguments: [
        "postgresql+psycopg2://u:p@h:5433/d",
        "postgresql+psycopg://u:p@h:5433/d",
        "postgresql+pg8000://u:p@h:5433/d",
        "postgres://u:p@h:5433/d",
        "PostgreSQL://u:p@h:5433/d",
    ])
    func schemes(url: String) throws {
        let configuration = try PostgresConfiguration(url: url)
        #expect(configuration == PostgresConfiguration(host: "h", port: 5433, user: "u", password: "p", database: "d"))
    }

    @Test("driver names are noted as ignored")
    func driverNote() throws {
        let configuration = try PostgresConfiguration(url: "postgresql+psycopg2://u@h/d")
        #expect(configuration.notes.contains { $0.contains("psycopg2") })
    }

    @Test("percent-escaped user, password and database")
    func escapes() throws {
        let configuration = try PostgresConfiguration(url: "postgresql://ma%20user:p%40ss%3Aw%2Frd%25@localhost/my%2Fdb%20x")
        #expect(configuration.user == "ma user")
        #expect(configuration.password == "p@ss:w/rd%")
        #expect(configuration.database == "my/db x")
    }

    @Test("a '+' in the password stays a '+'; in query values it is a space")
    func plusSigns() throws {
        let configuration = try PostgresConfiguration(url: "postgresql://u:a+b@h/d?application_name=my+app")
        #expect(configuration.password == "a+b")
        #expect(configuration.options["application_name"] == "my app")
    }

    @Test("unescaped ':', '/' and '?' in the password, as SQLAlchemy reads them")
    func unescapedPasswordCharacters() throws {
        let configuration = try PostgresConfiguration(url: "postgresql://u:ab/c:d?e@h:5432/d")
        #expect(configuration.user == "u")
        #expect(configuration.password == "ab/c:d?e")
        #expect(configuration.host == "h")
        #expect(configuration.port == 5432)
        #expect(configuration.database == "d")
    }

    @Test("no user information, no port, no database")
    func minimal() throws {
        let configuration = try PostgresConfiguration(url: "postgresql://localhost")
        #expect(configuration == PostgresConfiguration(host: "localhost"))
        let empty = try PostgresConfiguration(url: "postgresql:///mistral")
        #expect(empty == PostgresConfiguration(database: "mistral"))
    }

    @Test("user without password")
    func userOnly() throws {
        let configuration = try PostgresConfiguration(url: "postgresql://mistral@h/d")
        #expect(configuration.user == "mistral")
        #expect(configuration.password == nil)
    }

    @Test("IPv6 host in brackets")
    func ipv6() throws {
        let configuration = try PostgresConfiguration(url: "postgresql://u:p@[::1]:5433/d")
        #expect(configuration.host == "::1")
        #expect(configuration.port == 5433)
        #expect(configuration.serverAddress == "[::1]:5433")
    }

    @Test("libpq options pass through")
    func libpqOptions() throws {
        let configuration = try PostgresConfiguration(url:
            "postgresql+psycopg2://u:p@h/d?sslmode=verify-full&sslrootcert=/etc/ssl/ca.pem&sslcert=/c.pem&sslkey=/k.pem"
                + "&connect_timeout=3&application_name=mistral-actions&target_session_attrs=read-write")
        #expect(configuration.options == [
            "sslmode": "verify-full",
            "sslrootcert": "/etc/ssl/ca.pem",
            "sslcert": "/c.pem",
            "sslkey": "/k.pem",
            "connect_timeout": "3",
            "application_name": "mistral-actions",
            "target_session_attrs": "read-write",
        ])
        #expect(configuration.notes.count == 1)  // only the driver note
    }

    @Test("host= query option for a Unix socket directory")
    func unixSocket() throws {
        let configuration = try PostgresConfiguration(url: "postgresql://mistral@/mistral?host=/var/run/postgresql")
        #expect(configuration.host == "/var/run/postgresql")
        #expect(configuration.user == "mistral")
        #expect(configuration.database == "mistral")
        #expect(configuration.serverAddress.contains("/var/run/postgresql"))
        #expect(configuration.description == "postgresql://mistral@/mistral?host=/var/run/postgresql")

        let escaped = try PostgresConfiguration(url: "postgresql://%2Fvar%2Frun%2Fpostgresql:5433/mistral")
        #expect(escaped.host == "/var/run/postgresql")
        #expect(escaped.port == 5433)
    }

    @Test("port, user, password and dbname options fill the fields")
    func fieldOptions() throws {
        let configuration = try PostgresConfiguration(url: "postgresql:///?port=6543&user=a%20b&password=x%26y&dbname=z")
        #expect(configuration == PostgresConfiguration(port: 6543, user: "a b", password: "x&y", database: "z"))
    }

    @Test("SQLAlchemy-only options are dropped with a note; client_encoding is noted")
    func droppedOptions() throws {
        let configuration = try PostgresConfiguration(url:
            "postgresql://u:p@h/d?charset=utf8&client_encoding=latin1&use_native_unicode=0&frobnicate=1&sslmode=require")
        #expect(configuration.options == ["sslmode": "require"])
        #expect(configuration.notes.count == 4)
        #expect(configuration.notes.contains { $0.contains("charset") })
        #expect(configuration.notes.contains { $0.contains("client_encoding=latin1") })
        #expect(configuration.notes.contains { $0.contains("use_native_unicode") })
        #expect(configuration.notes.contains { $0.contains("frobnicate") })

        let utf8 = try PostgresConfiguration(url: "postgresql://u:p@h/d?client_encoding=utf8")
        #expect(utf8.notes.isEmpty)
        #expect(utf8.options.isEmpty)
    }

    @Test("non-PostgreSQL schemes are rejected", arguments: [
        "mysql+pymysql://mistral:secret@db/mistral",
        "mysql://mistral:secret@db/mistral",
        "sqlite:///var/lib/mistral/mistral.db",
        "sqlite://",
        "oracle://mistral:secret@db/x",
    ])
    func rejectedSchemes(url: String) throws {
        let error = try #require(throws: PostgresError.self) { try PostgresConfiguration(url: url) }
        #expect(error.code == .invalidURL)
        #expect(error.message.contains("unsupported database URL scheme"))
        #expect(error.message.contains("postgresql://"))
        #expect(!error.description.contains("secret"))
    }

    @Test("malformed URLs", arguments: [
        "localhost:5432/mistral",
        "postgresql://u:p@h:port/d",
        "postgresql://u:p@h:70000/d",
        "postgresql://u:p%zz@h/d",
        "postgresql://u:p@[::1/d",
        "postgresql://u:p@h/d?host=a&host=b",
    ])
    func malformed(url: String) throws {
        let error = try #require(throws: PostgresError.self) { try PostgresConfiguration(url: url) }
        #expect(error.code == .invalidURL)
    }

    @Test("errors about a URL never show its password")
    func invalidURLRedactsPassword() throws {
        let error = try #require(throws: PostgresError.self) {
            try PostgresConfiguration(url: "postgresql://mistral:TopSecret99@db:notaport/mistral")
        }
        #expect(error.description.contains("notaport"))
        #expect(error.description.contains("mistral:***@"))
        #expect(!error.description.contains("TopSecret99"))

        let queryPassword = try #require(throws: PostgresError.self) {
            try PostgresConfiguration(url: "postgresql://db:99999/mistral?password=TopSecret99")
        }
        #expect(!queryPassword.description.contains("TopSecret99"))
    }

    @Test("redaction of passwords in URL text")
    func redaction() {
        #expect(PostgresConfiguration.redactingPassword(in: "postgresql://u:s3cr@t@h/d") == "postgresql://u:***@h/d")
        #expect(PostgresConfiguration.redactingPassword(in: "postgresql://u@h/d") == "postgresql://u@h/d")
        #expect(PostgresConfiguration.redactingPassword(in: "postgresql://h/d?password=x&sslmode=require")
            == "postgresql://h/d?password=***&sslmode=require")
    }

    @Test("description shows the URL with the password masked")
    func description() throws {
        let configuration = try PostgresConfiguration(url: "postgresql://ma%20user:TopSecret@h:5432/d?sslmode=require")
        #expect(configuration.description == "postgresql://ma%20user:***@h:5432/d?sslmode=require")
        #expect("\(configuration)".contains("TopSecret") == false)
    }
}
