//! Interop of asymmetrically signed tokens: three third-party verifiers
//! fetch the real issuer's `jwks_uri` and check its ES256 and EdDSA tokens,
//! and refuse a token whose key has since been removed from `SIGNING_KEYS`:
//!
//! * `jose` (npm, pinned in package.json) `createRemoteJWKSet` + `jwtVerify`,
//!   inside a JS Worker on workerd (tests/interop/jose-worker);
//! * PyJWT's `PyJWKClient` (scripts/interop-requirements.txt, in a venv made
//!   by scripts/interop-venv.sh), through tests/interop/pyjwt_verify.py;
//! * the Rust `jsonwebtoken` crate (`JwkSet`, `DecodingKey::from_jwk`).
//!
//! The alg name of an Ed25519 key: `EdDSA` works everywhere; RFC 9864's
//! `Ed25519` works with jose only. PyJWT and jsonwebtoken refuse it (the
//! tests below assert how), so an issuer whose APIs use them must name its
//! Ed25519 keys `EdDSA`.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use crate::asym::{
    ed25519_issuer, eddsa_issuer, es256_issuer, fetch_jwks, issue, jwks_uri, signing_keys, split,
    start_issuer, tampered, TestKey, AUDIENCE,
};
use crate::harness::{interop_python, Setup, Worker, ROOT};
use crate::ISSUER;

// --- jose, in a Worker -----------------------------------------------------

/// The jose Worker, its `JWKS_URI` the ES256 issuer's jwks_uri.
fn jose() -> &'static Worker {
    static JOSE: OnceLock<Worker> = OnceLock::new();
    JOSE.get_or_init(|| {
        let root = Path::new(ROOT);
        assert!(
            root.join("node_modules/jose/package.json").is_file(),
            "jose is not installed: run `make install` (npm ci from package-lock.json)"
        );
        let uri = jwks_uri(&es256_issuer().issuer.w);
        Worker::start_custom(
            &root.join("crates/edge-token-worker/tests/interop/jose-worker/index.js"),
            "jose",
            &[
                ("JWKS_URI", &uri),
                ("ISSUER", ISSUER),
                ("AUDIENCE", AUDIENCE),
            ],
            "",
            false,
            None,
            &Setup {
                no_kv_binding: true,
                js_main: true,
                ..Setup::default()
            },
        )
    })
}

/// jose's verdict on `token`: against the Worker's `JWKS_URI` var when
/// `jwks_uri` is `None`, else against that set (fetched for the request).
fn jose_verify(token: &str, jwks_uri: Option<&str>, algorithms: &[&str]) -> serde_json::Value {
    let mut body = serde_json::json!({"token": token, "algorithms": algorithms});
    if let Some(uri) = jwks_uri {
        body["jwks_uri"] = uri.into();
    }
    let r = jose().post(
        "/verify",
        &[("Content-Type", "application/json")],
        &body.to_string(),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()
}

// --- PyJWT ------------------------------------------------------------------

/// PyJWT's verdict on `token` against the JWK Set at `jwks_uri`.
fn pyjwt_verify(
    token: &str,
    jwks_uri: &str,
    algorithms: &str,
    key_alg: Option<&str>,
) -> serde_json::Value {
    let mut cmd = Command::new(interop_python());
    cmd.arg(Path::new(ROOT).join("crates/edge-token-worker/tests/interop/pyjwt_verify.py"))
        .args([
            "--jwks-uri",
            jwks_uri,
            "--issuer",
            ISSUER,
            "--audience",
            AUDIENCE,
        ])
        .args(["--algorithms", algorithms]);
    if let Some(alg) = key_alg {
        cmd.args(["--key-alg", alg]);
    }
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run pyjwt_verify.py");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(token.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pyjwt_verify.py failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

// --- jsonwebtoken -----------------------------------------------------------

/// How an API would use jsonwebtoken with a JWK Set: the key by the
/// header's kid, its algorithm from the JWK (never from the header), then
/// `decode` with the issuer and audience required.
fn jsonwebtoken_verify(jwks_json: &str, token: &str) -> Result<serde_json::Value, String> {
    let set: JwkSet = serde_json::from_str(jwks_json).map_err(|e| format!("JwkSet: {e}"))?;
    let header = jsonwebtoken::decode_header(token).map_err(|e| format!("header: {e:?}"))?;
    let kid = header.kid.ok_or("no kid")?;
    let jwk = set
        .find(&kid)
        .ok_or(format!("no key {kid:?} in the JWK Set"))?;
    let alg = Algorithm::try_from(jwk.common.key_algorithm.ok_or("the JWK has no alg")?)
        .map_err(|e| format!("JWK alg: {e:?}"))?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("DecodingKey: {e:?}"))?;
    let data = jsonwebtoken::decode::<serde_json::Value>(token, &key, &validation(alg))
        .map_err(|e| format!("decode: {e:?}"))?;
    Ok(data.claims)
}

fn validation(alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.set_issuer(&[ISSUER]);
    v.set_audience(&[AUDIENCE]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v
}

// --- all three ----------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Verifier {
    Jose,
    PyJwt,
    JsonWebToken,
}

const VERIFIERS: [Verifier; 3] = [Verifier::Jose, Verifier::PyJwt, Verifier::JsonWebToken];

/// `verifier`'s verdict on `token` against `w`'s JWK Set (fetched now, from
/// its jwks_uri): the claims, or why not.
fn verify_with(verifier: Verifier, w: &Worker, token: &str) -> Result<serde_json::Value, String> {
    let uri = jwks_uri(w);
    let v = match verifier {
        Verifier::Jose => jose_verify(token, Some(&uri), &["ES256", "EdDSA"]),
        Verifier::PyJwt => pyjwt_verify(token, &uri, "ES256,EdDSA", None),
        Verifier::JsonWebToken => return jsonwebtoken_verify(&fetch_jwks(w), token),
    };
    if v["ok"] == true {
        Ok(v["claims"].clone())
    } else {
        Err(v.to_string())
    }
}

#[track_caller]
fn assert_claims_of(claims: &serde_json::Value, token: &str) {
    let expected = split(token).claims;
    assert_eq!(claims, &expected);
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["aud"], AUDIENCE);
}

#[test]
fn interop_jose_worker_verifies_es256_eddsa_and_ed25519() {
    let es = es256_issuer();
    let token = es.issuer.token();
    // Through the JWKS_URI var: the key set jose caches for the isolate.
    let v = jose_verify(&token, None, &["ES256", "EdDSA"]);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(
        (&v["alg"], &v["kid"]),
        (&"ES256".into(), &es.es.kid.as_str().into())
    );
    assert_claims_of(&v["claims"], &token);
    let again = es.issuer.token();
    assert_eq!(jose_verify(&again, None, &["ES256"])["ok"], true);
    let bad = jose_verify(&tampered(&token), None, &["ES256"]);
    assert_eq!(
        bad["code"], "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
        "{bad}"
    );
    assert_eq!(
        jose_verify(&token, None, &["EdDSA"])["code"],
        "ERR_JOSE_ALG_NOT_ALLOWED"
    );

    let ed = eddsa_issuer();
    let token = ed.issuer.token();
    let v = verify_with(Verifier::Jose, &ed.issuer.w, &token).unwrap();
    assert_claims_of(&v, &token);
    let bad = jose_verify(&tampered(&token), Some(&jwks_uri(&ed.issuer.w)), &["EdDSA"]);
    assert_eq!(
        bad["code"], "ERR_JWS_SIGNATURE_VERIFICATION_FAILED",
        "{bad}"
    );

    // jose knows RFC 9864's name too, as an algorithm of its own: allowed by
    // name, and only as Ed25519 (the key's alg is Ed25519 as well).
    let ed25519 = ed25519_issuer();
    let token = ed25519.issuer.token();
    let uri = jwks_uri(&ed25519.issuer.w);
    let v = jose_verify(&token, Some(&uri), &["Ed25519"]);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["alg"], "Ed25519");
    assert_claims_of(&v["claims"], &token);
    let v = jose_verify(&token, Some(&uri), &["ES256", "EdDSA"]);
    assert_eq!(v["code"], "ERR_JOSE_ALG_NOT_ALLOWED", "{v}");
}

#[test]
fn interop_pyjwt_verifies_es256_and_eddsa_and_refuses_ed25519() {
    let es = es256_issuer();
    let token = es.issuer.token();
    let uri = jwks_uri(&es.issuer.w);
    let v = pyjwt_verify(&token, &uri, "ES256", None);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(
        (&v["alg"], &v["kid"]),
        (&"ES256".into(), &es.es.kid.as_str().into())
    );
    assert_claims_of(&v["claims"], &token);
    let bad = pyjwt_verify(&tampered(&token), &uri, "ES256", None);
    assert_eq!(bad["error"], "InvalidSignatureError", "{bad}");

    let ed = eddsa_issuer();
    let token = ed.issuer.token();
    let uri = jwks_uri(&ed.issuer.w);
    let v = pyjwt_verify(&token, &uri, "EdDSA", None);
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["alg"], "EdDSA");
    assert_claims_of(&v["claims"], &token);
    let bad = pyjwt_verify(&tampered(&token), &uri, "EdDSA", None);
    assert_eq!(bad["error"], "InvalidSignatureError", "{bad}");

    // PyJWT has no algorithm named Ed25519: PyJWKClient skips the JWK whose
    // alg it is (so no key matches the kid), and with the key read as
    // EdDSA the header's alg Ed25519 is refused all the same.
    let ed25519 = ed25519_issuer();
    let token = ed25519.issuer.token();
    let uri = jwks_uri(&ed25519.issuer.w);
    let v = pyjwt_verify(&token, &uri, "EdDSA,Ed25519", None);
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["error"], "PyJWKClientError", "{v}");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("Unable to find a signing key"),
        "{v}"
    );
    let v = pyjwt_verify(&token, &uri, "EdDSA,Ed25519", Some("EdDSA"));
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["error"], "InvalidAlgorithmError", "{v}");
    assert_eq!(v["message"], "Algorithm not supported", "{v}");
}

#[test]
fn interop_jsonwebtoken_verifies_es256_and_eddsa_and_refuses_ed25519() {
    let es = es256_issuer();
    let token = es.issuer.token();
    let jwks = fetch_jwks(&es.issuer.w);
    assert_claims_of(&jsonwebtoken_verify(&jwks, &token).unwrap(), &token);
    let err = jsonwebtoken_verify(&jwks, &tampered(&token)).unwrap_err();
    assert!(err.contains("InvalidSignature"), "{err}");

    let ed = eddsa_issuer();
    let token = ed.issuer.token();
    let jwks = fetch_jwks(&ed.issuer.w);
    assert_claims_of(&jsonwebtoken_verify(&jwks, &token).unwrap(), &token);
    let err = jsonwebtoken_verify(&jwks, &tampered(&token)).unwrap_err();
    assert!(err.contains("InvalidSignature"), "{err}");

    // jsonwebtoken reads the JWK Set with an Ed25519-named key (its alg an
    // unknown algorithm, the key itself usable), but a token whose header
    // says Ed25519 cannot be decoded, whatever the validation allows.
    let ed25519 = ed25519_issuer();
    let token = ed25519.issuer.token();
    let jwks = fetch_jwks(&ed25519.issuer.w);
    let set: JwkSet = serde_json::from_str(&jwks).expect("the JWK Set parses");
    let jwk = set.find(&ed25519.ed.kid).expect("the Ed25519 key is read");
    assert_eq!(
        jwk.common.key_algorithm,
        Some(KeyAlgorithm::UNKNOWN_ALGORITHM)
    );
    let key = DecodingKey::from_jwk(jwk).expect("the key itself is usable");
    // The header does not parse: "Ed25519" is no variant of its Algorithm.
    let unknown_alg = |e: &jsonwebtoken::errors::Error| matches!(e.kind(), ErrorKind::Json(j) if j.to_string().contains("unknown variant `Ed25519`"));
    let err = jsonwebtoken::decode_header(&token).unwrap_err();
    assert!(unknown_alg(&err), "{err:?}");
    let err =
        jsonwebtoken::decode::<serde_json::Value>(&token, &key, &validation(Algorithm::EdDSA))
            .unwrap_err();
    assert!(unknown_alg(&err), "{err:?}");
    assert!(jsonwebtoken_verify(&jwks, &token).is_err());
}

/// A key removed from `SIGNING_KEYS` (the issuer redeployed with new
/// keys) is gone from the JWK Set, and every verifier refuses the tokens it
/// signed, ES256 and EdDSA alike, while accepting the new key's.
#[test]
fn interop_tokens_of_removed_keys_are_refused_by_every_verifier() {
    let es = TestKey::es256("removed-es");
    let ed = TestKey::ed25519("removed-ed", "EdDSA");
    // 1. ES256 signs, the Ed25519 key waits (private, not yet signing).
    let w = start_issuer(
        "interop-removed-1",
        &signing_keys(&[es.entry.clone(), ed.entry.clone()]),
        None,
    );
    let (id, secret) = w.create_client(&["--scope", "read", "--audience", AUDIENCE]);
    let es_token = issue(&w, &id, &secret);
    let state = w.stop();
    // 2. The Ed25519 key promoted: both tokens are good everywhere.
    let w = start_issuer(
        "interop-removed-2",
        &signing_keys(&[ed.entry.clone(), es.entry.clone()]),
        Some(state),
    );
    let ed_token = issue(&w, &id, &secret);
    assert_eq!(split(&ed_token).header["kid"], "removed-ed");
    for verifier in VERIFIERS {
        for token in [&es_token, &ed_token] {
            let claims = verify_with(verifier, &w, token)
                .unwrap_or_else(|e| panic!("{verifier:?} before removal: {e}"));
            assert_claims_of(&claims, token);
        }
    }
    let state = w.stop();
    // 3. Both removed, a new key signs.
    let new = TestKey::es256("new-es");
    let w = start_issuer(
        "interop-removed-3",
        &signing_keys(std::slice::from_ref(&new.entry)),
        Some(state),
    );
    let new_token = issue(&w, &id, &secret);
    let jwks: serde_json::Value = serde_json::from_str(&fetch_jwks(&w)).unwrap();
    assert_eq!(jwks, serde_json::json!({"keys": [new.expected_jwk()]}));
    for verifier in VERIFIERS {
        for token in [&es_token, &ed_token] {
            let err = verify_with(verifier, &w, token)
                .expect_err(&format!("{verifier:?} accepted a removed key's token"));
            let expected = match verifier {
                Verifier::Jose => "ERR_JWKS_NO_MATCHING_KEY",
                Verifier::PyJwt => "Unable to find a signing key",
                Verifier::JsonWebToken => "no key",
            };
            assert!(err.contains(expected), "{verifier:?}: {err}");
        }
        let claims = verify_with(verifier, &w, &new_token)
            .unwrap_or_else(|e| panic!("{verifier:?} refused the new key's token: {e}"));
        assert_claims_of(&claims, &new_token);
    }
    w.stop();
}
