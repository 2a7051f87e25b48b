//! Token verification: `token::verify`, `bearer::Verifier::verify`,
//! `bearer::extract_bearer` and the `WWW-Authenticate` rendering.
//!
//! Input layout (first byte = mode):
//!
//! * mode 0 (`b % 4 == 0`): the rest is the token (lossy UTF-8).
//! * mode 1: `[idx] ops...`: start from known token `idx` (minted by the
//!   real `mint`, see `edge_token_fuzz::known_tokens`) and apply 4-byte
//!   edits `[op, pos_lo, pos_hi, val]` (see `mutate`), so the fuzzer
//!   explores near-valid tokens: flipped characters, re-encoded segments,
//!   segments swapped between tokens, edited decoded JSON.
//! * mode 2: `[idx] [len] header-json... rest=payload-json`: known token
//!   `idx` with its header and payload replaced by base64url of the given
//!   bytes (the signature kept), so alg/typ/kid/claims parsing is reached.
//! * mode 3: `[key] [len] header-json... rest=payload-json`, signed here
//!   with the real key k1 (`key % 3 == 0`), k2 (1) or a key the verifier
//!   does not hold (2): arbitrary *signed* headers and claims, so the checks
//!   after the signature (alg/typ pinning, claim types, lifetime, issuer,
//!   audience, scopes) see everything.
//!
//! The verifier's `now` (around `NOW`, before and after expiry) and the
//! required scopes come from the mode byte's high bits and the token length.
//!
//! Oracle: in modes 0-2, anything `token::verify` accepts must be
//! byte-identical to a minted token and yield its exact claims (a mutated
//! token that verifies is a forgery, whatever base64 quirk allowed it). In
//! mode 3, only a token signed with a held key, whose header says exactly
//! `alg` HS256 and `typ` at+jwt, verifies, with the payload's claims. In all
//! modes, `Verifier::verify` accepts
//! only what `token::verify` accepts and only when lifetime, issuer,
//! audience and scopes hold; extraction and rendering never break the header
//! grammar.
#![no_main]
// Test code: a failed fixture or assertion is a failed run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use libfuzzer_sys::fuzz_target;

use edge_token_core::bearer::{extract_bearer, BearerError, Verifier, DEFAULT_LEEWAY_SECS};
use edge_token_core::token::{self, AccessTokenClaims, KeySet};
use edge_token_fuzz::{
    clients, keyset, known_tokens, Input, KnownToken, API, ISSUER, KEY1, KEY2, NOW,
};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

struct Fixture {
    keys: KeySet,
    verifier: Verifier,
    tokens: Vec<KnownToken>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let keys = keyset();
        let tokens = known_tokens(&clients());
        for t in &tokens {
            // Every minted token must verify as itself: the positive side.
            assert_eq!(token::verify(&keys, &t.token).as_ref(), Ok(&t.claims));
        }
        Fixture {
            verifier: Verifier::new(keys.clone(), ISSUER, API),
            keys,
            tokens,
        }
    })
}

/// Applies 4-byte edits to `token`.
fn mutate(token: &str, input: &mut Input, tokens: &[KnownToken]) -> Vec<u8> {
    let mut bytes = token.as_bytes().to_vec();
    let mut rounds = 0;
    while !input.is_empty() && rounds < 16 {
        rounds += 1;
        let op = input.byte();
        let pos = usize::from(input.u16());
        let val = input.byte();
        let len = bytes.len();
        let at = if len == 0 { 0 } else { pos % len };
        match op % 10 {
            // Replace one byte.
            0 => {
                if let Some(b) = bytes.get_mut(at) {
                    *b = val;
                }
            }
            // Replace one byte with a base64url character (stays "well-formed").
            1 => {
                const ALPHABET: &[u8] =
                    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
                if let Some(b) = bytes.get_mut(at) {
                    *b = ALPHABET[usize::from(val) % ALPHABET.len()];
                }
            }
            // Insert a byte.
            2 => bytes.insert(at.min(len), val),
            // Delete a byte.
            3 => {
                if at < len {
                    bytes.remove(at);
                }
            }
            // Truncate.
            4 => bytes.truncate(at),
            // Append padding or a dot.
            5 => bytes.push(if val & 1 == 0 { b'=' } else { b'.' }),
            // Replace segment `pos % 3` with the same segment of another token.
            6 => {
                let other = &tokens[usize::from(val) % tokens.len()].token;
                let seg = pos % 3;
                bytes = splice_segment(&bytes, seg, other.split('.').nth(seg).unwrap_or(""));
            }
            // Flip the last bits of a segment's last character (non-canonical base64).
            7 => {
                let seg = pos % 3;
                let mut parts: Vec<Vec<u8>> =
                    bytes.split(|b| *b == b'.').map(<[u8]>::to_vec).collect();
                if let Some(last) = parts.get_mut(seg).and_then(|p| p.last_mut()) {
                    if let Some(i) = decode_char(*last) {
                        *last = encode_char((i & !3) | (val & 3));
                    }
                }
                bytes = parts.join(&b'.');
            }
            // Edit one byte of a segment's decoded bytes and re-encode canonically.
            8 => {
                let seg = pos % 3;
                let part = bytes.split(|b| *b == b'.').nth(seg).unwrap_or(&[]);
                if let Ok(mut raw) = URL_SAFE_NO_PAD.decode(part) {
                    if !raw.is_empty() {
                        let i = (pos >> 2) % raw.len();
                        raw[i] = val;
                    }
                    let enc = URL_SAFE_NO_PAD.encode(raw);
                    bytes = splice_segment(&bytes, seg, &enc);
                }
            }
            // Swap case of a character.
            _ => {
                if let Some(b) = bytes.get_mut(at) {
                    if b.is_ascii_alphabetic() {
                        *b ^= 0x20;
                    }
                }
            }
        }
    }
    bytes
}

fn splice_segment(bytes: &[u8], seg: usize, with: &str) -> Vec<u8> {
    let mut parts: Vec<Vec<u8>> = bytes.split(|b| *b == b'.').map(<[u8]>::to_vec).collect();
    if let Some(p) = parts.get_mut(seg) {
        *p = with.as_bytes().to_vec();
    }
    parts.join(&b'.')
}

fn decode_char(c: u8) -> Option<u8> {
    match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    }
}

fn encode_char(i: u8) -> u8 {
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"[usize::from(i & 63)]
}

/// Only the characters RFC 6750 §3 allows, no CR/LF, and balanced quotes.
fn check_challenge(value: &str) {
    assert!(value.starts_with("Bearer realm=\""), "{value:?}");
    assert!(
        value.bytes().all(|b| (0x20..=0x7e).contains(&b)),
        "WWW-Authenticate has a character outside %x20-7E: {value:?}"
    );
    assert!(!value.contains('\\'), "{value:?}");
    assert_eq!(value.matches('"').count() % 2, 0, "{value:?}");
}

fn check_error(e: &BearerError, realm: &str) {
    let response = e.render(realm);
    assert_eq!(response.status, e.status());
    assert!(matches!(response.status, 400 | 401 | 403));
    let body: serde_json::Value =
        serde_json::from_str(&response.body).expect("bearer error body is JSON");
    assert!(body.is_object());
    assert_eq!(response.header("Cache-Control"), Some("no-store"));
    let challenge = response
        .header("WWW-Authenticate")
        .expect("every bearer error has a challenge");
    check_challenge(challenge);
    // Each parameter appears once: the realm cannot inject another `error=`.
    if e.code().is_some() {
        assert_eq!(challenge.matches(", error=\"").count(), 1, "{challenge:?}");
    }
}

/// `FUZZ_DEBUG=1`: print each token and both verdicts (to check what seeds reach).
fn debug() -> bool {
    static D: OnceLock<bool> = OnceLock::new();
    *D.get_or_init(|| std::env::var_os("FUZZ_DEBUG").is_some())
}

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    let mut input = Input::new(data);
    let mode = input.byte();
    // Mode 3: which held key (kid, bytes) signed, or `Some(None)` for a foreign key.
    let mut signed_by: Option<Option<(&str, &[u8; 32])>> = None;
    let mut signed_parts: (&[u8], &[u8]) = (&[], &[]);
    let token_bytes: Vec<u8> = match mode % 4 {
        0 => input.rest().to_vec(),
        1 => {
            let base = &f.tokens[usize::from(input.byte()) % f.tokens.len()];
            mutate(&base.token, &mut input, &f.tokens)
        }
        3 => {
            let key: Option<(&str, &[u8; 32])> = match input.byte() % 3 {
                0 => Some(("k1", KEY1)),
                1 => Some(("k2", KEY2)),
                _ => None,
            };
            let header = input.bytes();
            let payload = input.rest();
            signed_by = Some(key);
            signed_parts = (header, payload);
            let mut t = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header),
                URL_SAFE_NO_PAD.encode(payload)
            );
            let mut mac = Hmac::<Sha256>::new_from_slice(key.map_or(&[0x42; 32], |k| k.1))
                .expect("HMAC takes any key length");
            mac.update(t.as_bytes());
            t.push('.');
            t.push_str(&URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()));
            t.into_bytes()
        }
        _ => {
            let base = &f.tokens[usize::from(input.byte()) % f.tokens.len()];
            let header = input.bytes();
            let payload = input.rest();
            let sig = base.token.rsplit('.').next().unwrap_or("");
            format!(
                "{}.{}.{sig}",
                URL_SAFE_NO_PAD.encode(header),
                URL_SAFE_NO_PAD.encode(payload)
            )
            .into_bytes()
        }
    };
    let token = String::from_utf8_lossy(&token_bytes);
    let token: &str = &token;

    // 1. The signature check: accepted means minted, byte for byte (or, in
    // mode 3, signed by a held key with a pinned header and these claims).
    let verified = token::verify(&f.keys, token);
    if let (Some(key), Ok(claims)) = (signed_by, &verified) {
        let (header, payload) = signed_parts;
        let Some((kid, _)) = key else {
            panic!("verified a token signed with a key not in the set: {token:?}");
        };
        let header: Value = serde_json::from_slice(header).expect("accepted header is JSON");
        assert_eq!(
            header["kid"], kid,
            "accepted a token whose kid names another key"
        );
        assert_eq!(header["alg"], "HS256", "accepted alg {header}");
        let typ = header["typ"].as_str().unwrap_or_default();
        assert!(
            typ.eq_ignore_ascii_case("at+jwt") || typ.eq_ignore_ascii_case("application/at+jwt"),
            "accepted typ {header}"
        );
        let expected: AccessTokenClaims =
            serde_json::from_slice(payload).expect("accepted payload parses as claims");
        assert_eq!(claims, &expected);
    } else if let Ok(claims) = &verified {
        let Some(original) = f.tokens.iter().find(|t| t.token == token) else {
            panic!(
                "FORGERY: token::verify accepted a token that was never minted: {token:?} \
                 (claims {claims:?})"
            );
        };
        assert_eq!(
            claims, &original.claims,
            "verified claims differ from minted ones"
        );
    }

    // 2. The resource-server check, at a time and with scopes from the input.
    let now = NOW - 512 + u64::from(mode >> 2) * 8 + (token.len() as u64 % 8);
    let scope_sets: [&[&str]; 5] = [&[], &["read"], &["read", "write"], &["admin:all"], &[""]];
    let required = scope_sets[usize::from(mode >> 5) % scope_sets.len()];
    let checked = f.verifier.verify(token, required, now);
    if debug() {
        eprintln!("{token:?}\n  token::verify: {verified:?}\n  Verifier::verify(now={now}, {required:?}): {checked:?}");
    }
    match checked {
        Ok(claims) => {
            assert_eq!(
                verified.as_ref().ok(),
                Some(&claims),
                "Verifier accepted what token::verify did not"
            );
            assert!(now < claims.exp + DEFAULT_LEEWAY_SECS);
            assert!(claims.iat <= now + DEFAULT_LEEWAY_SECS);
            if let Some(nbf) = claims.extra.get("nbf") {
                assert!(nbf.as_u64().is_some_and(|n| n <= now + DEFAULT_LEEWAY_SECS));
            }
            assert_eq!(claims.iss, ISSUER);
            assert!(claims.aud.contains(API));
            for r in required {
                assert!(claims.scope.split(' ').any(|g| !g.is_empty() && g == *r));
            }
        }
        Err(e) => {
            check_error(&e, "api");
            if verified.is_err() {
                assert!(matches!(e, BearerError::InvalidToken(_)), "{e:?}");
            }
        }
    }

    // 3. Extraction from a header, and error rendering with a hostile realm.
    let header = format!("Bearer {token}");
    match extract_bearer(Some(&header)) {
        Ok(t) => {
            assert!(header.contains(t));
            assert!(!t.is_empty() && !t.contains([' ', '\t', ',', '"']), "{t:?}");
        }
        Err(e) => {
            assert!(!matches!(e, BearerError::InvalidToken(_)));
            check_error(&e, token);
        }
    }
    if let Some(known) = f.tokens.iter().find(|t| t.token == token) {
        assert_eq!(extract_bearer(Some(&header)), Ok(known.token.as_str()));
    }
    // The raw input as a whole header value (any scheme, any spacing).
    match extract_bearer(Some(token)) {
        Ok(t) => {
            assert!(token.contains(t));
            let scheme = token
                .trim_matches([' ', '\t'])
                .split(' ')
                .next()
                .unwrap_or("");
            assert!(scheme.eq_ignore_ascii_case("bearer"), "{token:?}");
        }
        Err(e) => check_error(&e, token),
    }
    check_challenge(
        &BearerError::InsufficientScope {
            required: token.to_owned(),
        }
        .www_authenticate(token),
    );
});
