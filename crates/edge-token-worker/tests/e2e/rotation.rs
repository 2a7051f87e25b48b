//! The documented rotation of an ES256 signing key, done as an operator
//! does it: the key file is made and changed only with the admin CLI
//! (`edge-token key generate`, then `key add` k2, `key promote` k2,
//! `key remove` k1, each with `--keys FILE`), and every step is a redeploy
//! of one issuer (a restart on one KV state) whose `SIGNING_KEYS` is the
//! file's content, as `wrangler secret put SIGNING_KEYS < FILE` stores it.
//! The test reads the file but never writes it.
//!
//! After each step the JWK Set the restarted issuer serves is what
//! `key public` prints for the file, and what the file's entries make
//! without their `d`; `key list` (and the listing each change prints) shows
//! every key's role; no CLI output, and no Worker log, holds the private `d`
//! of any key the file has held. Tokens are checked through the JWK Set
//! (what APIs see, with the verify crate) and through the issuer's
//! introspection.

use std::path::{Path, PathBuf};

use edge_token_core::token::{verify, KeySet, VerifyError};

use crate::asym::{fetch_jwks, introspect, issue, split, start_issuer, Issuer};
use crate::harness::{cli_command, CliOutput, Worker, ROOT};

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

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// `key list`'s output for `(kid, role)` pairs of ES256 keys, in order.
fn listing(roles: &[(&str, &str)]) -> serde_json::Value {
    roles
        .iter()
        .map(|(kid, role)| serde_json::json!({"alg": "ES256", "kid": kid, "role": role}))
        .collect()
}

/// The `SIGNING_KEYS` file, handled through `edge-token key ... --keys FILE`
/// only.
struct KeyFile {
    path: PathBuf,
    /// Every private `d` the file has held so far (a removed key's too).
    private: Vec<String>,
}

impl KeyFile {
    /// A path in a new directory of its own; the file does not exist yet.
    fn new() -> KeyFile {
        let dir = Path::new(ROOT).join(format!("target/e2e/rotation-keys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create key file dir");
        KeyFile {
            path: dir.join("signing-keys.json"),
            private: Vec::new(),
        }
    }

    /// `edge-token key <args> --keys FILE`, checked to succeed, to leave
    /// the file at mode 0600 and to print no private `d` (of the keys in
    /// the file now, or of any it held before).
    fn key(&mut self, args: &[&str]) -> CliOutput {
        let path = self.path.to_str().expect("UTF-8 path").to_owned();
        let mut all = vec!["key"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--keys", &path]);
        let out = cli_command(&all);
        assert!(
            out.success,
            "edge-token {all:?} failed: {}{}",
            out.stdout, out.stderr
        );
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&self.path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{} after {all:?}", self.path.display());
        }
        for entry in self.entries() {
            let d = entry["d"].as_str().expect("every key here is private");
            if !self.private.iter().any(|p| p == d) {
                self.private.push(d.to_owned());
            }
        }
        self.assert_no_private(&format!("edge-token {all:?} stdout"), &out.stdout);
        self.assert_no_private(&format!("edge-token {all:?} stderr"), &out.stderr);
        out
    }

    #[track_caller]
    fn assert_no_private(&self, what: &str, text: &str) {
        for d in &self.private {
            assert!(!text.contains(d.as_str()), "{what} holds a private d");
        }
    }

    /// The file's content: what the redeploy puts in `SIGNING_KEYS`.
    fn content(&self) -> String {
        std::fs::read_to_string(&self.path).expect("read the key file")
    }

    fn entries(&self) -> Vec<serde_json::Value> {
        json(&self.content())
            .as_array()
            .expect("SIGNING_KEYS array")
            .clone()
    }

    /// The JWK Set the file's entries make: each without `d`, with
    /// `use: sig`, in file order.
    fn expected_jwks(&self) -> serde_json::Value {
        let keys: Vec<serde_json::Value> = self
            .entries()
            .into_iter()
            .map(|mut e| {
                let o = e.as_object_mut().unwrap();
                o.remove("d");
                o.insert("use".into(), "sig".into());
                e
            })
            .collect();
        serde_json::json!({ "keys": keys })
    }

    /// The JWK Set `w` serves, checked against `key public` and the file's
    /// entries; `key list` checked to show `roles`; `w`'s log checked to
    /// hold no private `d`.
    fn check(&mut self, w: &Worker, roles: &[(&str, &str)]) -> String {
        let jwks = fetch_jwks(w);
        let public = self.key(&["public"]);
        assert_eq!(json(&jwks), public.json(), "served JWKS vs key public");
        assert_eq!(json(&jwks), self.expected_jwks(), "served JWKS vs the file");
        assert_eq!(self.key(&["list"]).json(), listing(roles));
        self.assert_no_private("the Worker log", &w.log_text());
        jwks
    }
}

#[test]
fn rotation_of_es256_key_through_the_jwks() {
    let mut keys = KeyFile::new();
    let restart = |name: &str, keys: &KeyFile, state| start_issuer(name, &keys.content(), state);

    // 0. k1 generated, alone: it signs.
    let generated = keys
        .key(&["generate", "--alg", "ES256", "--kid", "k1"])
        .json();
    assert_eq!(
        (&generated["kid"], &generated["alg"], &generated["role"]),
        (&"k1".into(), &"ES256".into(), &"signs".into())
    );
    let w = restart("rotation-0", &keys, None);
    let (id, secret) = w.create_client(&[
        "--scope",
        "read",
        "--introspect",
        "--audience",
        crate::asym::AUDIENCE,
    ]);
    let t1 = issue(&w, &id, &secret);
    assert_eq!(kid_of(&t1), "k1");
    let jwks = keys.check(&w, &[("k1", "signs")]);
    assert_eq!(kids(&jwks), ["k1"]);
    assert_eq!(
        json(&jwks),
        serde_json::json!({"keys": [generated["jwk"]]}),
        "key generate printed the JWK the issuer publishes"
    );
    let state = w.stop();

    // 1. k2 added verify-only: published, but k1 still signs.
    let added = keys.key(&["add", "--alg", "ES256", "--kid", "k2"]);
    let roles = [("k1", "signs"), ("k2", "verifies")];
    assert_eq!(added.json(), listing(&roles));
    let w = restart("rotation-1", &keys, Some(state));
    let jwks = keys.check(&w, &roles);
    assert_eq!(kids(&jwks), ["k1", "k2"]);
    assert_eq!(
        json(&jwks)["keys"][0],
        generated["jwk"],
        "k1 is unchanged by key add"
    );
    let t1b = issue(&w, &id, &secret);
    assert_eq!(kid_of(&t1b), "k1");
    let state = w.stop();

    // 2. k2 promoted: new tokens carry k2; k1's still verify, at the issuer
    // and for an API holding only the JWK Set.
    let promoted = keys.key(&["promote", "k2"]);
    let roles = [("k2", "signs"), ("k1", "verifies")];
    assert_eq!(promoted.json(), listing(&roles));
    let w = restart("rotation-2", &keys, Some(state));
    let jwks = keys.check(&w, &roles);
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
    let removed = keys.key(&["remove", "k1"]);
    let roles = [("k2", "signs")];
    assert_eq!(removed.json(), listing(&roles));
    let w = restart("rotation-3", &keys, Some(state));
    let jwks = keys.check(&w, &roles);
    assert_eq!(kids(&jwks), ["k2"]);
    let api = KeySet::from_jwks(&jwks).unwrap();
    let issuer = Issuer { w, id, secret };
    for t in [&t1, &t1b] {
        assert_eq!(verify(&api, t).unwrap_err(), VerifyError::UnknownKey);
        assert_eq!(introspect(&issuer, t), serde_json::json!({"active": false}));
    }
    verify(&api, &t2).expect("k2's token");
    assert_eq!(introspect(&issuer, &t2)["active"], true);
    assert_eq!(kid_of(&issuer.token()), "k2");
    keys.assert_no_private("the Worker log", &issuer.w.log_text());
    issuer.w.stop();
}
