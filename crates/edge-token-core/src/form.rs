//! `application/x-www-form-urlencoded` decoding (the WHATWG / HTML form
//! format RFC 6749 Appendix B refers to), strict about malformed input.

/// Why a form body or component could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormError {
    /// A `%` not followed by two hex digits.
    BadPercentEncoding,
    /// The decoded bytes are not UTF-8.
    NotUtf8,
}

/// Decodes one form-urlencoded component: `+` is a space, `%XX` a byte.
pub fn decode_component(input: &[u8]) -> Result<String, FormError> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        match b {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' => {
                let hi = input.get(i + 1).and_then(|c| hex_value(*c));
                let lo = input.get(i + 2).and_then(|c| hex_value(*c));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => out.push(hi << 4 | lo),
                    _ => return Err(FormError::BadPercentEncoding),
                }
                i += 3;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|_| FormError::NotUtf8)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Parses a whole body into (name, value) pairs in order. Empty segments
/// (`a=1&&b=2`) are skipped; a segment without `=` is a name with an empty value.
pub fn parse(body: &[u8]) -> Result<Vec<(String, String)>, FormError> {
    body.split(|b| *b == b'&')
        .filter(|segment| !segment.is_empty())
        .map(|segment| {
            let (name, value) = match segment.iter().position(|b| *b == b'=') {
                Some(eq) => (
                    segment.get(..eq).unwrap_or_default(),
                    segment.get(eq + 1..).unwrap_or_default(),
                ),
                None => (segment, &[][..]),
            };
            Ok((decode_component(name)?, decode_component(value)?))
        })
        .collect()
}

/// Encodes a component the way form-urlencoding does (used by tests and the
/// CLI's printed curl command; unreserved characters pass unchanged).
pub fn encode_component(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for b in input.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_decodes_plus_and_percent() {
        let got = parse(b"a=x+y&b=%2Fz%3d&c").unwrap();
        assert_eq!(
            got,
            vec![
                ("a".into(), "x y".into()),
                ("b".into(), "/z=".into()),
                ("c".into(), String::new())
            ]
        );
    }

    #[test]
    fn parse_skips_empty_segments() {
        assert_eq!(parse(b"&&a=1&&").unwrap(), vec![("a".into(), "1".into())]);
        assert!(parse(b"").unwrap().is_empty());
    }

    #[test]
    fn parse_truncated_percent_fails() {
        assert_eq!(parse(b"a=%4"), Err(FormError::BadPercentEncoding));
        assert_eq!(parse(b"a=%zz"), Err(FormError::BadPercentEncoding));
        assert_eq!(parse(b"a=%"), Err(FormError::BadPercentEncoding));
    }

    #[test]
    fn parse_invalid_utf8_fails() {
        assert_eq!(parse(b"a=%ff%fe"), Err(FormError::NotUtf8));
        assert_eq!(parse(b"a=\xff"), Err(FormError::NotUtf8));
    }

    #[test]
    fn encode_then_decode_round_trips() {
        let s = "a b/c:d%e+f&g=h\u{e9}";
        assert_eq!(decode_component(encode_component(s).as_bytes()).unwrap(), s);
        assert_eq!(encode_component("ets_AZaz09-_"), "ets_AZaz09-_");
    }
}
