//! Every rule: a true positive, look-alikes that must not match, and its entropy bar.
//! Secret-shaped strings are built at run time (a seeded generator, concatenation), so
//! this file itself holds none: the scanner runs on its own tree.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use proptest::prelude::*;
use secrecy::SecretString;

use super::*;

const LOWER_DIGITS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const URLSAFE: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
const BASE32: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const DIGITS: &[u8] = b"0123456789";
const HEX: &[u8] = b"0123456789abcdef";

/// A deterministic generator (xorshift64*), so failures reproduce.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn string(&mut self, alphabet: &[u8], len: usize) -> String {
        (0..len)
            .map(|_| alphabet[(self.next() % alphabet.len() as u64) as usize] as char)
            .collect()
    }
    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// The built-in rules without configured secrets, compiled once.
fn builtin() -> &'static Scanner<'static> {
    static NONE: std::sync::OnceLock<ConfiguredSecrets> = std::sync::OnceLock::new();
    static SCANNER: std::sync::OnceLock<Scanner<'static>> = std::sync::OnceLock::new();
    SCANNER.get_or_init(|| {
        Scanner::new(
            Rules::builtin().unwrap(),
            NONE.get_or_init(ConfiguredSecrets::new),
        )
        .unwrap()
    })
}

fn kinds(s: &Scanner<'_>, text: &str) -> Vec<String> {
    s.scan(text.as_bytes())
        .into_iter()
        .map(|f| f.kind)
        .collect()
}

/// One rule's cases: text that must give exactly one finding of the rule, and texts
/// that must give none.
struct Case {
    rule: &'static str,
    hit: String,
    misses: Vec<String>,
}

fn jwt_part(json: &str) -> String {
    URL_SAFE_NO_PAD.encode(json)
}

fn cases() -> Vec<Case> {
    let mut g = Gen(0x5eed_1234_abcd_0001);
    let mut c = Vec::new();
    let key_id = g.string(LOWER_DIGITS, 12);
    c.push(Case {
        rule: "switchboard-api-key",
        hit: format!(
            "Authorization: Bearer sb_{key_id}_{}\n",
            g.string(ALNUM, 40)
        ),
        misses: vec![
            format!("sb_{key_id}_{}", "x".repeat(40)),
            format!("sb_{key_id}_{}", g.string(ALNUM, 39)),
            format!("sb_{key_id}_{}", g.string(ALNUM, 41)),
            format!("sb_{key_id}_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"),
            format!("sb_{}_{}", g.string(ALNUM, 12), g.string(ALNUM, 40)).replace('a', "A"),
        ],
    });
    let master = STANDARD.encode(g.bytes(32));
    c.push(Case {
        rule: "switchboard-master-key",
        hit: format!("listen = \"0.0.0.0:8080\"\nmaster_key = \"{master}\"\n"),
        misses: vec![
            "master_key = \"env:SWITCHBOARD_MASTER_KEY\"".into(),
            "master_key = \"file:/run/secrets/master.key\"".into(),
            format!("master_key = \"{}=\"", "A".repeat(43)),
            // 33 bytes are not a master key.
            format!("master_key = \"{}\"", STANDARD.encode(g.bytes(33))),
        ],
    });
    c.push(Case {
        rule: "switchboard-master-key",
        hit: format!(
            "export SWITCHBOARD_MASTER_KEY={}\n",
            STANDARD.encode(g.bytes(32))
        ),
        misses: vec![],
    });
    c.push(Case {
        rule: "switchboard-master-key-file",
        hit: format!("{}\n", STANDARD.encode(g.bytes(32))),
        misses: vec![
            format!("key: {}\n", STANDARD.encode(g.bytes(32))),
            format!("{}\n", STANDARD.encode(g.bytes(31))),
            format!("{}=\n", "Q".repeat(43)),
        ],
    });
    for (rule, prefix) in [
        ("github-pat", "ghp_"),
        ("github-oauth-token", "gho_"),
        ("github-user-to-server-token", "ghu_"),
        ("github-server-to-server-token", "ghs_"),
        ("github-refresh-token", "ghr_"),
    ] {
        c.push(Case {
            rule,
            hit: format!("token: {prefix}{}\n", g.string(ALNUM, 36)),
            misses: vec![
                format!("{prefix}{}", "x".repeat(36)),
                format!("{prefix}{}", g.string(ALNUM, 35)),
                format!("{prefix}_{}", g.string(ALNUM, 36)),
                format!("my{prefix}{}", g.string(ALNUM, 36)),
            ],
        });
    }
    c.push(Case {
        rule: "github-fine-grained-pat",
        hit: format!(
            "GH_TOKEN=github_pat_{}_{}\n",
            g.string(ALNUM, 22),
            g.string(ALNUM, 59)
        ),
        misses: vec![
            format!("github_pat_{}", g.string(ALNUM, 40)),
            format!("github_pat_{}_{}", "a".repeat(22), "b".repeat(59)),
        ],
    });
    c.push(Case {
        rule: "slack-token",
        hit: format!(
            "SLACK_BOT_TOKEN=xoxb-{}-{}-{}\n",
            g.string(DIGITS, 11),
            g.string(DIGITS, 12),
            g.string(ALNUM, 24)
        ),
        misses: vec![
            "\"access_token\": \"xoxb-1\"".into(),
            format!("xoxb-123-456-{}", "x".repeat(24)),
            "xoxp-your-token-here".into(),
        ],
    });
    c.push(Case {
        rule: "slack-token",
        hit: format!(
            "xoxp-{}-{}-{}-{}",
            g.string(DIGITS, 10),
            g.string(DIGITS, 10),
            g.string(DIGITS, 12),
            g.string(HEX, 32)
        ),
        misses: vec![],
    });
    c.push(Case {
        rule: "slack-app-token",
        hit: format!(
            "xapp-1-A{}-{}-{}",
            g.string(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 10),
            g.string(DIGITS, 13),
            g.string(HEX, 64)
        ),
        misses: vec![
            format!("xapp-1-A0-123-{}", "0".repeat(64)),
            "xapp-token".into(),
        ],
    });
    c.push(Case {
        rule: "stripe-secret-key",
        hit: format!("STRIPE_KEY=sk_live_{}\n", g.string(ALNUM, 24)),
        misses: vec![
            "sk_test_your_key_here".into(),
            format!("sk_test_{}", "x".repeat(24)),
            format!("sk_live_TOPSECRET_{}", g.string(ALNUM, 20)),
        ],
    });
    c.push(Case {
        rule: "stripe-secret-key",
        hit: format!("sk_test_{}", g.string(ALNUM, 99)),
        misses: vec![],
    });
    c.push(Case {
        rule: "stripe-restricted-key",
        hit: format!("key = \"rk_live_{}\"", g.string(ALNUM, 24)),
        misses: vec![format!("rk_live_{}", "0".repeat(30)), "rk_test_…".into()],
    });
    let published = ["MfKQ9r8GKYqrTwjUPD8I", "LPZIo2LaLaSw"].concat();
    c.push(Case {
        rule: "webhook-signing-secret",
        hit: format!("secret = \"whsec_{}\"", STANDARD.encode(g.bytes(32))),
        misses: vec![
            format!("whsec_{published}"),
            ["whsec_5pYfD0dE", "xampleStripeSecret00"].concat(),
            "whsec_…".into(),
            format!("whsec_{}", "A".repeat(32)),
            format!("whsec_{}", STANDARD.encode((1u8..=24).collect::<Vec<_>>())),
            format!(
                "whsec_{}",
                STANDARD.encode((101u8..=132).collect::<Vec<_>>())
            ),
        ],
    });
    c.push(Case {
        rule: "webhook-signing-secret",
        hit: format!("whsec_{}", g.string(ALNUM, 32)),
        misses: vec![],
    });
    c.push(Case {
        rule: "webhook-signing-key",
        hit: format!("signing_key = \"whsk_{}\"", STANDARD.encode(g.bytes(32))),
        misses: vec![
            format!("whsk_{}", STANDARD.encode([7u8; 32])),
            format!(
                "whsk_{}",
                STANDARD.encode(b"secret-value-that-is-too-short")
            ),
            ["whsk_nWGxne/9WmC6hEr0kuwsx", "ERJxWl7MmkZcDusAxyuf2A="].concat(),
            "whsk_…".into(),
        ],
    });
    c.push(Case {
        rule: "google-api-key",
        hit: format!("\"key\": \"AIza{}\"", g.string(URLSAFE, 35)),
        misses: vec![
            format!("AIza{}", "x".repeat(35)),
            format!("AIza{}", g.string(URLSAFE, 30)),
        ],
    });
    c.push(Case {
        rule: "google-oauth-access-token",
        hit: format!("Bearer ya29.{}", g.string(URLSAFE, 120)),
        misses: vec![
            "ya29.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx".into(),
            "ya29.…".into(),
        ],
    });
    c.push(Case {
        rule: "aws-access-key-id",
        hit: format!("aws_access_key_id = AKIA{}\n", g.string(BASE32, 16)),
        misses: vec![
            ["AKIAIOSFOD", "NN7EXAMPLE"].concat(),
            format!("AKIA{}", "A".repeat(16)),
            format!("AKIA{}", g.string(BASE32, 15)),
            format!("XAKIA{}", g.string(BASE32, 16)),
        ],
    });
    c.push(Case {
        rule: "aws-access-key-id",
        hit: format!("ASIA{}", g.string(BASE32, 16)),
        misses: vec![],
    });
    c.push(Case {
        rule: "aws-secret-access-key",
        hit: format!(
            "aws_secret_access_key = {}\n",
            g.string(
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                40
            )
        ),
        misses: vec![
            [
                "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG/",
                "bPxRfiCYEXAMPLEKEY",
            ]
            .concat(),
            format!("aws_secret_access_key = {}", "a".repeat(40)),
            "aws_secret_access_key = env:AWS_SECRET".into(),
        ],
    });
    let body: String = STANDARD.encode(g.bytes(144));
    let pem_lines = body
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>();
    let begin = ["-----BEGIN ", "RSA PRIVATE KEY-----"].concat();
    c.push(Case {
        rule: "private-key",
        hit: format!(
            "{begin}\n{}\n-----END RSA PRIVATE KEY-----\n",
            pem_lines.join("\n")
        ),
        misses: vec![
            format!("{begin}\n...\n-----END RSA PRIVATE KEY-----"),
            ["-----BEGIN ", "PRIVATE KEY-----"].concat(),
            format!("{begin}\n{}\n", "A".repeat(64)),
            ["-----BEGIN ", "PUBLIC KEY-----\n", pem_lines[0]].concat(),
        ],
    });
    c.push(Case {
        rule: "private-key",
        // In a JSON string, with escaped newlines.
        hit: format!(
            "{{\"private_key\": \"{}\\n{}\\n-----END PRIVATE KEY-----\\n\"}}",
            ["-----BEGIN ", "PRIVATE KEY-----"].concat(),
            pem_lines.join("\\n")
        ),
        misses: vec![],
    });
    c.push(Case {
        rule: "private-key",
        hit: format!(
            "{}\n\n{}\n",
            ["-----BEGIN ", "OPENSSH PRIVATE KEY-----"].concat(),
            pem_lines[1]
        ),
        misses: vec![],
    });
    let header = jwt_part(r#"{"alg":"RS256","typ":"JWT","kid":"k1"}"#);
    let claims = jwt_part(r#"{"sub":"u42","iat":1700000000,"exp":1700003600}"#);
    let sig = URL_SAFE_NO_PAD.encode(g.bytes(64));
    c.push(Case {
        rule: "jwt",
        hit: format!("Authorization: Bearer {header}.{claims}.{sig}\n"),
        misses: vec![
            // No `alg` in the header.
            format!("{}.{claims}.{sig}", jwt_part(r#"{"typ":"JWT","x":1}"#)),
            // Not JSON.
            format!("eyJ{}.{claims}.{sig}", g.string(ALNUM, 30)),
            // Two parts only.
            format!("{header}.{claims}"),
            // jwt.io's example.
            [
                "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.",
                "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",
            ]
            .concat(),
        ],
    });
    c
}

#[test]
fn builtin_rules_parse_and_each_says_its_source() {
    let rules = Rules::builtin().unwrap();
    assert!(rules.len() >= 20, "{}", rules.len());
    for r in rules.iter() {
        assert!(
            !r.source.is_empty() && !r.description.is_empty(),
            "{}",
            r.id
        );
    }
}

#[test]
fn every_rule_has_cases() {
    let cases = cases();
    for r in Rules::builtin().unwrap().iter() {
        assert!(
            cases.iter().any(|c| c.rule == r.id),
            "rule {} has no test case",
            r.id
        );
    }
}

#[test]
fn every_rule_finds_its_true_positive_once() {
    let s = builtin();
    for c in cases() {
        assert_eq!(kinds(s, &c.hit), vec![c.rule.to_owned()], "{}", c.rule);
    }
}

#[test]
fn look_alikes_are_not_findings() {
    let s = builtin();
    for c in cases() {
        for m in &c.misses {
            assert_eq!(kinds(s, m), Vec::<String>::new(), "{}: {m:?}", c.rule);
        }
    }
}

#[test]
fn each_rule_has_an_entropy_bar_against_repeated_characters() {
    // The true positive with its secret part made of one repeated character is below
    // every bar (jwt, which checks structure instead, aside).
    for r in Rules::builtin().unwrap().iter() {
        if r.check.is_none() {
            assert!(r.entropy >= 3.0, "{}: {}", r.id, r.entropy);
        }
    }
}

#[test]
fn shannon_entropy_values() {
    assert_eq!(shannon_entropy(b""), 0.0);
    assert_eq!(shannon_entropy(b"aaaaaaaa"), 0.0);
    assert!((shannon_entropy(b"abab") - 1.0).abs() < 1e-9);
    assert!((shannon_entropy(b"abcd") - 2.0).abs() < 1e-9);
    let mut g = Gen(7);
    let random = g.string(ALNUM, 40);
    assert!(shannon_entropy(random.as_bytes()) > 4.5);
}

#[test]
fn runs_are_look_alikes() {
    assert!(mostly_runs(b"aaaaaaaa"));
    assert!(mostly_runs(b"abcdefghijklmnop"));
    assert!(mostly_runs(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"));
    assert!(mostly_runs(b"0123456789"));
    assert!(mostly_runs(b"zyxwvu"));
    let mut g = Gen(9);
    assert!(!mostly_runs(g.string(ALNUM, 40).as_bytes()));
    assert!(!mostly_runs(b"x"));
}

#[test]
fn base64_of_runs_or_text_is_a_placeholder() {
    assert!(decodes_to_placeholder(
        STANDARD.encode((1u8..=24).collect::<Vec<_>>()).as_bytes()
    ));
    assert!(decodes_to_placeholder(
        URL_SAFE_NO_PAD.encode([9u8; 32]).as_bytes()
    ));
    assert!(decodes_to_placeholder(
        STANDARD.encode("a test secret, not random").as_bytes()
    ));
    let mut g = Gen(29);
    assert!(!decodes_to_placeholder(
        STANDARD.encode(g.bytes(32)).as_bytes()
    ));
    assert!(!decodes_to_placeholder(g.string(ALNUM, 40).as_bytes()));
    // Too short to say.
    assert!(!decodes_to_placeholder(STANDARD.encode("short").as_bytes()));
    assert!(!decodes_to_placeholder(b"not base64!"));
}

#[test]
fn jwt_check() {
    let h = jwt_part(r#"{"alg":"none"}"#);
    assert!(is_jwt(format!("{h}.e30.").as_bytes()));
    assert!(!is_jwt(format!("{h}.e30").as_bytes()));
    assert!(!is_jwt(format!("{h}.e30.x.y").as_bytes()));
    assert!(!is_jwt(
        format!("{}.e30.x", jwt_part(r#"{"alg":1}"#)).as_bytes()
    ));
    assert!(!is_jwt(format!("{}.e30.x", jwt_part("[1]")).as_bytes()));
    assert!(!is_jwt(b"!!!.e30.x"));
}

#[test]
fn line_and_column_count_characters() {
    let mut g = Gen(11);
    let token = format!("ghp_{}", g.string(ALNUM, 36));
    let text = format!("one\ntwo\n  «é» {token} and\n{token}");
    let f = builtin().scan(text.as_bytes());
    assert_eq!(f.len(), 2);
    assert_eq!((f[0].line, f[0].column), (3, 7));
    assert_eq!((f[1].line, f[1].column), (4, 1));
    assert_eq!(&text.as_bytes()[f[0].start..f[0].end], token.as_bytes());
}

#[test]
fn the_allow_marker_silences_its_line_only() {
    let mut g = Gen(13);
    let token = format!("ghp_{}", g.string(ALNUM, 36));
    let text = format!("a = \"{token}\" // switchboard:allow-secret\nb = \"{token}\"\n");
    let f = builtin().scan(text.as_bytes());
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].line, 2);
}

fn secret(v: &str) -> SecretString {
    SecretString::from(v.to_owned())
}

#[test]
fn configured_secrets_are_found_by_name_never_by_value() {
    let mut g = Gen(17);
    let value = g.string(ALNUM, 32);
    let mut secrets = ConfiguredSecrets::new();
    assert_eq!(
        secrets.add(
            "integrations.github-main.webhook_secrets[0]",
            secret(&value)
        ),
        Added::Searched
    );
    assert_eq!(secrets.add("short", secret("1234567")), Added::TooShort);
    assert_eq!(
        secrets.add("destinations.app.secret", secret(&value)),
        Added::SameAs("integrations.github-main.webhook_secrets[0]".into())
    );
    assert_eq!(secrets.len(), 1);
    // Several spellings of one secret under one name: the name is listed once.
    secrets.add("master_key", secret(&g.string(ALNUM, 43)));
    secrets.add("master_key", secret(&g.string(ALNUM, 43)));
    assert_eq!(
        secrets.names(),
        ["integrations.github-main.webhook_secrets[0]", "master_key"]
    );
    let s = Scanner::new(Rules::empty(), &secrets).unwrap();
    let text = format!("x\nGITHUB_WEBHOOK_SECRET={value}\n{value}{value}\n");
    let f = s.scan(text.as_bytes());
    assert_eq!(f.len(), 3, "{f:?}");
    assert_eq!(
        f[0].kind,
        "configured-secret:integrations.github-main.webhook_secrets[0]"
    );
    assert_eq!(f[0].rule, CONFIGURED_RULE);
    assert_eq!((f[0].line, f[0].column), (2, 23));
    assert_eq!((f[2].line, f[2].column), (3, 33));
    for finding in &f {
        assert!(!format!("{finding:?}").contains(&value));
    }
    assert!(!format!("{secrets:?}").contains(&value));
    let shown = format!("{s:?}");
    assert!(
        shown.contains("integrations.github-main.webhook_secrets[0]"),
        "{shown}"
    );
    assert!(!shown.contains(&value), "the scanner never prints it");
    // Not even as a list of bytes.
    let bytes = format!("{:?}", &value.as_bytes()[..8]);
    let bytes = bytes.trim_end_matches(']');
    assert!(!shown.contains(bytes), "{shown}");
    assert!(!format!("{secrets:?}").contains(bytes));
}

#[test]
fn a_configured_secret_wins_over_the_rule_that_also_matches_it() {
    let mut g = Gen(19);
    let key = STANDARD.encode(g.bytes(32));
    let mut secrets = ConfiguredSecrets::new();
    secrets.add("master_key", secret(&key));
    let s = Scanner::new(Rules::builtin().unwrap(), &secrets).unwrap();
    let text = format!("master_key = \"{key}\"\n");
    assert_eq!(
        kinds(&s, &text),
        vec!["configured-secret:master_key".to_owned()]
    );
    // The dev key file: the whole-file rule matches too; one finding.
    assert_eq!(
        kinds(&s, &format!("{key}\n")),
        vec!["configured-secret:master_key".to_owned()]
    );
}

#[test]
fn a_rule_file_adds_rules_and_replaces_by_id() {
    let mut rules = Rules::builtin().unwrap();
    let n = rules.len();
    rules
        .add_file(
            r#"
[[rules]]
id = "acme-token"
description = "Acme API token"
regex = '''\bacme_(?P<secret>[a-z0-9]{20})\b'''
keywords = ["acme_"]
entropy = 3.0
source = "Acme docs"

[[rules]]
id = "github-pat"
description = "GitHub PAT, stricter"
regex = '''\bghp_(?P<secret>[A-Za-z0-9]{36})\b'''
keywords = ["ghp_"]
entropy = 4.5
source = "GitHub docs"
"#,
            "extra.toml",
        )
        .unwrap();
    assert_eq!(rules.len(), n + 1);
    assert_eq!(
        rules.iter().find(|r| r.id == "github-pat").unwrap().entropy,
        4.5
    );
    let none = ConfiguredSecrets::new();
    let s = Scanner::new(rules, &none).unwrap();
    let mut g = Gen(23);
    let text = format!("acme_{}", g.string(LOWER_DIGITS, 20));
    assert_eq!(kinds(&s, &text), vec!["acme-token".to_owned()]);
}

#[test]
fn bad_rule_files_say_what_is_wrong() {
    let rule = |body: &str| {
        let text = format!("[[rules]]\nid = \"x\"\ndescription = \"d\"\nsource = \"s\"\n{body}\n");
        Rules::empty()
            .add_file(&text, "extra.toml")
            .unwrap_err()
            .to_string()
    };
    let e = rule("regex = '''(unclosed'''");
    assert!(
        e.contains("extra.toml") && e.contains("rule \"x\"") && e.contains("regex"),
        "{e}"
    );
    assert!(rule("regex = '''a*'''").contains("empty string"));
    assert!(rule("regex = 'x'\nentropy = 9.0").contains("entropy"));
    assert!(rule("regex = 'x'\nallow = ['(']").contains("allow"));
    assert!(rule("regex = 'x'\nkeywords = ['']").contains("keywords"));
    assert!(rule("regex = 'x'\ncheck = 'crc'").contains("extra.toml"));
    assert!(rule("regex = 'x'\ncolour = 'red'").contains("colour"));
    let e = Rules::empty()
        .add_file(
            "[[rules]]\nid = \"Bad Id\"\ndescription = \"d\"\nsource = \"s\"\nregex = 'x'\n",
            "f",
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("lowercase"), "{e}");
    let e = Rules::empty()
        .add_file("[[rules]]\nid = \"configured-secret\"\ndescription = \"d\"\nsource = \"s\"\nregex = 'x'\n", "f")
        .unwrap_err()
        .to_string();
    assert!(e.contains("reserved"), "{e}");
    let twice = "[[rules]]\nid = \"a\"\ndescription = \"d\"\nsource = \"s\"\nregex = 'x'\n";
    let e = Rules::empty()
        .add_file(&format!("{twice}{twice}"), "f")
        .unwrap_err()
        .to_string();
    assert!(e.contains("twice"), "{e}");
    assert!(
        Rules::empty()
            .add_file("not toml [", "f")
            .unwrap_err()
            .to_string()
            .starts_with("f: ")
    );
}

#[test]
fn the_rule_file_itself_has_no_findings() {
    assert!(builtin().scan(BUILTIN_RULES.as_bytes()).is_empty());
}

#[test]
fn binary_sniff() {
    assert!(!looks_binary(b"plain text\n"));
    assert!(looks_binary(b"\x7fELF\0\0"));
    let mut late = vec![b'a'; BINARY_SNIFF_BYTES];
    late.push(0);
    assert!(!looks_binary(&late), "only the first 8 KiB are sniffed");
}

proptest! {
    #[test]
    fn scanning_any_bytes_never_panics_and_stays_in_bounds(
        buf in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let s = builtin();
        for f in s.scan(&buf) {
            prop_assert!(f.start < f.end && f.end <= buf.len());
            prop_assert!(f.line >= 1 && f.column >= 1);
        }
    }

    #[test]
    fn an_embedded_token_is_found_wherever_it_is(
        before in "[ -~\n]{0,200}",
        after in "[ -~\n]{0,200}",
        seed in 1u64..u64::MAX,
    ) {
        let mut g = Gen(seed);
        let token = format!("ghp_{}", g.string(ALNUM, 36));
        prop_assume!(!mostly_runs(&token.as_bytes()[4..]));
        let text = format!("{before} {token} {after}");
        let found = builtin().scan(text.as_bytes());
        prop_assert!(found.iter().any(|f| &text.as_bytes()[f.start..f.end] == token.as_bytes()));
    }
}
