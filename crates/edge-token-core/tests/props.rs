//! Property tests over the core's public parsing and token API: arbitrary
//! input never panics, allocations stay bounded by the input, encoders and
//! decoders round-trip, and any change to a signed token is rejected.
//!
//! Failure persistence is off (no `proptest-regressions/` files are written);
//! a failing case is printed in full by proptest instead.
// Test code: a failed fixture or assertion is a failed run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::collections::BTreeMap;

use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use base64::Engine;
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use proptest::sample::Index;
use serde_json::Value;
use sha2::Sha256;

use edge_token_core::bearer::{extract_bearer, BearerError, Verifier, DEFAULT_LEEWAY_SECS};
use edge_token_core::client::ClientRecord;
use edge_token_core::credentials::{extract, AuthMethod, MAX_CREDENTIAL_LEN};
use edge_token_core::error::OAuthError;
use edge_token_core::form::{decode_component, encode_component, parse};
use edge_token_core::scope::{
    check_audiences, check_scopes, grant_audiences, grant_scopes, is_absolute_uri, is_scope_token,
    parse_scope, MAX_AUDIENCES, MAX_AUDIENCE_LEN, MAX_SCOPES, MAX_SCOPE_BYTES, MAX_SCOPE_LEN,
};
use edge_token_core::token::{
    mint, verify, AccessTokenClaims, Audience, KeySet, VerifyError, MAX_TOKEN_LEN,
};

// ---------------------------------------------------------------------------
// Shared fixtures and strategies
// ---------------------------------------------------------------------------

const KEYS: &str = r#"[{"kid":"k1","key":"MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY"}]"#;
/// The raw bytes of the key in `KEYS`, to sign hand-made tokens.
const RAW_KEY: &[u8] = b"0123456789abcdef0123456789abcdef";
const HEADER_JSON: &str = r#"{"alg":"HS256","typ":"at+jwt","kid":"k1"}"#;
const ISS: &str = "https://issuer.example";
const AUD: &str = "https://api.example";
const NOW: u64 = 1_700_000_000;

/// Claim names `AccessTokenClaims` serialises itself; an `extra` entry with
/// one of these names would be a duplicate JSON key.
const REGISTERED: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "jti",
    "client_id",
    "scope",
];

fn keys() -> KeySet {
    KeySet::parse(KEYS).unwrap()
}

fn verifier() -> Verifier {
    Verifier::new(keys(), ISS, AUD)
}

/// `cases` cases, no regression files.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Characters biased towards the ones parsers care about: separators,
/// escapes, quotes, controls, non-ASCII (2-, 3- and 4-byte UTF-8).
fn interesting_char() -> impl Strategy<Value = char> {
    prop_oneof![
        4 => any::<char>(),
        4 => prop::char::range(' ', '~'),
        3 => prop::sample::select(vec![
            ':', '%', '+', ' ', '&', '=', '#', '"', '\\', '.', '/', '\0', '\t', '\r', '\n',
            '\u{7f}', '\u{e9}', '\u{2028}', '\u{feff}', '\u{1F600}',
        ]),
    ]
}

/// Strings of up to `max_chars` interesting characters.
fn text(max_chars: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(interesting_char(), 0..=max_chars).prop_map(String::from_iter)
}

/// Non-empty strings of at most `MAX_CREDENTIAL_LEN` bytes (64 chars of at
/// most 4 bytes each).
fn credential() -> impl Strategy<Value = String> {
    prop::collection::vec(interesting_char(), 1..=64).prop_map(String::from_iter)
}

/// Strings of exactly `MAX_CREDENTIAL_LEN` bytes, padded with `%` (which must
/// be escaped), so the encoded header is as long as it can legitimately be.
fn max_len_credential() -> impl Strategy<Value = String> {
    text(80).prop_map(|s| {
        let mut out = String::new();
        for c in s.chars() {
            if out.len() + c.len_utf8() > MAX_CREDENTIAL_LEN {
                break;
            }
            out.push(c);
        }
        while out.len() < MAX_CREDENTIAL_LEN {
            out.push('%');
        }
        out
    })
}

/// Arbitrary bytes, half the time drawn from the form syntax alphabet so
/// that escapes, separators and near-misses are common.
fn form_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..512),
        prop::collection::vec(
            prop::sample::select(b"%&=+aZ09fF \xc3\xa9\xff\x80".to_vec()),
            0..512
        ),
    ]
}

/// A scope-token: `1*( %x21 / %x23-5B / %x5D-7E )`.
fn scope_token() -> impl Strategy<Value = String> {
    r"[!#-\[\]-~]{1,12}"
}

/// An independent reading of RFC 6749 §3.3's NQCHAR.
fn is_nqchar(c: char) -> bool {
    c == '!' || ('#'..='[').contains(&c) || (']'..='~').contains(&c)
}

/// A JSON value of any scalar type but floats, or a small array. (Without its
/// `float_roundtrip` feature serde_json does not promise to parse a printed
/// float back to the same bits: values that must round-trip exactly leave
/// floats out.)
fn json_value() -> impl Strategy<Value = Value> {
    let scalar = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        text(12).prop_map(Value::from),
    ];
    prop_oneof![
        4 => scalar.clone(),
        1 => prop::collection::vec(scalar, 0..3).prop_map(Value::Array),
        1 => prop::collection::vec(text(8), 0..3)
            .prop_map(|v| Value::Array(v.into_iter().map(Value::from).collect())),
    ]
}

/// [`json_value`] or a float (including ones too large for any integer type).
fn json_value_or_float() -> impl Strategy<Value = Value> {
    prop_oneof![
        4 => json_value(),
        1 => any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        1 => prop::sample::select(vec![0.0, 1.0, 1e3, 1.7e9, 1e19, 1e20, -1.0])
            .prop_map(Value::from),
    ]
}

/// Extra claims whose names never collide with the registered ones.
fn extra_claims() -> impl Strategy<Value = BTreeMap<String, Value>> {
    prop::collection::btree_map(
        r"[a-z][a-z0-9_]{0,8}".prop_filter("registered claim name", |n| {
            !REGISTERED.contains(&n.as_str())
        }),
        json_value(),
        0..4,
    )
}

fn audience() -> impl Strategy<Value = Audience> {
    prop_oneof![
        text(24).prop_map(Audience::One),
        prop::collection::vec(text(16), 0..4).prop_map(Audience::Many),
    ]
}

/// Claims with arbitrary values (strings of any characters, any u64 times).
fn claims() -> impl Strategy<Value = AccessTokenClaims> {
    (
        text(24),
        text(24),
        audience(),
        any::<u64>(),
        any::<u64>(),
        text(24),
        text(24),
        text(40),
        extra_claims(),
    )
        .prop_map(|(iss, sub, aud, exp, iat, jti, client_id, scope, extra)| {
            AccessTokenClaims {
                iss,
                sub,
                aud,
                exp,
                iat,
                jti,
                client_id,
                scope,
                extra,
            }
        })
}

/// Claims the test [`verifier`] accepts at [`NOW`]: our issuer, our
/// audience (alone or among others), issued at or before `NOW`, not expired,
/// no `nbf`.
fn acceptable_claims() -> impl Strategy<Value = AccessTokenClaims> {
    (
        claims(),
        prop::collection::vec(text(12), 0..3),
        any::<Index>(),
        0..=NOW,
        1..1_000_000_000u64,
    )
        .prop_map(|(mut c, mut others, at, iat, lifetime)| {
            c.iss = ISS.to_owned();
            c.aud = if others.is_empty() {
                Audience::One(AUD.to_owned())
            } else {
                others.insert(at.index(others.len() + 1), AUD.to_owned());
                Audience::Many(others)
            };
            c.iat = iat;
            c.exp = NOW + lifetime;
            c.extra.remove("nbf");
            c
        })
}

/// `header_b64.payload_b64.signature` signed with [`RAW_KEY`], whatever the
/// payload bytes are.
fn sign_raw(header_json: &[u8], payload: &[u8]) -> String {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header_json),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(RAW_KEY).unwrap();
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}")
}

/// `token` with byte `at` replaced by `byte`, if the result is still a `str`.
fn with_byte(token: &str, at: usize, byte: u8) -> Option<String> {
    let mut bytes = token.as_bytes().to_vec();
    bytes[at] = byte;
    String::from_utf8(bytes).ok()
}

/// The `n`-th ASCII byte other than `original` (`n < 127`).
fn other_ascii(original: u8, n: u8) -> u8 {
    assert!(original < 0x80 && n < 0x7f);
    if n >= original {
        n + 1
    } else {
        n
    }
}

/// Percent-encodes every byte but ASCII alphanumerics, with lower-case hex
/// and `%20` for space: another valid form-urlencoding than `encode_component`.
fn encode_all_lowercase(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() {
                (b as char).to_string()
            } else {
                format!("%{b:02x}")
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// form: `parse`, `decode_component`, `encode_component`
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn form_parse_arbitrary_bytes_bounded_output(body in form_bytes()) {
        if let Ok(pairs) = parse(&body) {
            let decoded: usize = pairs.iter().map(|(n, v)| n.len() + v.len()).sum();
            prop_assert!(decoded <= body.len(), "{decoded} decoded bytes from {}", body.len());
            // Every pair comes from a non-empty `&`-separated segment.
            prop_assert!(pairs.len() <= body.len().div_ceil(2));
        }
    }

    #[test]
    fn form_decode_component_arbitrary_bytes_bounded_output(input in form_bytes()) {
        if let Ok(s) = decode_component(&input) {
            prop_assert!(s.len() <= input.len());
        }
    }

    #[test]
    fn form_encode_component_output_is_unreserved_or_escaped(s in text(64)) {
        let encoded = encode_component(&s);
        prop_assert!(encoded.len() <= 3 * s.len());
        prop_assert!(
            encoded.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.*+%".contains(&b)),
            "{encoded:?}"
        );
        prop_assert_eq!(decode_component(encoded.as_bytes()), Ok(s));
    }
}

proptest! {
    #![proptest_config(config(512))]

    #[test]
    fn form_encoded_pairs_parse_back_in_order(
        pairs in prop::collection::vec((text(16), text(24)), 0..8)
    ) {
        let body = pairs
            .iter()
            .map(|(n, v)| format!("{}={}", encode_component(n), encode_component(v)))
            .collect::<Vec<_>>()
            .join("&");
        prop_assert_eq!(parse(body.as_bytes()), Ok(pairs));
    }

    #[test]
    fn form_lowercase_percent_encoding_parses_back(
        pairs in prop::collection::vec((text(16), text(24)), 0..8)
    ) {
        let body = pairs
            .iter()
            .map(|(n, v)| format!("{}={}", encode_all_lowercase(n), encode_all_lowercase(v)))
            .collect::<Vec<_>>()
            .join("&");
        prop_assert_eq!(parse(body.as_bytes()), Ok(pairs));
    }
}

// ---------------------------------------------------------------------------
// credentials: `extract` (Basic header and body parameters)
// ---------------------------------------------------------------------------

/// Header values that reach different depths of the Basic parser.
fn authorization_value() -> impl Strategy<Value = String> {
    prop_oneof![
        text(64),
        text(64).prop_map(|s| format!("Basic {s}")),
        prop::collection::vec(any::<u8>(), 0..96)
            .prop_map(|raw| format!("Basic {}", STANDARD.encode(raw))),
        (text(32), text(32))
            .prop_map(|(a, b)| format!("bAsIc {}", STANDARD_NO_PAD.encode(format!("{a}:{b}")))),
        prop::collection::vec(any::<u8>(), 1500..1700)
            .prop_map(|raw| format!("Basic {}", STANDARD.encode(raw))),
    ]
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn credentials_extract_arbitrary_input_never_panics_and_bounds_lengths(
        header in prop::option::of(authorization_value()),
        body_id in prop::option::of(text(20)),
        body_secret in prop::option::of(text(20)),
    ) {
        if let Ok(c) = extract(header.as_deref(), body_id.as_deref(), body_secret.as_deref()) {
            prop_assert!(!c.client_id.is_empty() && c.client_id.len() <= MAX_CREDENTIAL_LEN);
            prop_assert!(
                !c.secret.expose().is_empty() && c.secret.expose().len() <= MAX_CREDENTIAL_LEN
            );
            match c.method {
                AuthMethod::Basic => {
                    prop_assert!(header.is_some() && body_secret.is_none());
                    if let Some(id) = &body_id {
                        prop_assert_eq!(id, &c.client_id);
                    }
                }
                AuthMethod::Post => {
                    prop_assert!(header.is_none());
                    prop_assert_eq!(body_id.as_deref(), Some(c.client_id.as_str()));
                    prop_assert_eq!(body_secret.as_deref(), Some(c.secret.expose()));
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(config(512))]

    /// RFC 6749 §2.3.1: `base64(urlencode(id) ":" urlencode(secret))`.
    #[test]
    fn credentials_basic_urlencoded_round_trips(
        id in credential(),
        secret in credential(),
        scheme in prop::sample::select(vec!["Basic", "basic", "BASIC"]),
        padded in any::<bool>(),
        with_body_id in any::<bool>(),
    ) {
        let raw = format!("{}:{}", encode_component(&id), encode_component(&secret));
        let b64 = if padded { STANDARD.encode(&raw) } else { STANDARD_NO_PAD.encode(&raw) };
        let header = format!("{scheme} {b64}");
        let body_id = with_body_id.then_some(id.as_str());
        let c = extract(Some(&header), body_id, None);
        prop_assert!(c.is_ok(), "{:?} for id {:?} secret {:?}", c, id, secret);
        let c = c.unwrap();
        prop_assert_eq!(&c.client_id, &id);
        prop_assert_eq!(c.secret.expose(), secret.as_str());
        prop_assert_eq!(c.method, AuthMethod::Basic);
    }

    /// Another valid encoding (every non-alphanumeric byte escaped, lower-case
    /// hex, `%20` for space) gives the same credentials.
    #[test]
    fn credentials_basic_fully_escaped_round_trips(id in credential(), secret in credential()) {
        let raw = format!("{}:{}", encode_all_lowercase(&id), encode_all_lowercase(&secret));
        let c = extract(Some(&format!("Basic {}", STANDARD.encode(raw))), None, None);
        prop_assert!(c.is_ok(), "{:?} for id {:?} secret {:?}", c, id, secret);
        let c = c.unwrap();
        prop_assert_eq!(&c.client_id, &id);
        prop_assert_eq!(c.secret.expose(), secret.as_str());
    }

    /// Credentials of the largest accepted size, every padding byte escaped:
    /// the encoded-length cap must not cut them off.
    #[test]
    fn credentials_basic_max_length_round_trips(
        id in max_len_credential(),
        secret in max_len_credential(),
    ) {
        let raw = format!("{}:{}", encode_component(&id), encode_component(&secret));
        let c = extract(Some(&format!("Basic {}", STANDARD.encode(raw))), None, None);
        prop_assert!(c.is_ok(), "{:?}", c);
        let c = c.unwrap();
        prop_assert_eq!(&c.client_id, &id);
        prop_assert_eq!(c.secret.expose(), secret.as_str());
    }

    /// Raw (not url-encoded) credentials, as many clients send them, parse
    /// unchanged as long as they contain nothing the decoder interprets
    /// (`%`, `+`) and the id has no `:`. The secret may contain `:`.
    #[test]
    fn credentials_basic_raw_without_escapes_round_trips(
        id in credential().prop_map(|s| s.replace([':', '%', '+'], "x")),
        secret in credential().prop_map(|s| s.replace(['%', '+'], "y")),
    ) {
        let c = extract(
            Some(&format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))),
            None,
            None,
        );
        prop_assert!(c.is_ok(), "{:?} for id {:?} secret {:?}", c, id, secret);
        let c = c.unwrap();
        prop_assert_eq!(&c.client_id, &id);
        prop_assert_eq!(c.secret.expose(), secret.as_str());
    }

    #[test]
    fn credentials_oversize_id_or_secret_is_invalid_client(
        short in credential(),
        extra in 1..64usize,
        long_is_id in any::<bool>(),
        basic in any::<bool>(),
    ) {
        let long = "a".repeat(MAX_CREDENTIAL_LEN + extra);
        let (id, secret) = if long_is_id { (&long, &short) } else { (&short, &long) };
        let result = if basic {
            let raw = format!("{}:{}", encode_component(id), encode_component(secret));
            extract(Some(&format!("Basic {}", STANDARD.encode(raw))), None, None)
        } else {
            extract(None, Some(id), Some(secret))
        };
        prop_assert_eq!(result, Err(OAuthError::InvalidClient));
    }
}

// ---------------------------------------------------------------------------
// scope and audience
// ---------------------------------------------------------------------------

fn client_with(
    allowed_scopes: Vec<String>,
    default_scopes: Vec<String>,
    allowed_audiences: Vec<String>,
    default_audiences: Vec<String>,
) -> ClientRecord {
    ClientRecord {
        allowed_scopes,
        default_scopes,
        allowed_audiences,
        default_audiences,
        ..ClientRecord::new("etc_p", "props", 0)
    }
}

/// A `scope` parameter value: mostly built from `pool`, sometimes garbage.
fn scope_request(pool: Vec<String>) -> impl Strategy<Value = Option<String>> {
    let from_pool = if pool.is_empty() {
        Just(String::new()).boxed()
    } else {
        prop::collection::vec(prop::sample::select(pool), 0..5)
            .prop_map(|v| v.join(" "))
            .boxed()
    };
    prop::option::of(prop_oneof![
        3 => from_pool,
        1 => prop::collection::vec(scope_token(), 0..4).prop_map(|v| v.join("  ")),
        1 => text(24),
    ])
}

/// An absolute URI as RFC 3986 §4.3 and this crate define it (scheme, `:`,
/// non-empty rest of visible ASCII without `#`; after `//`, a non-empty
/// authority).
fn absolute_uri() -> impl Strategy<Value = String> {
    prop_oneof![
        r"[a-zA-Z][a-zA-Z0-9+.\-]{0,8}:[!-\x22\x24-~]{1,24}".prop_filter(
            "an empty authority",
            |u: &String| !u
                .split_once(':')
                .is_some_and(|(_, rest)| reference_empty_authority(rest))
        ),
        r"[a-zA-Z][a-zA-Z0-9+.\-]{0,8}://[!-\x22\x24-\x2e\x30-\x3e\x40-~]{1,12}(/[!-\x22\x24-~]{0,12})?",
    ]
}

/// `//` and then nothing before `/`, `?`, `#` or the end.
fn reference_empty_authority(rest: &str) -> bool {
    let b = rest.as_bytes();
    b.len() >= 2
        && b[0] == b'/'
        && b[1] == b'/'
        && matches!(b.get(2), None | Some(b'/' | b'?' | b'#'))
}

/// A reference reading of RFC 3986 `absolute-URI` restricted the way
/// `is_absolute_uri` documents (no fragment, non-empty after the scheme,
/// an authority after `//`, visible ASCII only).
fn reference_is_absolute_uri(uri: &str) -> bool {
    let Some(colon) = uri.find(':') else {
        return false;
    };
    let (scheme, rest) = (&uri[..colon], &uri[colon + 1..]);
    let mut chars = scheme.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && !rest.is_empty()
        && !reference_empty_authority(rest)
        && uri.chars().all(|c| ('!'..='~').contains(&c) && c != '#')
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn scope_is_scope_token_matches_nqchar_grammar(s in text(24)) {
        let expected = !s.is_empty() && s.chars().all(is_nqchar);
        prop_assert_eq!(is_scope_token(&s), expected, "{:?}", s);
    }

    #[test]
    fn scope_parse_arbitrary_input_accepts_iff_all_tokens_valid(s in text(48)) {
        let pieces: Vec<&str> = s.split(' ').filter(|t| !t.is_empty()).collect();
        match parse_scope(&s) {
            Ok(tokens) => {
                prop_assert!(pieces.iter().all(|t| t.chars().all(is_nqchar)));
                let mut expected: Vec<&str> = Vec::new();
                for p in pieces {
                    if !expected.contains(&p) {
                        expected.push(p);
                    }
                }
                prop_assert_eq!(tokens, expected);
            }
            Err(e) => {
                prop_assert_eq!(e.code(), "invalid_scope");
                prop_assert!(pieces.iter().any(|t| !t.chars().all(is_nqchar)));
            }
        }
    }

    /// Up to 16 KiB of tiny scope tokens: accepted exactly within the bound
    /// (counted before de-duplication), and the bound never looks at more
    /// than `MAX_SCOPES + 1` tokens, so a huge list costs no more than a
    /// normal one (the benchmark `token_16kib_of_tiny_scopes_cached_record`
    /// measures it).
    #[test]
    fn scope_lists_bounded_before_dedup_and_checked_in_bounded_work(
        count in 0..8_000usize,
        alphabet in prop::sample::select(vec!["a", "b", "ab", "read"]),
        long in prop::option::of(MAX_SCOPE_LEN - 2..MAX_SCOPE_LEN + 3),
    ) {
        let mut tokens: Vec<String> = (0..count).map(|i| alphabet[..1 + i % alphabet.len()].to_owned()).collect();
        if let Some(n) = long {
            tokens.push("x".repeat(n));
        }
        let s = tokens.join(" ");
        let within = tokens.len() <= MAX_SCOPES
            && tokens.iter().all(|t| t.len() <= MAX_SCOPE_LEN)
            && s.len() <= MAX_SCOPE_BYTES;
        match parse_scope(&s) {
            Ok(parsed) => {
                prop_assert!(within);
                prop_assert!(parsed.len() <= tokens.len());
            }
            Err(e) => {
                prop_assert!(!within);
                prop_assert_eq!(e.code(), "invalid_scope");
            }
        }
        let pulled = std::cell::Cell::new(0usize);
        let _ = check_scopes(tokens.iter().map(|t| { pulled.set(pulled.get() + 1); t.as_str() }));
        prop_assert!(pulled.get() <= MAX_SCOPES + 1, "{} tokens examined", pulled.get());
        let pulled = std::cell::Cell::new(0usize);
        let uris: Vec<String> = (0..count.min(4_000)).map(|i| format!("urn:{}", i % 3)).collect();
        let _ = check_audiences(uris.iter().map(|t| { pulled.set(pulled.get() + 1); t.as_str() }));
        prop_assert!(pulled.get() <= MAX_AUDIENCES + 1, "{} audiences examined", pulled.get());
    }

    #[test]
    fn scope_valid_tokens_joined_by_spaces_parse_back(
        tokens in prop::collection::vec(scope_token(), 0..10),
        separators in prop::collection::vec(1..4usize, 10),
        lead in 0..3usize,
        trail in 0..3usize,
    ) {
        let mut s = " ".repeat(lead);
        for (i, t) in tokens.iter().enumerate() {
            if i > 0 {
                s.push_str(&" ".repeat(separators[i]));
            }
            s.push_str(t);
        }
        s.push_str(&" ".repeat(trail));
        let mut expected: Vec<&str> = Vec::new();
        for t in &tokens {
            if !expected.contains(&t.as_str()) {
                expected.push(t);
            }
        }
        prop_assert_eq!(parse_scope(&s), Ok(expected));
    }

    #[test]
    fn audience_is_absolute_uri_matches_reference(
        s in prop_oneof![
            text(32),
            absolute_uri(),
            // A valid URI with one interesting character inserted anywhere.
            (absolute_uri(), interesting_char(), any::<Index>()).prop_map(|(u, c, at)| {
                let at = at.index(u.len() + 1);
                let (head, tail) = u.split_at(at);
                format!("{head}{c}{tail}")
            }),
        ]
    ) {
        prop_assert_eq!(is_absolute_uri(&s), reference_is_absolute_uri(&s), "{:?}", s);
    }

    #[test]
    fn audience_generated_absolute_uri_is_accepted(uri in absolute_uri()) {
        prop_assert!(is_absolute_uri(&uri), "{:?}", uri);
    }
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn scope_grant_scopes_grants_requested_subset_or_defaults(
        (allowed, default, requested) in (
            prop::collection::vec(scope_token(), 0..5),
            prop::collection::vec(scope_token(), 0..3),
        ).prop_flat_map(|(allowed, default)| {
            let mut pool = allowed.clone();
            pool.push("not-allowed".to_owned());
            (Just(allowed), Just(default), scope_request(pool))
        })
    ) {
        let client = client_with(allowed.clone(), default.clone(), vec![], vec![]);
        // What was asked for: `None` when the parameter is malformed.
        let tokens: Option<Vec<&str>> = match requested.as_deref() {
            None => Some(Vec::new()),
            Some(s) => parse_scope(s).ok(),
        };
        match (grant_scopes(requested.as_deref(), &client), tokens) {
            (Ok(granted), Some(tokens)) if tokens.is_empty() => {
                prop_assert_eq!(granted, default);
            }
            (Ok(granted), Some(tokens)) => {
                prop_assert_eq!(&granted, &tokens);
                prop_assert!(granted.iter().all(|g| allowed.contains(g)));
            }
            (Ok(granted), None) => {
                prop_assert!(false, "granted {:?} for malformed {:?}", granted, requested);
            }
            (Err(e), tokens) => {
                prop_assert_eq!(e.code(), "invalid_scope");
                // Either malformed, or something requested is not allowed.
                prop_assert!(
                    tokens.is_none_or(|t| t.iter().any(|t| !allowed.iter().any(|a| a == t))),
                    "refused {:?} with allowed {:?}", requested, allowed
                );
            }
        }
    }

    #[test]
    fn audience_grant_audiences_arbitrary_input_stays_within_allowed(
        resources in prop::collection::vec(
            prop_oneof![
                3 => prop::sample::select(vec![
                    "https://api.example".to_owned(),
                    "urn:billing".to_owned(),
                    "https://default.example".to_owned(),
                ]),
                2 => absolute_uri(),
                1 => (absolute_uri(), interesting_char()).prop_map(|(u, c)| format!("{u}{c}")),
                1 => text(24),
                1 => Just(format!("https://{}", "a".repeat(MAX_AUDIENCE_LEN))),
            ],
            0..4,
        ),
        audience in prop::option::of(prop_oneof![
            Just("https://api.example urn:billing".to_owned()),
            prop::collection::vec(absolute_uri(), 0..20).prop_map(|v| v.join(" ")),
            text(32),
        ]),
        client_defaults in prop::sample::select(vec![vec![], vec!["urn:billing".to_owned()]]),
        config_default in prop::sample::select(vec![vec![], vec!["https://default.example".to_owned()]]),
    ) {
        let allowed = vec!["https://api.example".to_owned(), "urn:billing".to_owned()];
        let client = client_with(vec![], vec![], allowed.clone(), client_defaults.clone());
        let refs: Vec<&str> = resources.iter().map(String::as_str).collect();
        let defaults = if client_defaults.is_empty() { &config_default } else { &client_defaults };
        let result = grant_audiences(&refs, audience.as_deref(), &client, &config_default);
        if resources.iter().any(|r| !reference_is_absolute_uri(r) || r.len() > MAX_AUDIENCE_LEN) {
            prop_assert!(matches!(result, Err(OAuthError::InvalidTarget(_))), "{:?}", result);
        }
        match result {
            Ok(granted) => {
                prop_assert!(!granted.is_empty());
                let requested_any = !resources.is_empty()
                    || audience.as_deref().is_some_and(|a| a.split(' ').any(|x| !x.is_empty()));
                if requested_any {
                    prop_assert!(granted.len() <= MAX_AUDIENCES);
                    for (i, g) in granted.iter().enumerate() {
                        prop_assert!(allowed.contains(g) || defaults.contains(g), "{:?}", g);
                        prop_assert!(!granted[..i].contains(g), "duplicate {:?}", g);
                    }
                } else {
                    prop_assert_eq!(&granted, defaults);
                }
            }
            Err(e) => prop_assert_eq!(e.code(), "invalid_target"),
        }
    }
}

// ---------------------------------------------------------------------------
// token: `mint` / `verify`, and `bearer::Verifier::verify`
// ---------------------------------------------------------------------------

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn token_mint_verify_round_trips_arbitrary_claims(c in claims()) {
        let token = mint(&keys(), &c).unwrap();
        if token.len() <= MAX_TOKEN_LEN {
            prop_assert_eq!(verify(&keys(), &token), Ok(c));
        } else {
            prop_assert_eq!(verify(&keys(), &token), Err(VerifyError::Malformed));
        }
    }

    /// Any single byte replaced by any other ASCII byte (a non-ASCII byte in
    /// an all-ASCII token is not UTF-8, so no `&str` can carry it) is
    /// rejected by `token::verify` and by the resource-server `Verifier`.
    #[test]
    fn token_any_single_byte_change_fails_verify(
        c in acceptable_claims(),
        at in any::<Index>(),
        n in 0..0x7fu8,
    ) {
        let token = mint(&keys(), &c).unwrap();
        prop_assert!(token.is_ascii());
        prop_assert!(verifier().verify(&token, &[], NOW).is_ok(), "unchanged token must verify");
        let at = at.index(token.len());
        let byte = other_ascii(token.as_bytes()[at], n);
        let changed = with_byte(&token, at, byte).unwrap();
        prop_assert!(
            verify(&keys(), &changed).is_err(),
            "byte {} changed to {:?} and token::verify accepted it", at, byte as char
        );
        prop_assert!(
            verifier().verify(&changed, &[], NOW).is_err(),
            "byte {} changed to {:?} and Verifier::verify accepted it", at, byte as char
        );
    }

    /// Tokens whose claims the signer controls entirely: however the
    /// claim values are typed, `verify` never panics, and it accepts the
    /// token exactly when every registered claim has the right type. Each
    /// claim is usually well-typed, so that one wrong claim among right
    /// ones is common.
    #[test]
    fn token_signed_payload_accepted_iff_claim_types_valid(
        values in (
            claims(),
            prop::collection::vec(
                prop_oneof![
                    8 => Just(None),
                    1 => Just(Some(None)),
                    2 => json_value_or_float().prop_map(|v| Some(Some(v))),
                ],
                REGISTERED.len(),
            ),
        ),
        extra in extra_claims(),
    ) {
        // Start from well-typed claims, then drop or replace some.
        let (base, changes) = values;
        let Value::Object(base) = serde_json::to_value(&base).unwrap() else {
            unreachable!("claims serialise as an object")
        };
        let mut fields: BTreeMap<String, Value> = BTreeMap::new();
        for (name, change) in REGISTERED.iter().zip(changes) {
            let value = match change {
                None => base.get(*name).cloned().or_else(|| Some(Value::from(""))),
                Some(replacement) => replacement,
            };
            if let Some(value) = value {
                fields.insert((*name).to_owned(), value);
            }
        }
        let mut object: serde_json::Map<String, Value> = fields.clone().into_iter().collect();
        object.extend(extra.clone());
        let token = sign_raw(HEADER_JSON.as_bytes(), Value::Object(object).to_string().as_bytes());
        let string = |n: &str| matches!(fields.get(n), Some(Value::String(_)));
        let expected_ok = ["iss", "sub", "jti", "client_id"].iter().all(|n| string(n))
            && matches!(fields.get("scope"), None | Some(Value::String(_)))
            && match fields.get("aud") {
                Some(Value::String(_)) => true,
                Some(Value::Array(items)) => items.iter().all(Value::is_string),
                _ => false,
            }
            && fields.get("exp").and_then(Value::as_u64).is_some()
            && fields.get("iat").and_then(Value::as_u64).is_some();
        let result = verify(&keys(), &token);
        prop_assert!(token.len() <= MAX_TOKEN_LEN);
        prop_assert_eq!(result.is_ok(), expected_ok, "{:?} for {:?}", result, fields);
        if let Ok(claims) = result {
            prop_assert_eq!(claims.exp, fields["exp"].as_u64().unwrap());
            prop_assert_eq!(claims.iat, fields["iat"].as_u64().unwrap());
            prop_assert_eq!(claims.extra, extra);
        } else {
            prop_assert_eq!(result, Err(VerifyError::Malformed));
        }
    }

    /// The resource-server checks against an independent model: lifetime
    /// with leeway, `nbf` (which must be a non-negative integer), issuer,
    /// audience and required scopes.
    #[test]
    fn bearer_verify_matches_reference_model(
        mut c in acceptable_claims(),
        iss_ok in any::<bool>(),
        aud_ok in any::<bool>(),
        exp in prop_oneof![Just(NOW - 31), Just(NOW - 30), Just(NOW - 29), NOW - 100..NOW + 100, any::<u64>()],
        iat in prop_oneof![Just(NOW + 30), Just(NOW + 31), NOW - 100..NOW + 100, any::<u64>()],
        nbf in prop::option::of(prop_oneof![
            json_value_or_float(),
            (NOW - 100..NOW + 100).prop_map(Value::from),
        ]),
        granted in prop::collection::vec(prop::sample::select(vec!["a", "b", "c:d", ""]), 0..4),
        required in prop::collection::vec(prop::sample::select(vec!["a", "b", "c:d", "c", ""]), 0..3),
    ) {
        if !iss_ok {
            c.iss.push('x');
        }
        if !aud_ok {
            c.aud = Audience::One(format!("{AUD}/"));
        }
        c.exp = exp;
        c.iat = iat;
        if let Some(nbf) = &nbf {
            c.extra.insert("nbf".to_owned(), nbf.clone());
        }
        c.scope = granted.join(" ");
        let token = mint(&keys(), &c).unwrap();
        prop_assume!(token.len() <= MAX_TOKEN_LEN);
        let leeway = DEFAULT_LEEWAY_SECS;
        let nbf_ok = match &nbf {
            None => Some(true),
            Some(v) => v.as_u64().map(|n| n <= NOW.saturating_add(leeway)),
        };
        let result = verifier().verify(&token, &required, NOW);
        let lifetime_ok =
            NOW < exp.saturating_add(leeway) && iat <= NOW.saturating_add(leeway);
        let valid = lifetime_ok && nbf_ok == Some(true) && iss_ok && aud_ok;
        let scopes_ok = required
            .iter()
            .all(|r| !r.is_empty() && granted.contains(r));
        match result {
            Ok(claims) => {
                prop_assert!(valid && scopes_ok);
                prop_assert_eq!(claims, c);
            }
            Err(BearerError::InsufficientScope { required: r }) => {
                prop_assert!(valid && !scopes_ok);
                prop_assert_eq!(r, required.join(" "));
            }
            Err(BearerError::InvalidToken(_)) => prop_assert!(!valid),
            Err(other) => prop_assert!(false, "unexpected {:?}", other),
        }
    }
}

proptest! {
    #![proptest_config(config(64))]

    /// `mint` must not let `extra` override a registered claim (regression:
    /// it once wrote both, `{"iss":"<real>",...,"iss":"<extra>"}`, and
    /// `verify` kept the last duplicate). The service never passes such
    /// names, but `token::mint` is public.
    #[test]
    fn token_mint_extra_named_like_registered_claim_never_overrides_it(
        c in claims(),
        overrides in prop::collection::btree_map(
            prop::sample::select(REGISTERED.to_vec()).prop_map(str::to_owned),
            json_value(),
            1..4,
        ),
    ) {
        let mut with_overrides = c.clone();
        with_overrides.extra.extend(overrides);
        let token = mint(&keys(), &with_overrides).unwrap();
        prop_assume!(token.len() <= MAX_TOKEN_LEN);
        let got = verify(&keys(), &token);
        prop_assert!(got.is_ok(), "mint made a token verify rejects: {:?}", got);
        let got = got.unwrap();
        prop_assert_eq!(
            (&got.iss, &got.sub, &got.aud, got.exp, got.iat, &got.jti, &got.client_id, &got.scope),
            (&c.iss, &c.sub, &c.aud, c.exp, c.iat, &c.jti, &c.client_id, &c.scope)
        );
    }
}

/// Every position of one token, every other byte value (all 255): each
/// change is either not UTF-8 (cannot reach `verify`) or rejected.
#[test]
fn token_exhaustive_single_byte_changes_fail_verify() {
    let c = AccessTokenClaims {
        iss: ISS.to_owned(),
        sub: "etc_abc".to_owned(),
        aud: Audience::Many(vec![AUD.to_owned(), "urn:b".to_owned()]),
        exp: NOW + 300,
        iat: NOW,
        jti: "j1".to_owned(),
        client_id: "etc_abc".to_owned(),
        scope: "read write".to_owned(),
        extra: BTreeMap::from([("tenant".to_owned(), Value::from("t1"))]),
    };
    let token = mint(&keys(), &c).unwrap();
    let verifier = verifier();
    assert!(verifier.verify(&token, &["read"], NOW).is_ok());
    let mut checked = 0usize;
    for at in 0..token.len() {
        for byte in 0..=u8::MAX {
            if byte == token.as_bytes()[at] {
                continue;
            }
            let Some(changed) = with_byte(&token, at, byte) else {
                continue;
            };
            assert!(
                verify(&keys(), &changed).is_err(),
                "byte {at} -> {byte:#04x}: token::verify accepted"
            );
            assert!(
                verifier.verify(&changed, &["read"], NOW).is_err(),
                "byte {at} -> {byte:#04x}: Verifier::verify accepted"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, token.len() * 127);
}

/// Inputs that get past each of `verify`'s early checks in turn.
fn token_like() -> impl Strategy<Value = String> {
    let b64 =
        |max| prop::collection::vec(any::<u8>(), 0..max).prop_map(|b| URL_SAFE_NO_PAD.encode(b));
    prop_oneof![
        text(96),
        prop::collection::vec(any::<u8>(), 0..256)
            .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        (b64(48), b64(96), b64(40)).prop_map(|(h, p, s)| format!("{h}.{p}.{s}")),
        (json_value(), b64(96), b64(40))
            .prop_map(|(h, p, s)| { format!("{}.{p}.{s}", URL_SAFE_NO_PAD.encode(h.to_string())) }),
        (b64(96), b64(40))
            .prop_map(|(p, s)| format!("{}.{p}.{s}", URL_SAFE_NO_PAD.encode(HEADER_JSON))),
        prop::collection::vec(any::<u8>(), 0..256)
            .prop_map(|payload| sign_raw(HEADER_JSON.as_bytes(), &payload)),
        (text(24), text(24)).prop_map(|(h, p)| format!("{h}.{p}.")),
    ]
}

proptest! {
    #![proptest_config(config(1024))]

    #[test]
    fn token_verify_arbitrary_input_never_panics(t in token_like()) {
        match verify(&keys(), &t) {
            Ok(claims) => {
                // Only a correctly signed token can succeed.
                let (signing_input, _) = t.rsplit_once('.').unwrap();
                let mut mac = Hmac::<Sha256>::new_from_slice(RAW_KEY).unwrap();
                mac.update(signing_input.as_bytes());
                prop_assert!(t.ends_with(&URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())));
                prop_assert_eq!(verifier().verify(&t, &[], NOW).is_ok(),
                    claims.iss == ISS && claims.aud.contains(AUD)
                        && NOW < claims.exp.saturating_add(DEFAULT_LEEWAY_SECS)
                        && claims.iat <= NOW + DEFAULT_LEEWAY_SECS
                        && claims.extra.get("nbf").is_none_or(|n| n.as_u64().is_some_and(|n| n <= NOW + DEFAULT_LEEWAY_SECS)));
            }
            Err(_) => prop_assert!(verifier().verify(&t, &[], NOW).is_err()),
        }
    }

    #[test]
    fn bearer_extract_arbitrary_header_never_panics(
        header in prop::option::of(prop_oneof![
            text(48),
            text(48).prop_map(|t| format!("Bearer {t}")),
            token_like().prop_map(|t| format!("bearer  {t}")),
        ])
    ) {
        if let Ok(t) = extract_bearer(header.as_deref()) {
            let body = t.trim_end_matches('=');
            prop_assert!(!body.is_empty());
            prop_assert!(body.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~+/".contains(&b)));
            prop_assert!(header.as_deref().is_some_and(|h| h.contains(t)));
        }
    }

    #[test]
    fn bearer_extract_well_formed_header_returns_token(
        token in r"[A-Za-z0-9\-._~+/]{1,64}={0,2}",
        scheme in prop::sample::select(vec!["Bearer", "bearer", "BEARER", "bEaReR"]),
        spaces in 1..4usize,
        outer in prop::sample::select(vec!["", " ", "\t", " \t "]),
    ) {
        let header = format!("{outer}{scheme}{}{token}{outer}", " ".repeat(spaces));
        prop_assert_eq!(extract_bearer(Some(&header)), Ok(token.as_str()));
    }
}

proptest! {
    #![proptest_config(config(48))]

    /// `verify` reads at most `MAX_TOKEN_LEN` bytes: a correctly signed token
    /// is accepted up to that size and rejected (as malformed, before any
    /// decoding) beyond it; so is any junk that long.
    #[test]
    fn token_verify_size_bound_is_max_token_len(
        sub_len in (MAX_TOKEN_LEN * 3 / 4 - 260)..(MAX_TOKEN_LEN * 3 / 4 - 120),
        junk_extra in 1..4096usize,
    ) {
        let c = AccessTokenClaims {
            iss: ISS.to_owned(),
            sub: "s".repeat(sub_len),
            aud: Audience::One(AUD.to_owned()),
            exp: NOW + 300,
            iat: NOW,
            jti: "j".to_owned(),
            client_id: "c".to_owned(),
            scope: String::new(),
            extra: BTreeMap::new(),
        };
        let token = mint(&keys(), &c).unwrap();
        let result = verify(&keys(), &token);
        if token.len() <= MAX_TOKEN_LEN {
            prop_assert_eq!(result, Ok(c));
        } else {
            prop_assert_eq!(result, Err(VerifyError::Malformed));
            prop_assert_eq!(
                verifier().verify(&token, &[], NOW),
                Err(BearerError::InvalidToken("malformed token"))
            );
        }
        // Anything appended fails; past the limit, before any decoding.
        let junk = format!("{token}{}", "A".repeat(junk_extra));
        let result = verify(&keys(), &junk);
        if junk.len() > MAX_TOKEN_LEN {
            prop_assert_eq!(result, Err(VerifyError::Malformed));
        } else {
            prop_assert!(result.is_err(), "{} bytes appended and still valid", junk_extra);
        }
    }
}

/// The size window above really straddles the limit.
#[test]
fn token_verify_size_window_straddles_limit() {
    let len = |sub_len: usize| {
        let c = AccessTokenClaims {
            iss: ISS.to_owned(),
            sub: "s".repeat(sub_len),
            aud: Audience::One(AUD.to_owned()),
            exp: NOW + 300,
            iat: NOW,
            jti: "j".to_owned(),
            client_id: "c".to_owned(),
            scope: String::new(),
            extra: BTreeMap::new(),
        };
        mint(&keys(), &c).unwrap().len()
    };
    assert!(len(MAX_TOKEN_LEN * 3 / 4 - 260) < MAX_TOKEN_LEN);
    assert!(len(MAX_TOKEN_LEN * 3 / 4 - 121) > MAX_TOKEN_LEN);
}
