//! `private_key_jwt` client authentication (RFC 7523 §2.2, RFC 7521 §4.2)
//! on the wire: clients registered with `client create --auth
//! private_key_jwt --jwk FILE` (their public keys only), assertions signed
//! by real clients:
//!
//! * the `jsonwebtoken` crate (ES256, EdDSA, RS256, PS256): tokens issued,
//!   introspection and revocation authenticated, and every way an assertion
//!   is refused (each `401 invalid_client`, the same body as a wrong secret,
//!   the log line's `cause` naming the check);
//! * Python authlib's `PrivateKeyJWT` with `requests` (ES256, RS256): aud the
//!   token endpoint, exp one hour ahead, no kid unless asked
//!   (tests/interop/authlib_private_key_jwt.py, in the venv of
//!   scripts/interop-venv.sh);
//! * Node openid-client v6's `PrivateKeyJwt` (ES256, RS256, Ed25519): aud the
//!   issuer, exp a minute ahead, client_id beside the assertion, discovery
//!   from the issuer's metadata (tests/interop/openid_client_private_key_jwt.mjs).
//!
//! The private keys are test-only fixtures in tests/e2e/keys (see its
//! README); EncodingKeys and public JWKs are made from them here.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{json, Value};

use crate::harness::{interop_python, now, random_key, verify_jwt, HttpResponse, Worker, ROOT};
use crate::{assert_token, standard_client, worker, GRANT, ISSUER};

const TOKEN: &str = edge_token_core::routes::TOKEN;
const INTROSPECT: &str = edge_token_core::routes::INTROSPECT;
const REVOKE: &str = edge_token_core::routes::REVOKE;

fn token_endpoint() -> String {
    format!("{ISSUER}{TOKEN}")
}

/// A fixture under tests/e2e/keys.
fn key_path(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/e2e/keys")
        .join(file)
}

fn fixture(file: &str) -> String {
    std::fs::read_to_string(key_path(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// The DER inside a one-block PEM file.
fn pem_der(pem: &str) -> Vec<u8> {
    let body: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    STANDARD.decode(body).expect("PEM base64")
}

/// A client's key pair: the jsonwebtoken signing key, and the public JWK
/// (with `kid` and `alg`) that is registered.
pub struct ClientKey {
    pub file: &'static str,
    pub alg: Algorithm,
    pub kid: String,
    key: EncodingKey,
    pub jwk: Value,
}

impl ClientKey {
    /// `file` (PKCS#1 for RSA, PKCS#8 for EC and Ed25519) signing with `alg`.
    pub fn load(file: &'static str, alg: Algorithm, kid: &str) -> ClientKey {
        let der = pem_der(&fixture(file));
        let key = match alg {
            Algorithm::ES256 => EncodingKey::from_ec_der(&der),
            Algorithm::EdDSA => EncodingKey::from_ed_der(&der),
            Algorithm::RS256 | Algorithm::PS256 => EncodingKey::from_rsa_der(&der),
            other => panic!("no client key of alg {other:?}"),
        };
        let public = Jwk::from_encoding_key(&key, alg).expect("public JWK of the key");
        let mut jwk = serde_json::to_value(public).unwrap();
        jwk["kid"] = kid.into();
        assert!(jwk.get("d").is_none(), "private member in {jwk}");
        ClientKey {
            file,
            alg,
            kid: kid.to_owned(),
            key,
            jwk,
        }
    }

    pub fn es256() -> ClientKey {
        ClientKey::load("ec-1.pem", Algorithm::ES256, "ec-1")
    }

    pub fn alg_name(&self) -> &'static str {
        match self.alg {
            Algorithm::ES256 => "ES256",
            Algorithm::EdDSA => "EdDSA",
            Algorithm::RS256 => "RS256",
            Algorithm::PS256 => "PS256",
            _ => unreachable!("load refuses other algs"),
        }
    }

    /// A compact JWS of `claims`, header `{typ: JWT, alg, kid}`, by jsonwebtoken.
    pub fn sign(&self, claims: &Value) -> String {
        self.sign_as(claims, Some(&self.kid))
    }

    /// As [`sign`](Self::sign), with another `kid` (or none) in the header.
    pub fn sign_as(&self, claims: &Value, kid: Option<&str>) -> String {
        let mut header = Header::new(self.alg);
        header.kid = kid.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &self.key).expect("sign the assertion")
    }
}

/// Good assertion claims for `client_id` with audience `aud`: exp two
/// minutes ahead, a fresh random jti.
pub fn claims(client_id: &str, aud: &str) -> Value {
    let now = now();
    json!({
        "iss": client_id,
        "sub": client_id,
        "aud": aud,
        "iat": now,
        "exp": now + 120,
        "jti": URL_SAFE_NO_PAD.encode(random_key()),
    })
}

/// Registers a key client for `key` on `w` (`extra`: further create
/// options); checks what `client create` printed and returns the id.
pub fn key_client(w: &Worker, key: &ClientKey, extra: &[&str]) -> String {
    let file = w.write_jwk(&key.kid, &key.jwk);
    let record = w.create_key_client(&file, extra);
    assert_eq!(record["keys"].as_array().unwrap().len(), 1, "{record}");
    assert_eq!(record["keys"][0]["kid"], key.kid.as_str(), "{record}");
    assert_eq!(record["keys"][0]["alg"], key.alg_name(), "{record}");
    assert_eq!(record["secrets"], json!([]), "{record}");
    let printed = record.to_string();
    for member in ["x", "y", "n"] {
        if let Some(v) = key.jwk[member].as_str() {
            assert!(
                !printed.contains(v),
                "key material {member} printed: {record}"
            );
        }
    }
    record["client_id"].as_str().expect("client_id").to_owned()
}

pub fn token(w: &Worker, assertion: &str) -> HttpResponse {
    w.post_assertion(TOKEN, assertion, GRANT)
}

fn token_body(token: &str) -> String {
    format!("token={}", edge_token_core::form::encode_component(token))
}

fn introspect(w: &Worker, assertion: &str, token: &str) -> HttpResponse {
    w.post_assertion(INTROSPECT, assertion, &token_body(token))
}

fn revoke(w: &Worker, assertion: &str, token: &str) -> HttpResponse {
    w.post_assertion(REVOKE, assertion, &token_body(token))
}

/// The body every failed client authentication gets: a wrong secret's.
fn invalid_client_body() -> &'static str {
    static BODY: OnceLock<String> = OnceLock::new();
    BODY.get_or_init(|| {
        let (id, _) = standard_client();
        let r = worker().token_basic(id, "ets_wrongwrongwrongwrongwrongwrongwrongwrongwro", GRANT);
        r.assert_error(401, "invalid_client");
        r.body
    })
}

/// The Worker's JSON log lines about `client_id`, in order.
fn log_lines(w: &Worker, client_id: &str) -> Vec<Value> {
    w.log_text()
        .lines()
        .filter_map(|l| l.find("{\"ts\"").map(|i| &l[i..]))
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["client_id"] == client_id)
        .collect()
}

/// `client_id`'s log lines once there are `n` (log lines land a little
/// after their responses), or as they are after 10 s.
fn log_lines_for(w: &Worker, client_id: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines = log_lines(w, client_id);
        if lines.len() >= n || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `client_id`'s `invalid_client` log lines once there are `n`, or as
/// they are after 10 s.
fn refusals(w: &Worker, client_id: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines: Vec<Value> = log_lines(w, client_id)
            .into_iter()
            .filter(|v| v["error"] == "invalid_client")
            .collect();
        if lines.len() >= n || Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A refused client authentication on the wire: 401 invalid_client, the
/// JSON error body of a wrong secret (nothing more specific), no-store.
#[track_caller]
fn assert_refused(r: &HttpResponse) {
    r.assert_error(401, "invalid_client");
    assert_eq!(
        r.body,
        invalid_client_body(),
        "a refusal says more than a wrong secret's"
    );
    for leak in [
        "assertion",
        "kid",
        "alg",
        "aud",
        "jti",
        "expired",
        "signature",
        "replay",
    ] {
        assert!(
            !r.body.contains(leak),
            "detail {leak:?} in the body: {}",
            r.body
        );
    }
}

/// Checks the log lines of `client_id`'s refusals, in order: each names
/// private_key_jwt and has a cause containing the expected words.
#[track_caller]
fn assert_causes(w: &Worker, client_id: &str, expected: &[&str]) {
    let lines = refusals(w, client_id, expected.len());
    assert_eq!(
        lines.len(),
        expected.len(),
        "refusal log lines of {client_id}: {lines:#?}"
    );
    for (line, cause) in lines.iter().zip(expected) {
        assert_eq!(line["status"], 401, "{line}");
        assert_eq!(line["auth_method"], "private_key_jwt", "{line}");
        let logged = line["cause"].as_str().unwrap_or_default();
        assert!(
            logged.contains(cause),
            "cause {logged:?} does not say {cause:?}: {line}"
        );
    }
}

// --- the Rust client ------------------------------------------------------------

/// A token, then introspection and revocation of it, each request
/// authenticated by its own assertion (a second use of one would be a
/// replay) with each accepted aud: the issuer, the endpoint called, the
/// token endpoint, and an array naming the issuer among others.
fn full_flow(key: &ClientKey, id: &str) {
    let w = worker();
    let r = token(w, &key.sign(&claims(id, ISSUER)));
    let access = assert_token(w, &r, id);
    assert_eq!(access["scope"], "read");
    let access_token = r.json()["access_token"].as_str().unwrap().to_owned();
    let jti = access["jti"].as_str().unwrap();

    let r = introspect(
        w,
        &key.sign(&claims(id, &format!("{ISSUER}{INTROSPECT}"))),
        &access_token,
    );
    assert_eq!(r.status, 200, "{}", r.body);
    let v = r.json();
    assert_eq!(v["active"], true, "{v}");
    assert_eq!(v["client_id"], id);
    assert_eq!(v["jti"], jti);

    let r = revoke(w, &key.sign(&claims(id, &token_endpoint())), &access_token);
    assert_eq!(r.status, 200, "{}", r.body);

    let mut aud_array = claims(id, "");
    aud_array["aud"] = json!(["https://other.example", ISSUER]);
    let r = introspect(w, &key.sign(&aud_array), &access_token);
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json(), json!({"active": false}));

    let lines = log_lines_for(w, id, 4);
    let issued = lines
        .iter()
        .find(|v| v["jti"] == jti)
        .unwrap_or_else(|| panic!("no log line for the token: {lines:#?}"));
    assert_eq!(issued["outcome"], "issued");
    assert_eq!(issued["auth_method"], "private_key_jwt");
    let events: Vec<&Value> = lines.iter().map(|v| &v["event"]).collect();
    assert_eq!(
        events,
        [
            &json!("token"),
            &json!("introspect"),
            &json!("revoke"),
            &json!("introspect")
        ],
        "{lines:#?}"
    );
    assert!(
        lines
            .iter()
            .all(|v| v["auth_method"] == "private_key_jwt" && v.get("error").is_none()),
        "{lines:#?}"
    );
}

#[test]
fn pkjwt_es256_client_gets_token_introspects_and_revokes() {
    let key = ClientKey::es256();
    let id = key_client(worker(), &key, &["--scope", "read", "--introspect"]);
    full_flow(&key, &id);
}

#[test]
fn pkjwt_eddsa_client_gets_token_introspects_and_revokes() {
    let key = ClientKey::load("ed25519-1.pem", Algorithm::EdDSA, "ed-1");
    assert_eq!(key.jwk["crv"], "Ed25519");
    let id = key_client(worker(), &key, &["--scope", "read", "--introspect"]);
    full_flow(&key, &id);
}

#[test]
fn pkjwt_rs256_client_gets_token_introspects_and_revokes() {
    let key = ClientKey::load("rsa-1.pem", Algorithm::RS256, "rsa-1");
    let id = key_client(worker(), &key, &["--scope", "read", "--introspect"]);
    full_flow(&key, &id);
}

/// PS256, registered from an RSA JWK without `alg` (`--alg PS256` says it).
#[test]
fn pkjwt_ps256_client_gets_token_introspects_and_revokes() {
    let w = worker();
    let key = ClientKey::load("rsa-1.pem", Algorithm::PS256, "rsa-1-pss");
    let mut jwk = key.jwk.clone();
    jwk.as_object_mut().unwrap().remove("alg");
    let file = w.write_jwk("no-alg", &jwk);
    let refused = w.cli(&[
        "client",
        "create",
        "--name",
        "no-alg",
        "--auth",
        "private_key_jwt",
        "--jwk",
        file.to_str().unwrap(),
    ]);
    assert!(!refused.success, "an RSA JWK without alg was registered");
    assert!(refused.stderr.contains("--alg"), "{}", refused.stderr);
    let record = w.create_key_client(
        &file,
        &["--alg", "PS256", "--scope", "read", "--introspect"],
    );
    assert_eq!(record["keys"][0]["alg"], "PS256", "{record}");
    let id = record["client_id"].as_str().unwrap();
    full_flow(&key, id);
    // A PS256 key does not verify RS256 (or the other way round).
    let rs = ClientKey::load("rsa-1.pem", Algorithm::RS256, "rsa-1-pss");
    assert_refused(&token(w, &rs.sign(&claims(id, ISSUER))));
    assert_causes(
        w,
        id,
        &["alg \"RS256\" is not the registered key's algorithm"],
    );
}

// --- refusals ------------------------------------------------------------------

/// Every check, failed on its own by an otherwise good assertion of a
/// registered client.
#[test]
fn pkjwt_refused_assertions_are_invalid_client_with_their_cause() {
    let w = worker();
    let key = ClientKey::es256();
    let id = key_client(w, &key, &["--scope", "read", "--introspect"]);
    let mut expected = Vec::new();
    let mut refuse = |r: HttpResponse, cause: &'static str| {
        assert_refused(&r);
        expected.push(cause);
    };

    // Replayed: accepted once, then refused anywhere (token, introspection).
    let once = key.sign(&claims(&id, ISSUER));
    assert_token(w, &token(w, &once), &id);
    refuse(token(w, &once), "replayed");
    refuse(introspect(w, &once, "x"), "replayed");

    let mut expired = claims(&id, ISSUER);
    expired["iat"] = json!(now() - 300);
    expired["exp"] = json!(now() - 120);
    refuse(token(w, &key.sign(&expired)), "expired");

    refuse(
        token(
            w,
            &key.sign(&claims(&id, "https://other-issuer.example/oauth2/token")),
        ),
        "aud names neither this issuer nor its endpoint",
    );
    // The endpoint called must be the one named: an introspection
    // endpoint aud is not good at the token endpoint.
    refuse(
        token(w, &key.sign(&claims(&id, &format!("{ISSUER}{INTROSPECT}")))),
        "aud names neither",
    );

    let mut other_sub = claims(&id, ISSUER);
    other_sub["sub"] = json!("etc_someoneelse0000000000");
    refuse(token(w, &key.sign(&other_sub)), "iss differs from sub");

    refuse(
        token(w, &key.sign_as(&claims(&id, ISSUER), Some("no-such-kid"))),
        "kid names no registered key",
    );

    // alg none, unsigned.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"typ": "JWT", "alg": "none", "kid": key.kid}).to_string()),
        URL_SAFE_NO_PAD.encode(claims(&id, ISSUER).to_string())
    );
    refuse(
        token(w, &none),
        "alg \"none\" is not the registered key's algorithm",
    );

    // Key confusion: HS256 MACed with the registered public JWK's text.
    let jwk_text = key.jwk.to_string();
    let hs = jsonwebtoken::encode(
        &Header {
            kid: Some(key.kid.clone()),
            ..Header::new(Algorithm::HS256)
        },
        &claims(&id, ISSUER),
        &EncodingKey::from_secret(jwk_text.as_bytes()).unwrap(),
    )
    .unwrap();
    refuse(
        token(w, &hs),
        "alg \"HS256\" is not the registered key's algorithm",
    );

    // Over MAX_ASSERTION_LEN, signed and otherwise good (client_id beside
    // it, so the log line names the client).
    let mut big = claims(&id, ISSUER);
    big["pad"] = json!("a".repeat(edge_token_core::assertion::MAX_ASSERTION_LEN));
    let big = key.sign(&big);
    assert!(big.len() > 8192);
    refuse(
        w.post_assertion(TOKEN, &big, &format!("{GRANT}&client_id={id}")),
        "longer than 8192 bytes",
    );

    // Signed by another key, under the registered key's kid, and with no kid.
    let other = ClientKey::load("ec-2.pem", Algorithm::ES256, "ec-1");
    refuse(
        token(w, &other.sign(&claims(&id, ISSUER))),
        "signature invalid",
    );
    refuse(
        token(w, &other.sign_as(&claims(&id, ISSUER), None)),
        "signature invalid",
    );

    // A signature of a changed payload: the claims swapped after signing.
    let good = key.sign(&claims(&id, ISSUER));
    let (head, rest) = good.split_once('.').unwrap();
    let (_, signature) = rest.split_once('.').unwrap();
    let mut longer = claims(&id, ISSUER);
    longer["exp"] = json!(now() + 3000);
    let swapped = format!(
        "{head}.{}.{signature}",
        URL_SAFE_NO_PAD.encode(longer.to_string())
    );
    refuse(token(w, &swapped), "signature invalid");

    // Too long-lived: exp more than an hour ahead.
    let mut long_lived = claims(&id, ISSUER);
    long_lived["exp"] = json!(now() + 3600 + 120);
    refuse(token(w, &key.sign(&long_lived)), "more than 3600 s ahead");

    // No jti.
    let mut no_jti = claims(&id, ISSUER);
    no_jti.as_object_mut().unwrap().remove("jti");
    refuse(token(w, &key.sign(&no_jti)), "jti missing");

    assert_causes(w, &id, &expected);
    // The good one still works after all that (no lockout of a client).
    assert_token(w, &token(w, &key.sign(&claims(&id, ISSUER))), &id);
}

/// The RSA key-confusion attack: HS256 with the client's public key as
/// the HMAC secret, as PEM (SPKI, as `openssl rsa -pubout` prints it) and
/// as the registered JWK's text.
#[test]
fn pkjwt_hs256_with_the_public_key_as_secret_is_refused() {
    let w = worker();
    let key = ClientKey::load("rsa-1.pem", Algorithm::RS256, "rsa-1");
    let id = key_client(w, &key, &["--scope", "read"]);
    let pem = fixture("rsa-1.pub.pem");
    let mut expected = Vec::new();
    for secret in [
        pem.as_bytes(),
        pem.trim_end().as_bytes(),
        key.jwk.to_string().as_bytes(),
    ] {
        for kid in [Some(key.kid.as_str()), None] {
            let hs = jsonwebtoken::encode(
                &Header {
                    kid: kid.map(str::to_owned),
                    ..Header::new(Algorithm::HS256)
                },
                &claims(&id, ISSUER),
                &EncodingKey::from_secret(secret).unwrap(),
            )
            .unwrap();
            assert_refused(&token(w, &hs));
            expected.push("alg \"HS256\" is not the registered key's algorithm");
        }
    }
    assert_causes(w, &id, &expected);
    assert_token(w, &token(w, &key.sign(&claims(&id, ISSUER))), &id);
}

/// Mixed and mismatched methods: an assertion with a Basic header or a
/// client_secret is a malformed request; a secret for a key client, or an
/// assertion for a secret client, fails authentication.
#[test]
fn pkjwt_mixed_methods_and_mismatched_clients() {
    let w = worker();
    let key = ClientKey::es256();
    let id = key_client(w, &key, &["--scope", "read"]);
    let (secret_id, secret) = standard_client();
    let assertion = key.sign(&claims(&id, ISSUER));
    let assertion_form = format!(
        "client_assertion_type={}&client_assertion={assertion}",
        edge_token_core::form::encode_component(edge_token_core::assertion::JWT_BEARER)
    );

    // Assertion + Basic header (the header of a real client, and of this
    // client's id with a made-up secret).
    for auth in [
        crate::harness::basic(secret_id, secret),
        crate::harness::basic(&id, "ets_madeupmadeupmadeupmadeupmadeupmadeupmadeupm"),
    ] {
        let r = w.post(
            TOKEN,
            &[("Authorization", &auth)],
            &format!("{GRANT}&{assertion_form}"),
        );
        r.assert_error(400, "invalid_request");
    }
    // Assertion + client_secret in the body.
    w.post(
        TOKEN,
        &[],
        &format!("{GRANT}&{assertion_form}&client_id={id}&client_secret=ets_x"),
    )
    .assert_error(400, "invalid_request");
    // Only one of the pair.
    w.post(TOKEN, &[], &format!("{GRANT}&client_assertion={assertion}"))
        .assert_error(400, "invalid_request");
    w.post(
        TOKEN,
        &[],
        &format!(
            "{GRANT}&client_assertion_type={}",
            edge_token_core::form::encode_component(edge_token_core::assertion::JWT_BEARER)
        ),
    )
    .assert_error(400, "invalid_request");
    // None of those spent the assertion.
    assert_token(w, &token(w, &assertion), &id);

    let mut expected = Vec::new();
    // Another assertion type.
    let r = w.post(
        TOKEN,
        &[],
        &format!(
            "{GRANT}&client_id={id}&client_assertion_type=urn%3Aexample%3Asaml&client_assertion={}",
            key.sign(&claims(&id, ISSUER))
        ),
    );
    assert_refused(&r);
    expected.push("unsupported client_assertion_type");
    // client_id beside the assertion names another client.
    let r = w.post_assertion(
        TOKEN,
        &key.sign(&claims(&id, ISSUER)),
        &format!("{GRANT}&client_id={secret_id}"),
    );
    assert_refused(&r);
    // (logged under the assertion's iss)
    expected.push("client_id does not match");
    // A secret presented for the key client, Basic and in the body.
    let made_up = "ets_madeupmadeupmadeupmadeupmadeupmadeupmadeupm";
    for r in [
        w.token_basic(&id, made_up, GRANT),
        w.token_post(&id, made_up, ""),
    ] {
        r.assert_error(401, "invalid_client");
        assert_eq!(r.body, invalid_client_body());
    }
    let lines = refusals(w, &id, expected.len() + 2);
    let secret_lines: Vec<&Value> = lines
        .iter()
        .filter(|v| v["auth_method"] != "private_key_jwt")
        .collect();
    assert_eq!(secret_lines.len(), 2, "{lines:#?}");
    let assertion_lines: Vec<&str> = lines
        .iter()
        .filter(|v| v["auth_method"] == "private_key_jwt")
        .map(|v| v["cause"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(assertion_lines.len(), expected.len(), "{lines:#?}");
    for (logged, cause) in assertion_lines.iter().zip(&expected) {
        assert!(logged.contains(cause), "{logged:?} does not say {cause:?}");
    }

    // An assertion for a secret client (signed by some key, iss its id).
    let r = token(w, &key.sign(&claims(secret_id, ISSUER)));
    assert_refused(&r);
    let log = w.log_with(&["client has no registered keys"]);
    assert!(log.contains("client has no registered keys"), "{log}");
}

/// Key rotation with `client add-key` and `client remove-key`: both keys
/// work while both are registered; after removal the old key is refused
/// (by kid, and without one); the last key cannot be removed.
#[test]
fn pkjwt_key_rotation_with_add_key_and_remove_key() {
    let w = worker();
    let old = ClientKey::es256();
    let new = ClientKey::load("rsa-2.pem", Algorithm::RS256, "rsa-2");
    let id = key_client(w, &old, &["--scope", "read"]);
    assert_token(w, &token(w, &old.sign(&claims(&id, ISSUER))), &id);
    // The new key is not registered yet.
    assert_refused(&token(w, &new.sign(&claims(&id, ISSUER))));

    let record = w.add_client_key(&id, &w.write_jwk("rsa-2", &new.jwk));
    let kids: Vec<&str> = record["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 2, "{record}");
    assert!(
        kids.contains(&"ec-1") && kids.contains(&"rsa-2"),
        "{record}"
    );
    assert!(!record.to_string().contains(new.jwk["n"].as_str().unwrap()));
    assert_token(w, &token(w, &old.sign(&claims(&id, ISSUER))), &id);
    assert_token(w, &token(w, &new.sign(&claims(&id, ISSUER))), &id);
    assert_token(w, &token(w, &new.sign_as(&claims(&id, ISSUER), None)), &id);

    let out = w.remove_client_key(&id, "ec-1");
    assert!(out.success, "{}", out.stderr);
    assert_eq!(
        out.json()["keys"].as_array().unwrap().len(),
        1,
        "{}",
        out.stdout
    );
    let show = w.cli(&["client", "show", &id]);
    assert_eq!(show.json()["keys"][0]["kid"], "rsa-2", "{}", show.stdout);

    assert_refused(&token(w, &old.sign(&claims(&id, ISSUER))));
    assert_refused(&token(w, &old.sign_as(&claims(&id, ISSUER), None)));
    // The old key naming the new kid: its alg is not the new key's.
    assert_refused(&token(w, &old.sign_as(&claims(&id, ISSUER), Some("rsa-2"))));
    assert_causes(
        w,
        &id,
        &[
            "kid names no registered key",
            "kid names no registered key",
            "alg \"ES256\" is not the registered key's algorithm",
            "alg \"ES256\" is not the registered key's algorithm",
        ],
    );
    assert_token(w, &token(w, &new.sign(&claims(&id, ISSUER))), &id);

    let last = w.remove_client_key(&id, "rsa-2");
    assert!(!last.success, "the last key was removed: {}", last.stdout);
    assert_token(w, &token(w, &new.sign(&claims(&id, ISSUER))), &id);
}

#[test]
fn pkjwt_metadata_lists_the_method_and_signing_algs() {
    let w = worker();
    let r = w.raw(b"GET /.well-known/oauth-authorization-server HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 200, "{}", r.body);
    let doc = r.json();
    for endpoint in ["token", "introspection", "revocation"] {
        assert_eq!(
            doc[format!("{endpoint}_endpoint_auth_methods_supported")],
            json!([
                "client_secret_basic",
                "client_secret_post",
                "private_key_jwt"
            ]),
            "{doc}"
        );
        assert_eq!(
            doc[format!("{endpoint}_endpoint_auth_signing_alg_values_supported")],
            json!(["ES256", "EdDSA", "Ed25519", "RS256", "PS256"]),
            "{doc}"
        );
    }
}

// --- interop: authlib and openid-client --------------------------------------

/// Runs a client script; its one line of JSON output.
fn run_client(mut cmd: Command, what: &str) -> Value {
    let out = cmd.output().unwrap_or_else(|e| panic!("run {what}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{what} failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_str(&stdout)
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}): {stdout}"));
    assert_eq!(v["ok"], true, "{what}: {v}");
    assert!(!stdout.contains("PRIVATE KEY"), "{what} printed a key");
    v
}

/// What a client script reports, checked: the token verifies and is the
/// client's; introspection saw it active, then (after revocation)
/// inactive; the assertions were the client's, each with its own jti.
fn check_client_run(w: &Worker, id: &str, v: &Value, requests: usize) -> Vec<Value> {
    let access_token = v["token"]["access_token"].as_str().expect("access_token");
    let (header, claims) = verify_jwt(access_token, &w.key);
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(claims["sub"], id);
    assert_eq!(claims["client_id"], id);
    assert_eq!(claims["scope"], "read");
    // (openid-client normalises it to lower case)
    assert!(
        v["token"]["token_type"]
            .as_str()
            .is_some_and(|t| t.eq_ignore_ascii_case("Bearer")),
        "{v}"
    );
    assert_eq!(v["introspected"]["active"], true, "{v}");
    assert_eq!(v["introspected"]["jti"], claims["jti"], "{v}");
    assert_eq!(
        v["introspected_after_revoke"],
        json!({"active": false}),
        "{v}"
    );
    let assertions = v["assertions"].as_array().expect("assertions").clone();
    assert_eq!(assertions.len(), requests, "{v}");
    let mut jtis: Vec<&str> = assertions
        .iter()
        .map(|a| {
            assert_eq!(a["claims"]["iss"], id, "{a}");
            assert_eq!(a["claims"]["sub"], id, "{a}");
            a["claims"]["jti"].as_str().expect("jti")
        })
        .collect();
    jtis.sort_unstable();
    jtis.dedup();
    assert_eq!(jtis.len(), requests, "a jti was reused: {v}");
    // Every request authenticated with private_key_jwt and nothing failed.
    let lines = log_lines_for(w, id, requests);
    assert_eq!(lines.len(), requests, "{lines:#?}");
    assert!(
        lines
            .iter()
            .all(|l| l["auth_method"] == "private_key_jwt" && l.get("error").is_none()),
        "{lines:#?}"
    );
    assertions
}

/// authlib's `OAuth2Session` with `PrivateKeyJWT(token_endpoint, alg=...)`:
/// token, introspection, revocation, introspection.
fn authlib_run(key: &ClientKey, kid_in_header: bool) -> (String, Vec<Value>) {
    let w = worker();
    let id = key_client(w, key, &["--scope", "read", "--introspect"]);
    let mut cmd = Command::new(interop_python());
    cmd.arg(
        Path::new(ROOT).join("crates/edge-token-worker/tests/interop/authlib_private_key_jwt.py"),
    )
    .args(["--url", &w.url(TOKEN)])
    .args(["--token-endpoint", &token_endpoint()])
    .args(["--client-id", &id])
    .arg("--key")
    .arg(key_path(key.file))
    .args(["--alg", key.alg_name()])
    .args(["--scope", "read"])
    .args(["--introspect-url", &w.url(INTROSPECT)])
    .args(["--revoke-url", &w.url(REVOKE)]);
    if kid_in_header {
        cmd.args(["--kid", &key.kid]);
    }
    let v = run_client(cmd, "authlib_private_key_jwt.py");
    let assertions = check_client_run(w, &id, &v, 4);
    for a in &assertions {
        // authlib's defaults: aud the token endpoint it was given, an hour.
        assert_eq!(a["claims"]["aud"], token_endpoint(), "{a}");
        let lifetime = a["claims"]["exp"].as_u64().unwrap() - a["claims"]["iat"].as_u64().unwrap();
        assert_eq!(lifetime, 3600, "{a}");
        assert_eq!(a["header"]["alg"], key.alg_name(), "{a}");
        if kid_in_header {
            assert_eq!(a["header"]["kid"], key.kid.as_str(), "{a}");
        } else {
            assert!(a["header"].get("kid").is_none(), "{a}");
        }
    }
    (id, assertions)
}

#[test]
fn interop_authlib_private_key_jwt_es256_without_kid() {
    authlib_run(&ClientKey::es256(), false);
}

#[test]
fn interop_authlib_private_key_jwt_rs256_with_kid() {
    authlib_run(
        &ClientKey::load("rsa-1.pem", Algorithm::RS256, "rsa-1"),
        true,
    );
}

/// openid-client's discovery + `PrivateKeyJwt({key, kid})`: token,
/// introspection, revocation, introspection.
fn openid_client_run(key: &ClientKey, header_alg: &str) {
    let root = Path::new(ROOT);
    assert!(
        root.join("node_modules/openid-client/package.json")
            .is_file(),
        "openid-client is not installed: run `make install` (npm ci from package-lock.json)"
    );
    let w = worker();
    let id = key_client(w, key, &["--scope", "read", "--introspect"]);
    let mut cmd = Command::new("node");
    cmd.arg(root.join("crates/edge-token-worker/tests/interop/openid_client_private_key_jwt.mjs"))
        .args(["--issuer", ISSUER])
        .args(["--local", &w.url("")])
        .args(["--client-id", &id])
        .arg("--key")
        .arg(key_path(key.file))
        .args(["--alg", header_alg])
        .args(["--kid", &key.kid])
        .args(["--scope", "read"])
        .current_dir(root);
    let v = run_client(cmd, "openid_client_private_key_jwt.mjs");
    let assertions = check_client_run(w, &id, &v, 4);
    for a in &assertions {
        // openid-client's: aud the issuer, a minute, nbf = iat.
        assert_eq!(a["claims"]["aud"], ISSUER, "{a}");
        let iat = a["claims"]["iat"].as_u64().unwrap();
        assert_eq!(a["claims"]["exp"].as_u64().unwrap() - iat, 60, "{a}");
        assert_eq!(a["claims"]["nbf"].as_u64(), Some(iat), "{a}");
        assert_eq!(a["header"]["alg"], header_alg, "{a}");
        assert_eq!(a["header"]["kid"], key.kid.as_str(), "{a}");
    }
}

#[test]
fn interop_openid_client_private_key_jwt_es256() {
    openid_client_run(&ClientKey::es256(), "ES256");
}

#[test]
fn interop_openid_client_private_key_jwt_rs256() {
    openid_client_run(
        &ClientKey::load("rsa-1.pem", Algorithm::RS256, "rsa-1"),
        "RS256",
    );
}

/// An Ed25519 key registered as `EdDSA`: openid-client names its
/// assertions' alg `Ed25519` (RFC 9864), which the EdDSA key accepts.
#[test]
fn interop_openid_client_private_key_jwt_ed25519() {
    openid_client_run(
        &ClientKey::load("ed25519-1.pem", Algorithm::EdDSA, "ed-1"),
        "Ed25519",
    );
}
