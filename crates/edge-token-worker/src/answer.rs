//! What [`crate::entry`]'s `handle` answers the JS entry: the response and
//! its log line packed in one string, and where a signature left to the JS
//! entry goes (js/wire.mjs `unpack` reads it).

use edge_token_core::http::HttpResponse;

/// Where a deferred signature goes in `body`: the signing input (ASCII)
/// runs from `start` to `end`, in UTF-16 units as JS counts them, then a
/// `.` and the `len` characters of the placeholder (the base64url of the
/// zero bytes the core was given) that the signature's base64url replaces.
/// `None` when the body does not hold that token (the core answered an
/// error after minting it), so nothing is left to sign.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Deferred {
    pub(crate) start: usize,
    pub(crate) end: usize,
    pub(crate) len: usize,
}

pub(crate) fn locate(body: &str, input: &str, signature_len: usize) -> Option<Deferred> {
    // The placeholder: the base64url (unpadded) of `signature_len` zero
    // bytes, all `A`, then the token's end (never another base64url
    // character).
    let len = (signature_len * 4).div_ceil(3);
    // Found by its first bytes (a short needle is cheaper to search for),
    // then compared whole.
    let head = input.get(..input.len().min(16))?;
    let at = body
        .match_indices(head)
        .map(|(at, _)| at)
        .find(|&at| body.get(at..).is_some_and(|rest| rest.starts_with(input)))?;
    let placeholder = body.get(at + input.len()..)?.strip_prefix('.')?;
    let ends = placeholder
        .as_bytes()
        .get(len)
        .is_none_or(|c| !(c.is_ascii_alphanumeric() || *c == b'-' || *c == b'_'));
    if !input.is_ascii() || !ends || !placeholder.get(..len)?.bytes().all(|c| c == b'A') {
        return None;
    }
    let start = body.get(..at)?.encode_utf16().count();
    Some(Deferred {
        start,
        end: start + input.len(),
        len,
    })
}

/// `status\nlog line\nname:value\n...\n\nbody`: the log line (compact
/// JSON) and header values never hold a line break, header names never a
/// colon; the body is the rest. With a deferred signature the first line is
/// `status start end len` (see [`Deferred`]).
pub(crate) fn pack(response: &HttpResponse, log: &str, signature: Option<Deferred>) -> String {
    let headers: usize = response
        .headers
        .iter()
        .map(|(n, v)| n.len() + v.len() + 2)
        .sum();
    let mut out = String::with_capacity(8 + log.len() + headers + response.body.len());
    out.push_str(&response.status.to_string());
    if let Some(Deferred { start, end, len }) = signature {
        for n in [start, end, len] {
            out.push(' ');
            out.push_str(&n.to_string());
        }
    }
    out.push('\n');
    out.push_str(log);
    out.push('\n');
    for (name, value) in &response.headers {
        out.push_str(name);
        out.push(':');
        out.push_str(value);
        out.push('\n');
    }
    out.push('\n');
    out.push_str(&response.body);
    out
}

/// The status and body of what [`pack`] wrote (the warm-up reads its
/// answers with it).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) fn status_and_body(packed: &str) -> Option<(u16, &str)> {
    let (first, rest) = packed.split_once('\n')?;
    let status = first.split(' ').next()?.parse().ok()?;
    // After the log line and the header lines, none of them empty.
    let (_, body) = rest.split_once("\n\n")?;
    Some((status, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    const INPUT: &str = "eyJhbGciOiJFUzI1NiJ9.eyJqdGkiOiJ4In0";

    fn placeholder() -> String {
        "A".repeat(86)
    }

    #[test]
    fn a_deferred_signature_is_found_after_its_input() {
        let body = format!(
            r#"{{"access_token":"{INPUT}.{}","token_type":"Bearer"}}"#,
            placeholder()
        );
        let d = locate(&body, INPUT, 64).unwrap();
        assert_eq!(&body[d.start..d.end], INPUT);
        assert_eq!(&body[d.end + 1..d.end + 1 + d.len], placeholder());
        assert_eq!(body.as_bytes()[d.end + 1 + d.len], b'"');
    }

    #[test]
    fn offsets_count_utf16_units() {
        // A non-ASCII character before the token: 2 bytes, 1 UTF-16 unit;
        // one outside the BMP: 4 bytes, 2 units.
        let body = format!(
            r#"{{"x":"é😀","access_token":"{INPUT}.{}"}}"#,
            placeholder()
        );
        let d = locate(&body, INPUT, 64).unwrap();
        let units: Vec<u16> = body.encode_utf16().collect();
        assert_eq!(String::from_utf16(&units[d.start..d.end]).unwrap(), INPUT);
    }

    #[test]
    fn no_token_or_no_placeholder_is_nothing_to_sign() {
        assert_eq!(locate(r#"{"error":"invalid_scope"}"#, INPUT, 64), None);
        // A real signature where the placeholder would be.
        let signed = format!("{INPUT}.{}B", "A".repeat(85));
        assert_eq!(locate(&signed, INPUT, 64), None);
        // A longer base64url run than the signature: not this token.
        let longer = format!("{INPUT}.{}", "A".repeat(87));
        assert_eq!(locate(&longer, INPUT, 64), None);
        // The input without its dot.
        assert_eq!(
            locate(&format!("{INPUT}{}", placeholder()), INPUT, 64),
            None
        );
    }

    #[test]
    fn the_first_line_carries_the_deferred_signature() {
        let mut response = HttpResponse::json(200, "{}".to_owned());
        response.header("Pragma", "no-cache".to_owned());
        let plain = pack(&response, r#"{"event":"token"}"#, None);
        assert!(plain.starts_with("200\n{\"event\":\"token\"}\n"), "{plain}");
        assert!(plain.ends_with("Pragma:no-cache\n\n{}"), "{plain}");
        let deferred = Deferred {
            start: 17,
            end: 50,
            len: 86,
        };
        let packed = pack(&response, "{}", Some(deferred));
        assert!(packed.starts_with("200 17 50 86\n{}\n"), "{packed}");
    }

    #[test]
    fn status_and_body_read_back_what_pack_wrote() {
        let mut response = HttpResponse::json(401, r#"{"error":"invalid_client"}"#.to_owned());
        response.header("WWW-Authenticate", "Basic".to_owned());
        let packed = pack(&response, r#"{"event":"token"}"#, None);
        assert_eq!(
            status_and_body(&packed),
            Some((401, r#"{"error":"invalid_client"}"#))
        );
        let bare = HttpResponse::json(200, "a\n\nb".to_owned());
        let packed = pack(
            &bare,
            "{}",
            Some(Deferred {
                start: 1,
                end: 2,
                len: 3,
            }),
        );
        assert_eq!(status_and_body(&packed), Some((200, "a\n\nb")));
        assert_eq!(status_and_body("oops"), None);
    }
}
