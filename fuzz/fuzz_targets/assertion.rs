//! `private_key_jwt` client assertions: `Assertion::parse`, `check_claims`,
//! `candidates` and the pure-Rust `check_signature`.
//!
//! Input layout (first byte = mode):
//!
//! * mode 0 (even): the rest is the assertion (lossy UTF-8).
//! * mode 1 (odd): `[len] header-json... rest=claims-json`, signed here with
//!   the registered ES256 key: arbitrary *signed* headers and claims.
//!
//! Oracle: nothing panics; a signature that checks out is one made here
//! (mode 1, with the registered key); `check_claims` accepts only claims
//! with `iss` = `sub` = the client, our audience, a bounded `exp` and a
//! `jti`; `candidates` never offers a key whose algorithm rejects the
//! header's `alg` (so `none` and HMAC never reach a signature check).
#![no_main]
// Test code: a failed fixture or assertion is a failed run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use edge_token_core::assertion::{check_signature, signature_len_ok, Assertion};
use edge_token_core::client_key::{ClientKey, ClientKeyAlg};
use edge_token_testkit::{jws_signature, public_jwk, EDDSA_KEY, ES256_KEY};
use libfuzzer_sys::fuzz_target;

const NOW: u64 = 1_700_000_000;
const AUD: &str = "https://auth.example";

fn keys() -> Vec<ClientKey> {
    [(ES256_KEY, "ES256"), (EDDSA_KEY, "EdDSA")]
        .iter()
        .map(|(k, alg)| {
            let mut jwk = public_jwk(k);
            jwk["alg"] = (*alg).into();
            ClientKey::from_jwk(&jwk, None, 0).unwrap()
        })
        .collect()
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (raw, signed_here) = if mode % 2 == 0 {
        (String::from_utf8_lossy(rest).into_owned(), false)
    } else {
        let Some((&len, rest)) = rest.split_first() else {
            return;
        };
        let cut = usize::from(len).min(rest.len());
        let (header, claims) = rest.split_at(cut);
        let input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims)
        );
        let sig = jws_signature(ES256_KEY, "ES256", input.as_bytes());
        (format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig)), true)
    };
    let Ok(assertion) = Assertion::parse(&raw) else {
        return;
    };
    let now = NOW + u64::from(mode / 2) * 97;
    if assertion.check_claims(&[AUD], now, 30).is_ok() {
        let claims: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(raw.split('.').nth(1).unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(claims["iss"], claims["sub"]);
        assert!(!assertion.jti().is_empty() && assertion.jti().len() <= 256);
        assert!(assertion.exp() + 30 > now && assertion.exp() <= now + 3630);
        let aud_ok = claims["aud"] == AUD
            || claims["aud"]
                .as_array()
                .is_some_and(|a| a.iter().any(|v| v == AUD));
        assert!(aud_ok, "{claims}");
    }
    let keys = keys();
    if let Ok(candidates) = assertion.candidates(&keys) {
        for key in candidates {
            let alg = ClientKeyAlg::from_name(&key.alg).unwrap();
            assert!(alg.accepts(assertion.alg()));
            if !signature_len_ok(key, assertion.signature()) {
                continue;
            }
            let ok = check_signature(key, assertion.signing_input(), assertion.signature()).unwrap();
            if ok {
                assert!(signed_here && key.alg == "ES256", "a forgery verified");
            }
        }
    }
});
