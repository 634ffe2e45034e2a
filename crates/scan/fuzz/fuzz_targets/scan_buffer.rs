//! Any buffer, with any configured secret: scanning never panics, every finding lies
//! inside the buffer with a line and column that agree with it, and a finding of the
//! configured secret covers exactly its bytes.
#![no_main]

use std::sync::OnceLock;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use scan::{ConfiguredSecrets, Rules, Scanner};
use secrecy::SecretString;

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    secret: &'a str,
    buffer: &'a [u8],
}

fn rules() -> &'static Rules {
    static RULES: OnceLock<Rules> = OnceLock::new();
    RULES.get_or_init(|| Rules::builtin().expect("built-in rules"))
}

fuzz_target!(|i: Input<'_>| {
    let mut secrets = ConfiguredSecrets::new();
    secrets.add("fuzz", SecretString::from(i.secret.to_owned()));
    let scanner = Scanner::new(rules().clone(), &secrets).expect("scanner");
    for f in scanner.scan(i.buffer) {
        assert!(f.start < f.end && f.end <= i.buffer.len(), "{f:?}");
        let before = &i.buffer[..f.start];
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        assert_eq!(f.line, line, "{f:?}");
        if f.rule == scan::CONFIGURED_RULE {
            assert_eq!(&i.buffer[f.start..f.end], i.secret.as_bytes());
        }
    }
});
