//! The documented rotation of an ES256 signing key, across redeploys of one
//! issuer (restarts on one KV state, each with new `SIGNING_KEYS`): add k2
//! verify-only, promote it, remove k1. Checked through the JWK Set (what
//! APIs see) and through the issuer's introspection.
//!
//! The keys are made here: this branch's `edge-token key` commands generate
//! HS256 keys only (no `add`/`promote`/`remove` with --keys FILE yet).

use edge_token_core::token::{verify, KeySet, VerifyError};

use crate::asym::{
    fetch_jwks, introspect, issue, signing_keys, split, start_issuer, Issuer, TestKey,
};

fn kids(jwks: &str) -> Vec<String> {
    KeySet::from_jwks(jwks)
        .unwrap()
        .kids()
        .map(str::to_owned)
        .collect()
}

fn kid_of(token: &str) -> String {
    split(token).header["kid"].as_str().unwrap().to_owned()
}

#[test]
fn rotation_of_es256_key_through_the_jwks() {
    let k1 = TestKey::es256("k1");
    let k2 = TestKey::es256("k2");
    let restart = |name: &str, keys: &[&TestKey], state| {
        let entries: Vec<serde_json::Value> = keys.iter().map(|k| k.entry.clone()).collect();
        start_issuer(name, &signing_keys(&entries), state)
    };

    // 0. k1 alone signs.
    let w = restart("rotation-0", &[&k1], None);
    let (id, secret) = w.create_client(&[
        "--scope",
        "read",
        "--introspect",
        "--audience",
        crate::asym::AUDIENCE,
    ]);
    let t1 = issue(&w, &id, &secret);
    assert_eq!(kid_of(&t1), "k1");
    assert_eq!(kids(&fetch_jwks(&w)), ["k1"]);
    let state = w.stop();

    // 1. k2 added verify-only: published, but k1 still signs.
    let w = restart("rotation-1", &[&k1, &k2], Some(state));
    let jwks = fetch_jwks(&w);
    assert_eq!(kids(&jwks), ["k1", "k2"]);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&jwks).unwrap(),
        serde_json::json!({"keys": [k1.expected_jwk(), k2.expected_jwk()]})
    );
    let t1b = issue(&w, &id, &secret);
    assert_eq!(kid_of(&t1b), "k1");
    let state = w.stop();

    // 2. k2 promoted: new tokens carry k2; k1's still verify, at the issuer
    // and for an API holding only the JWK Set.
    let w = restart("rotation-2", &[&k2, &k1], Some(state));
    let jwks = fetch_jwks(&w);
    assert_eq!(kids(&jwks), ["k2", "k1"]);
    let t2 = issue(&w, &id, &secret);
    assert_eq!(kid_of(&t2), "k2");
    let api = KeySet::from_jwks(&jwks).unwrap();
    for t in [&t1, &t1b, &t2] {
        verify(&api, t).unwrap_or_else(|e| panic!("{} refused: {e:?}", kid_of(t)));
    }
    let issuer = Issuer { w, id, secret };
    for t in [&t1, &t1b, &t2] {
        assert_eq!(introspect(&issuer, t)["active"], true, "{}", kid_of(t));
    }
    let Issuer { w, id, secret } = issuer;
    let state = w.stop();

    // 3. k1 removed: gone from the JWK Set; its tokens are refused by the
    // issuer and by an API with the new set; k2's are fine.
    let w = restart("rotation-3", &[&k2], Some(state));
    let jwks = fetch_jwks(&w);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&jwks).unwrap(),
        serde_json::json!({"keys": [k2.expected_jwk()]})
    );
    let api = KeySet::from_jwks(&jwks).unwrap();
    let issuer = Issuer { w, id, secret };
    for t in [&t1, &t1b] {
        assert_eq!(verify(&api, t).unwrap_err(), VerifyError::UnknownKey);
        assert_eq!(introspect(&issuer, t), serde_json::json!({"active": false}));
    }
    verify(&api, &t2).expect("k2's token");
    assert_eq!(introspect(&issuer, &t2)["active"], true);
    assert_eq!(kid_of(&issuer.token()), "k2");
    issuer.w.stop();
}
