//! The other side of the token, on the wire: metadata (RFC 8414),
//! introspection (RFC 7662), revocation (RFC 7009), signing-key rotation
//! across redeploys, per-client claims and `client update`.

use std::sync::OnceLock;

use edge_token_core::token::{mint, AccessTokenClaims, Audience, KeySet};

use crate::harness::{basic, now, random_key, signing_keys_json, verify_jwt, HttpResponse, Worker};
use crate::{standard_client, worker, GRANT, ISSUER};

/// A client allowed to introspect, on the shared Worker.
fn introspector() -> &'static (String, String) {
    static CLIENT: OnceLock<(String, String)> = OnceLock::new();
    CLIENT.get_or_init(|| worker().create_client(&["--scope", "read", "--introspect"]))
}

fn introspect(w: &Worker, token: &str) -> HttpResponse {
    let (id, secret) = introspector();
    let body = format!(
        "token={}&token_type_hint=access_token",
        edge_token_core::form::encode_component(token)
    );
    w.post(
        "/oauth2/introspect",
        &[("Authorization", &basic(id, secret))],
        &body,
    )
}

#[track_caller]
fn assert_inactive(r: &HttpResponse) {
    assert_eq!(r.status, 200, "{}", r.body);
    r.assert_no_store();
    assert_eq!(
        r.json(),
        serde_json::json!({"active": false}),
        "inactive must say nothing else"
    );
}

fn token_for(w: &Worker, id: &str, secret: &str, extra: &str) -> String {
    let r = w.token_basic(id, secret, &format!("{GRANT}{extra}"));
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["access_token"].as_str().unwrap().to_owned()
}

/// Signs arbitrary claims with the Worker's own key (or another), to make
/// tokens the issuer would never issue.
fn forge(kid: &str, key: &[u8], claims: &AccessTokenClaims) -> String {
    let keys = KeySet::parse(&signing_keys_json(&[(kid, key)])).unwrap();
    mint(&keys, claims).expect("HS256 key")
}

fn claims_for(client_id: &str) -> AccessTokenClaims {
    AccessTokenClaims {
        iss: ISSUER.to_owned(),
        sub: client_id.to_owned(),
        aud: Audience::One("https://default.example".to_owned()),
        exp: now() + 300,
        iat: now(),
        jti: format!("forged-{}", now()),
        client_id: client_id.to_owned(),
        scope: "read".to_owned(),
        extra: Default::default(),
    }
}

#[test]
fn metadata_document_lists_endpoints_from_routes() {
    let w = worker();
    let r = w.raw(b"GET /.well-known/oauth-authorization-server HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("cache-control"), Some("public, max-age=3600"));
    assert!(r.header("access-control-allow-origin").is_none());
    let doc = r.json();
    assert_eq!(doc["issuer"], ISSUER);
    assert_eq!(
        doc["token_endpoint"],
        format!("{ISSUER}{}", edge_token_core::routes::TOKEN)
    );
    assert_eq!(
        doc["introspection_endpoint"],
        format!("{ISSUER}{}", edge_token_core::routes::INTROSPECT)
    );
    assert_eq!(
        doc["revocation_endpoint"],
        format!("{ISSUER}{}", edge_token_core::routes::REVOKE)
    );
    assert_eq!(
        doc["grant_types_supported"],
        serde_json::json!(["client_credentials"])
    );
    assert_eq!(doc["response_types_supported"], serde_json::json!([]));
    let methods = serde_json::json!([
        "client_secret_basic",
        "client_secret_post",
        "private_key_jwt"
    ]);
    for field in [
        "token_endpoint_auth_methods_supported",
        "introspection_endpoint_auth_methods_supported",
        "revocation_endpoint_auth_methods_supported",
    ] {
        assert_eq!(doc[field], methods, "{field}");
    }
    assert_eq!(
        doc["scopes_supported"],
        serde_json::json!(["read", "write"])
    );
    let post = w.post("/.well-known/oauth-authorization-server", &[], "");
    post.assert_error(405, "invalid_request");
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
}

#[test]
fn introspection_reports_active_token_claims() {
    let w = worker();
    let (id, secret) = standard_client();
    let token = token_for(w, id, secret, "&scope=read+write&resource=urn:two");
    let r = introspect(w, &token);
    assert_eq!(r.status, 200, "{}", r.body);
    r.assert_no_store();
    let v = r.json();
    let (_, claims) = verify_jwt(&token, &w.key);
    assert_eq!(v["active"], true);
    assert_eq!(v["scope"], "read write");
    assert_eq!(v["client_id"], id.as_str());
    assert_eq!(v["sub"], id.as_str());
    assert_eq!(v["token_type"], "Bearer");
    assert_eq!(v["aud"], "urn:two");
    assert_eq!(v["iss"], ISSUER);
    for field in ["exp", "iat", "jti"] {
        assert_eq!(v[field], claims[field], "{field}");
    }
}

#[test]
fn introspection_inactive_for_every_bad_token() {
    let w = worker();
    let (id, secret) = standard_client();
    let token = token_for(w, id, secret, "");
    let mut tampered = token.clone().into_bytes();
    let mid = tampered.len() / 2;
    tampered[mid] = if tampered[mid] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let mut foreign = claims_for(id);
    foreign.iss = "https://other-issuer.example".to_owned();
    let mut expired = claims_for(id);
    expired.iat = now() - 600;
    expired.exp = now() - 300;
    let cases = [
        tampered,
        "not-a-token".to_owned(),
        "a.b.c".to_owned(),
        forge(&w.kid, &w.key, &foreign),
        forge(&w.kid, &w.key, &expired),
        forge("unknown-kid", &w.key, &claims_for(id)),
        forge(&w.kid, &random_key(), &claims_for(id)),
    ];
    for token in &cases {
        assert_inactive(&introspect(w, token));
    }
    // The forged-but-valid control case is active: the cases above fail for
    // the reason they were built for.
    assert_eq!(
        introspect(w, &forge(&w.kid, &w.key, &claims_for(id))).json()["active"],
        true
    );
}

#[test]
fn introspection_inactive_once_client_disabled_or_deleted() {
    let w = worker();
    let (id, secret) = w.create_client(&["--scope", "read"]);
    let token = token_for(w, &id, &secret, "");
    assert_eq!(introspect(w, &token).json()["active"], true);
    assert!(w.cli(&["client", "disable", &id]).success);
    assert_inactive(&introspect(w, &token));
    assert!(w.cli(&["client", "enable", &id]).success);
    assert_eq!(introspect(w, &token).json()["active"], true);
    assert!(w.cli(&["client", "delete", &id, "--yes"]).success);
    assert_inactive(&introspect(w, &token));
}

#[test]
fn introspection_requires_permission_and_authentication() {
    let w = worker();
    let (id, secret) = standard_client();
    let token = token_for(w, id, secret, "");
    let body = format!("token={token}");
    let r = w.post(
        "/oauth2/introspect",
        &[("Authorization", &basic(id, secret))],
        &body,
    );
    r.assert_error(403, "unauthorized_client");
    let r = w.post(
        "/oauth2/introspect",
        &[("Authorization", &basic(id, "ets_wrong"))],
        &body,
    );
    r.assert_error(401, "invalid_client");
    assert!(r.header("www-authenticate").is_some());
    let (iid, isecret) = introspector();
    w.post(
        "/oauth2/introspect",
        &[("Authorization", &basic(iid, isecret))],
        "token_type_hint=access_token",
    )
    .assert_error(400, "invalid_request");
    // client_secret_post works too.
    let r = w.post(
        "/oauth2/introspect",
        &[],
        &format!("token={token}&client_id={iid}&client_secret={isecret}"),
    );
    assert_eq!(r.json()["active"], true, "{}", r.body);
    let get = w.raw(b"GET /oauth2/introspect HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    get.assert_error(405, "invalid_request");
}

#[test]
fn revocation_makes_token_inactive() {
    let w = worker();
    let (id, secret) = w.create_client(&["--scope", "read"]);
    let token = token_for(w, &id, &secret, "");
    let other = token_for(w, &id, &secret, "");
    assert_eq!(introspect(w, &token).json()["active"], true);
    let r = w.post(
        "/oauth2/revoke",
        &[("Authorization", &basic(&id, &secret))],
        &format!("token={token}&token_type_hint=access_token"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.assert_no_store();
    assert_inactive(&introspect(w, &token));
    // Only that token.
    assert_eq!(introspect(w, &other).json()["active"], true);
    // Again, and unknown or expired tokens: 200 as RFC 7009 §2.2 says.
    for t in [token.as_str(), "garbage", "a.b.c"] {
        let r = w.post(
            "/oauth2/revoke",
            &[("Authorization", &basic(&id, &secret))],
            &format!("token={t}"),
        );
        assert_eq!(r.status, 200, "{t}: {}", r.body);
    }
    let mut expired = claims_for(&id);
    expired.exp = now() - 10;
    let r = w.post(
        "/oauth2/revoke",
        &[("Authorization", &basic(&id, &secret))],
        &format!("token={}", forge(&w.kid, &w.key, &expired)),
    );
    assert_eq!(r.status, 200, "{}", r.body);
}

/// An API's introspecting client bound to its own audience learns nothing
/// about tokens meant for other APIs: they look like any inactive token.
#[test]
fn introspection_bound_to_audiences_hides_other_apis_tokens() {
    let w = worker();
    let (id, secret) = standard_client();
    let (bound, bound_secret) = w.create_client(&[
        "--scope",
        "read",
        "--introspect",
        "--introspect-audience",
        "urn:two",
    ]);
    let shown = w.cli(&["client", "show", &bound]);
    assert!(shown.stdout.contains("urn:two"), "{}", shown.stdout);
    let ask = |token: &str| {
        w.post(
            "/oauth2/introspect",
            &[("Authorization", &basic(&bound, &bound_secret))],
            &format!("token={token}"),
        )
    };
    let for_two = token_for(w, id, secret, "&resource=urn:two");
    let for_one = token_for(w, id, secret, "&resource=https://api.one.example");
    let r = ask(&for_two);
    assert_eq!(r.json()["active"], true, "{}", r.body);
    let hidden = ask(&for_one);
    assert_inactive(&hidden);
    let garbage = ask("garbage");
    assert_eq!(
        (hidden.status, &hidden.body),
        (garbage.status, &garbage.body)
    );
    // The unbound introspector still sees both.
    assert_eq!(introspect(w, &for_one).json()["active"], true);
}

#[test]
fn revocation_of_another_clients_token_is_refused() {
    let w = worker();
    let (owner, owner_secret) = w.create_client(&["--scope", "read"]);
    let (thief, thief_secret) = w.create_client(&["--scope", "read"]);
    let token = token_for(w, &owner, &owner_secret, "");
    let r = w.post(
        "/oauth2/revoke",
        &[("Authorization", &basic(&thief, &thief_secret))],
        &format!("token={token}"),
    );
    r.assert_error(403, "unauthorized_client");
    assert_eq!(introspect(w, &token).json()["active"], true);
    w.post(
        "/oauth2/revoke",
        &[("Authorization", &basic(&thief, "ets_wrong"))],
        &format!("token={token}"),
    )
    .assert_error(401, "invalid_client");
    w.post(
        "/oauth2/revoke",
        &[("Authorization", &basic(&thief, &thief_secret))],
        "",
    )
    .assert_error(400, "invalid_request");
}

#[test]
fn extra_claims_appear_and_cannot_override_registered_ones() {
    let w = worker();
    let (id, secret) = w.create_client(&[
        "--scope",
        "read",
        "--claim",
        "tenant=acme",
        "--claim",
        "tier=3",
    ]);
    let token = token_for(w, &id, &secret, "");
    let (_, claims) = verify_jwt(&token, &w.key);
    assert_eq!(claims["tenant"], "acme");
    assert_eq!(claims["tier"], 3);
    assert_eq!(claims["iss"], ISSUER);
    assert_eq!(introspect(w, &token).json()["tenant"], "acme");
    for reserved in [
        "iss=evil",
        "sub=admin",
        "scope=admin",
        "client_id=x",
        "aud=x",
        "exp=9999999999",
    ] {
        let out = w.cli(&["client", "create", "--name", "x", "--claim", reserved]);
        assert!(!out.success, "{reserved} accepted");
    }
}

#[test]
fn client_update_changes_grants_but_not_secrets() {
    let w = worker();
    let (id, secret) = w.create_client(&["--scope", "read"]);
    w.token_basic(&id, &secret, &format!("{GRANT}&scope=write"))
        .assert_error(400, "invalid_scope");
    let out = w.cli(&[
        "client",
        "update",
        &id,
        "--scope",
        "read write",
        "--ttl",
        "120",
        "--claim",
        "team=payments",
    ]);
    assert!(out.success, "{}", out.stderr);
    assert!(!out.stdout.contains(&secret));
    let r = w.token_basic(&id, &secret, &format!("{GRANT}&scope=write"));
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["expires_in"], 120);
    let (_, claims) = verify_jwt(r.json()["access_token"].as_str().unwrap(), &w.key);
    assert_eq!(claims["scope"], "write");
    assert_eq!(claims["team"], "payments");
    let bad = w.cli(&["client", "update", &id, "--default-scope", "admin"]);
    assert!(!bad.success, "default scope outside allowed accepted");
}

#[test]
fn audit_lines_for_introspection_and_revocation_carry_no_token() {
    let w = worker();
    let (id, secret) = w.create_client(&["--scope", "read"]);
    let token = token_for(w, &id, &secret, "");
    let jti = verify_jwt(&token, &w.key).1["jti"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(introspect(w, &token).json()["active"], true);
    let r = w.post(
        "/oauth2/revoke",
        &[("Authorization", &basic(&id, &secret))],
        &format!("token={token}"),
    );
    assert_eq!(r.status, 200);
    std::thread::sleep(std::time::Duration::from_millis(500));
    let log = w.log_text();
    let events: Vec<serde_json::Value> = log
        .lines()
        .filter_map(|l| l.find("{\"ts\"").map(|i| &l[i..]))
        .filter_map(|l| serde_json::from_str(l).ok())
        .filter(|v: &serde_json::Value| v["jti"] == jti.as_str())
        .collect();
    let kinds: Vec<(&str, &str)> = events
        .iter()
        .map(|v| {
            (
                v["event"].as_str().unwrap_or(""),
                v["outcome"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(kinds.contains(&("token", "issued")), "{kinds:?}");
    assert!(kinds.contains(&("introspect", "active")), "{kinds:?}");
    assert!(kinds.contains(&("revoke", "revoked")), "{kinds:?}");
    assert!(!log.contains(&token), "token in the log");
    assert!(!log.contains(&secret), "secret in the log");
}

/// The documented signing-key rotation, across redeploys of one KV state:
/// add k2 verify-only, promote it, remove k1. Tokens signed with k1 stay
/// valid until k1 is removed, then are rejected.
#[test]
fn signing_key_rotation_without_downtime() {
    let (k1, k2) = (random_key(), random_key());
    let vars: &[(&str, &str)] = &[
        ("ISSUER", ISSUER),
        ("REQUIRE_HTTPS", "false"),
        ("DEFAULT_AUDIENCE", "https://default.example"),
    ];
    let start = |name: &str, keys: &[(&str, &[u8])], state| {
        Worker::start_with_state(name, vars, &signing_keys_json(keys), false, state)
    };
    let kid_of =
        |token: &str, key: &[u8]| verify_jwt(token, key).0["kid"].as_str().unwrap().to_owned();

    // 1. Only k1.
    let w = start("rotate-1", &[("k1", &k1)], None);
    let (id, secret) = w.create_client(&["--scope", "read", "--introspect"]);
    let t1 = token_for(&w, &id, &secret, "");
    assert_eq!(kid_of(&t1, &k1), "k1");
    let state = w.stop();

    // 2. k2 added verify-only: k1 still signs, old tokens still verify.
    let w = start("rotate-2", &[("k1", &k1), ("k2", &k2)], Some(state));
    let r = w.post(
        "/oauth2/introspect",
        &[("Authorization", &basic(&id, &secret))],
        &format!("token={t1}"),
    );
    assert_eq!(r.json()["active"], true, "{}", r.body);
    assert_eq!(kid_of(&token_for(&w, &id, &secret, ""), &k1), "k1");
    let state = w.stop();

    // 3. k2 promoted: new tokens are signed with k2; k1 tokens still verify.
    let w = start("rotate-3", &[("k2", &k2), ("k1", &k1)], Some(state));
    let t2 = token_for(&w, &id, &secret, "");
    assert_eq!(kid_of(&t2, &k2), "k2");
    let r = w.post(
        "/oauth2/introspect",
        &[("Authorization", &basic(&id, &secret))],
        &format!("token={t1}"),
    );
    assert_eq!(r.json()["active"], true, "{}", r.body);
    let state = w.stop();

    // 4. k1 removed: its tokens are rejected, k2's are not.
    let w = start("rotate-4", &[("k2", &k2)], Some(state));
    let r = w.post(
        "/oauth2/introspect",
        &[("Authorization", &basic(&id, &secret))],
        &format!("token={t1}"),
    );
    assert_inactive(&r);
    let r = w.post(
        "/oauth2/introspect",
        &[("Authorization", &basic(&id, &secret))],
        &format!("token={t2}"),
    );
    assert_eq!(r.json()["active"], true, "{}", r.body);
    w.stop();
}
