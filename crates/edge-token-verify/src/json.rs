//! A small writer for the JSON documents the issuer writes on every request
//! (a token's claims, the token response, the introspection answer, the log
//! line): objects with string keys, strings, unsigned integers, booleans,
//! string arrays, and any other value through `serde_json`.
//!
//! The output is byte for byte what `serde_json::to_string` writes for the
//! same document (compact, strings escaped the way it escapes them; the
//! tests compare the two). It exists for speed: in wasm, serde_json's
//! generic serializer spent about 9 µs of a token request escaping strings
//! through its `io::Write` layers (BENCHMARKS.md, issue 13); this writes
//! into one `String`.

/// Appends `s` as a JSON string: quoted, with `"` and `\` escaped, and the
/// control characters U+0000 to U+001F escaped as serde_json escapes them
/// (`\b`, `\t`, `\n`, `\f`, `\r`, else `\u00XX`). Everything else, non-ASCII
/// included, is copied as it is.
pub fn push_str(out: &mut String, s: &str) {
    out.push('"');
    push_escaped(out, s);
    out.push('"');
}

/// Whether JSON escapes byte `b`.
fn escaped(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Whether any of the 8 bytes of `word` is one JSON escapes (the usual
/// "has a zero byte" and "has a byte below n" word tests, exact for the
/// word as a whole: a false flag on one byte only ever follows a true one).
fn escapes_any(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let found = (quote.wrapping_sub(ONES) & !quote)
        | (backslash.wrapping_sub(ONES) & !backslash)
        | (word.wrapping_sub(ONES * 0x20) & !word);
    found & HIGH != 0
}

/// The index of the first byte at or after `from` that JSON escapes, or
/// `bytes.len()`: 8 bytes at a time, then byte by byte within the 8 that
/// hold it (or the last few).
fn next_escaped(bytes: &[u8], mut from: usize) -> usize {
    while let Some(word) = bytes
        .get(from..from + 8)
        .and_then(|chunk| <[u8; 8]>::try_from(chunk).ok())
    {
        if escapes_any(u64::from_le_bytes(word)) {
            break;
        }
        from += 8;
    }
    bytes
        .get(from..)
        .and_then(|rest| rest.iter().position(|&b| escaped(b)))
        .map_or(bytes.len(), |at| from + at)
}

/// Appends `s` escaped, without the quotes.
fn push_escaped(out: &mut String, s: &str) {
    let bytes = s.as_bytes();
    let mut start = 0;
    loop {
        let at = next_escaped(bytes, start);
        // Every byte escaped is ASCII, so `at` is a char boundary.
        out.push_str(s.get(start..at).unwrap_or_default());
        let Some(&b) = bytes.get(at) else {
            return;
        };
        let short = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            _ => "",
        };
        if short.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let hex = |n: u8| char::from(HEX.get(usize::from(n)).copied().unwrap_or(b'0'));
            out.push_str("\\u00");
            out.push(hex(b >> 4));
            out.push(hex(b & 0xf));
        } else {
            out.push_str(short);
        }
        start = at + 1;
    }
}

/// Appends `n` in decimal.
pub fn push_u64(out: &mut String, mut n: u64) {
    // At most 20 digits, written last first, then turned around.
    let mut digits = [0u8; 20];
    let mut len = 0;
    for slot in digits.iter_mut() {
        *slot = b'0' + (n % 10) as u8;
        n /= 10;
        len += 1;
        if n == 0 {
            break;
        }
    }
    let digits = digits.get_mut(..len).unwrap_or_default();
    digits.reverse();
    // ASCII digits: always UTF-8.
    out.push_str(std::str::from_utf8(digits).unwrap_or("0"));
}

/// A JSON object being written into a `String`: [`Object::new`] writes the
/// `{`, each method one member, [`Object::end`] the `}`. Keys are escaped
/// like values; a key written twice is written twice (the callers never
/// do).
pub struct Object<'a> {
    out: &'a mut String,
    first: bool,
}

impl<'a> Object<'a> {
    /// Starts an object at the end of `out`.
    pub fn new(out: &'a mut String) -> Self {
        out.push('{');
        Object { out, first: true }
    }

    fn key(&mut self, key: &str) -> &mut String {
        let out = &mut *self.out;
        out.push_str(if self.first { "\"" } else { ",\"" });
        self.first = false;
        push_escaped(out, key);
        out.push_str("\":");
        out
    }

    /// A string member.
    pub fn str(&mut self, key: &str, value: &str) -> &mut Self {
        let out = self.key(key);
        push_str(out, value);
        self
    }

    /// A string member, only when `value` is `Some`.
    pub fn opt_str(&mut self, key: &str, value: Option<&str>) -> &mut Self {
        if let Some(value) = value {
            self.str(key, value);
        }
        self
    }

    /// An unsigned integer member.
    pub fn u64(&mut self, key: &str, value: u64) -> &mut Self {
        let out = self.key(key);
        push_u64(out, value);
        self
    }

    /// A boolean member.
    pub fn bool(&mut self, key: &str, value: bool) -> &mut Self {
        let out = self.key(key);
        out.push_str(if value { "true" } else { "false" });
        self
    }

    /// An array-of-strings member.
    pub fn strs(&mut self, key: &str, values: &[String]) -> &mut Self {
        let out = self.key(key);
        out.push('[');
        for (i, value) in values.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_str(out, value);
        }
        out.push(']');
        self
    }

    /// An `aud` member: a string for one audience, else an array (as its
    /// `Serialize` writes it).
    pub fn audience(&mut self, key: &str, value: &crate::token::Audience) -> &mut Self {
        match value {
            crate::token::Audience::One(a) => self.str(key, a),
            crate::token::Audience::Many(list) => self.strs(key, list),
        }
    }

    /// Any JSON value, written by `serde_json` (the claims a client record
    /// adds: rare, and of any shape).
    pub fn value(&mut self, key: &str, value: &serde_json::Value) -> &mut Self {
        let out = self.key(key);
        // A Value always serialises (its map keys are strings).
        out.push_str(&serde_json::to_string(value).unwrap_or_else(|_| "null".to_owned()));
        self
    }

    /// How long the output is so far (with what it held before the `{`).
    pub(crate) fn written(&self) -> usize {
        self.out.len()
    }

    /// Writes the closing `}`.
    pub fn end(self) {
        self.out.push('}');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted(s: &str) -> String {
        let mut out = String::new();
        push_str(&mut out, s);
        out
    }

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        let mut every_control: String = (0u8..0x20).map(char::from).collect();
        every_control.push_str("\u{7f}\"\\/é€😀 plain");
        for s in [
            "",
            "plain",
            "a\"b",
            "back\\slash",
            "\u{0}",
            "tab\tnl\ncr\rff\u{c}bs\u{8}",
            "\u{1f}end",
            every_control.as_str(),
            "ünïcödé \u{2028}\u{2029}",
        ] {
            assert_eq!(quoted(s), serde_json::to_string(s).unwrap(), "{s:?}");
            // And it reads back as the same string.
            assert_eq!(serde_json::from_str::<String>(&quoted(s)).unwrap(), s);
        }
    }

    #[test]
    fn every_char_below_0x80_and_some_above_match_serde_json() {
        for c in (0u32..0x80).chain([0xa0, 0x7ff, 0x800, 0xffff, 0x10000, 0x10ffff]) {
            let c = char::from_u32(c).unwrap();
            let s = format!("x{c}y{c}");
            assert_eq!(quoted(&s), serde_json::to_string(&s).unwrap(), "{c:?}");
        }
    }

    #[test]
    fn an_escape_at_any_offset_of_an_8_byte_word_is_found() {
        // In the first word, the second, or the bytes after the last whole
        // word, next to plain, escaped and multi-byte characters: a word
        // test that misses an escaped byte, or a byte test that escapes
        // 0x20, `!`, `#`, `[`, `]` or 0x7f, writes other bytes than serde_json.
        let around = [
            '\u{0}', '\u{1f}', ' ', '!', '"', '#', '[', '\\', ']', '\u{7f}', '\n', '\u{8}',
        ];
        for len in 1..20 {
            for at in 0..len {
                for c in around {
                    for rest in ['a', '"', '\u{1}', 'é'] {
                        let s: String = (0..len).map(|i| if i == at { c } else { rest }).collect();
                        assert_eq!(quoted(&s), serde_json::to_string(&s).unwrap(), "{s:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn the_word_test_flags_exactly_the_words_holding_an_escaped_byte() {
        // Each byte at each offset, among fillers that JSON leaves as they
        // are: ASCII next to the escaped ranges, and bytes >= 0x80 (whose
        // high bit must not count).
        for b in 0..=u8::MAX {
            for at in 0..8 {
                for filler in [b'a', 0xc3, 0xa9, b' ', 0x7f, 0xff] {
                    let mut word = [filler; 8];
                    word[at] = b;
                    assert_eq!(
                        escapes_any(u64::from_le_bytes(word)),
                        escaped(b),
                        "{word:?}"
                    );
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn any_string_is_written_as_serde_json_writes_it(s in "\\PC*|[\\x00-\\x7f]*") {
            proptest::prop_assert_eq!(quoted(&s), serde_json::to_string(&s).unwrap());
        }

        #[test]
        fn any_integer_is_written_as_serde_json_writes_it(n: u64) {
            let mut out = String::new();
            push_u64(&mut out, n);
            proptest::prop_assert_eq!(out, serde_json::to_string(&n).unwrap());
        }
    }

    #[test]
    fn integers_match_serde_json() {
        for n in [
            0,
            1,
            9,
            10,
            99,
            100,
            1_700_000_000,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut out = String::new();
            push_u64(&mut out, n);
            assert_eq!(out, serde_json::to_string(&n).unwrap());
        }
    }

    #[test]
    fn objects_match_serde_json() {
        let extra: serde_json::Value =
            serde_json::json!({"nested": [1, 2.5, null, {"k": "v\n"}], "t": true});
        let mut out = String::new();
        let mut o = Object::new(&mut out);
        o.str("a", "x\"y")
            .u64("n", 42)
            .bool("t", true)
            .bool("f", false)
            .opt_str("absent", None)
            .opt_str("present", Some("p"))
            .strs("list", &["one".to_owned(), "t\two".to_owned()])
            .strs("empty", &[])
            .value("extra", &extra)
            .str("k\"ey", "v");
        o.end();
        let expected = serde_json::json!({
            "a": "x\"y", "n": 42, "t": true, "f": false, "present": "p",
            "list": ["one", "t\two"], "empty": [], "extra": extra, "k\"ey": "v"
        });
        // Same bytes as serde_json in the same member order (json! sorts
        // its keys, so compare parsed, then the exact text by hand).
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&out).unwrap(),
            expected
        );
        assert_eq!(
            out,
            r#"{"a":"x\"y","n":42,"t":true,"f":false,"present":"p","list":["one","t\two"],"empty":[],"extra":{"nested":[1,2.5,null,{"k":"v\n"}],"t":true},"k\"ey":"v"}"#
        );

        let mut empty = String::new();
        Object::new(&mut empty).end();
        assert_eq!(empty, "{}");
    }
}
