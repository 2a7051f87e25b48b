//! Shared fixtures for the fuzz targets in `fuzz_targets/`: a fixed,
//! valid configuration with two signing keys, deterministic randomness,
//! registered clients and a handful of tokens minted with the real code.
//!
//! Everything here is deterministic (fixed keys, a seeded random source), so
//! a crash input reproduces exactly and committed seeds stay meaningful.
// Test code: a failed fixture or assertion is a failed run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub use edge_token_testkit::block_on;
use std::cell::Cell;
use std::collections::{BTreeMap, HashMap};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;

use edge_token_core::client::{
    generate_client_id, generate_client_secret, ClientRecord, SecretEntry, SecretHash,
};
use edge_token_core::config::Config;
use edge_token_core::credentials::ClientSecret;
use edge_token_core::form::encode_component;
use edge_token_core::random::{Random, RandomError};
use edge_token_core::token::{mint, AccessTokenClaims, Audience, KeySet};

/// The fixed "current time" of every fuzz run (Unix seconds).
pub const NOW: u64 = 1_700_000_000;
/// `ISSUER`.
pub const ISSUER: &str = "https://auth.example";
/// An audience client A may request.
pub const API: &str = "https://api.example";
/// Another audience client A may request (not a URL).
pub const BILLING: &str = "urn:billing";
/// `DEFAULT_AUDIENCE`.
pub const CONFIG_AUDIENCE: &str = "https://default.example";

/// Raw key bytes: k1 signs, k2 only verifies (a key being rotated out).
pub const KEY1: &[u8; 32] = b"0123456789abcdef0123456789abcdef";
/// See [`KEY1`].
pub const KEY2: &[u8; 32] = b"abcdefghijklmnopqrstuvwxyz123456";

/// A deterministic random source (SplitMix64): reproducible ids, secrets
/// and `jti`s. Never use outside tests.
#[derive(Debug)]
pub struct SeqRandom(Cell<u64>);

impl SeqRandom {
    /// A source starting at `seed`.
    pub fn new(seed: u64) -> Self {
        SeqRandom(Cell::new(seed))
    }
}

impl Random for SeqRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError> {
        for chunk in buf.chunks_mut(8) {
            let mut z = self.0.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
            self.0.set(z);
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
        Ok(())
    }
}

/// `SIGNING_KEYS` for [`KEY1`] (signer) and [`KEY2`].
pub fn signing_keys_json() -> String {
    format!(
        r#"[{{"kid":"k1","key":"{}"}},{{"kid":"k2","key":"{}"}}]"#,
        URL_SAFE_NO_PAD.encode(KEY1),
        URL_SAFE_NO_PAD.encode(KEY2)
    )
}

/// The key set of [`signing_keys_json`].
pub fn keyset() -> KeySet {
    KeySet::parse(&signing_keys_json()).expect("fixture keys are valid")
}

/// A key set with only [`KEY2`], so tokens signed by the non-signing key exist.
pub fn keyset_k2() -> KeySet {
    KeySet::parse(&format!(
        r#"[{{"kid":"k2","key":"{}"}}]"#,
        URL_SAFE_NO_PAD.encode(KEY2)
    ))
    .expect("fixture key is valid")
}

/// The fixed, valid configuration: HTTPS required, TTL 300 / max 3600, a
/// default audience, two scopes advertised.
pub fn config() -> Config {
    let vars: HashMap<&str, String> = [
        ("ISSUER", ISSUER.to_owned()),
        ("TOKEN_TTL", "300".to_owned()),
        ("MAX_TOKEN_TTL", "3600".to_owned()),
        ("DEFAULT_AUDIENCE", CONFIG_AUDIENCE.to_owned()),
        ("SCOPES_SUPPORTED", "read write".to_owned()),
        ("SIGNING_KEYS", signing_keys_json()),
    ]
    .into_iter()
    .collect();
    Config::from_lookup(|name| vars.get(name).cloned()).expect("fixture config is valid")
}

/// A registered client and its plain secret.
#[derive(Debug, Clone)]
pub struct Client {
    /// `etc_...`.
    pub id: String,
    /// `ets_...`.
    pub secret: ClientSecret,
    /// A second secret, stored as expired (it must no longer authenticate).
    pub old_secret: ClientSecret,
    /// What is stored.
    pub record: ClientRecord,
}

impl Client {
    /// `Basic base64(urlencode(id):urlencode(secret))`.
    pub fn basic(&self) -> String {
        basic_header(&self.id, self.secret.expose())
    }
}

/// `Authorization: Basic` for `id` and `secret`.
pub fn basic_header(id: &str, secret: &str) -> String {
    format!(
        "Basic {}",
        STANDARD.encode(format!(
            "{}:{}",
            encode_component(id),
            encode_component(secret)
        ))
    )
}

/// The clients in the store: `[0]` may introspect, has scopes, audiences,
/// an extra claim, and a second secret that expires at `NOW - 100`;
/// `[1]` is disabled.
pub fn clients() -> [Client; 2] {
    let random = SeqRandom::new(0x5eed);
    let make = |name: &str| {
        let id = generate_client_id(&random).expect("seq random never fails");
        let secret = generate_client_secret(&random).expect("seq random never fails");
        let old = generate_client_secret(&random).expect("seq random never fails");
        let mut record = ClientRecord::new(&id, name, NOW - 1_000);
        record.secrets = vec![
            SecretEntry {
                digest: SecretHash::compute(&id, &secret),
                created_at: NOW - 1_000,
                expires_at: None,
            },
            SecretEntry {
                digest: SecretHash::compute(&id, &old),
                created_at: NOW - 5_000,
                // Inside the fuzzed clock range (NOW - 512 .. NOW + 448).
                expires_at: Some(NOW - 100),
            },
        ];
        Client {
            id,
            secret,
            old_secret: old,
            record,
        }
    };
    let mut a = make("fuzz client a");
    a.record.allowed_scopes = vec!["read".into(), "write".into(), "admin:all".into()];
    a.record.default_scopes = vec!["read".into()];
    a.record.allowed_audiences = vec![API.into(), BILLING.into()];
    a.record.introspect = true;
    a.record
        .extra_claims
        .insert("tenant".into(), serde_json::json!("acme"));
    let mut b = make("fuzz client b");
    b.record.disabled = true;
    b.record.introspect = true;
    [a, b]
}

/// The claims the service would put in a token for `client` at `iat`.
pub fn claims_for(client: &Client, iat: u64, ttl: u64, jti: &str) -> AccessTokenClaims {
    AccessTokenClaims {
        iss: ISSUER.to_owned(),
        sub: client.id.clone(),
        aud: Audience::One(API.to_owned()),
        exp: iat + ttl,
        iat,
        jti: jti.to_owned(),
        client_id: client.id.clone(),
        scope: "read write".to_owned(),
        extra: client.record.extra_claims.clone(),
    }
}

/// A minted token, what it was minted from, and whether the service must
/// find it active at [`NOW`] (for client A: valid, ours, unexpired).
#[derive(Debug, Clone)]
pub struct KnownToken {
    /// The compact JWT.
    pub token: String,
    /// Its claims.
    pub claims: AccessTokenClaims,
    /// Whether introspection at `NOW` must answer `active: true`.
    pub active_at_now: bool,
}

/// Tokens minted by the real `mint`: several shapes (one/many audiences,
/// extra claims, `nbf`, other issuer, expired, disabled owner, second key).
pub fn known_tokens(clients: &[Client; 2]) -> Vec<KnownToken> {
    let keys = keyset();
    let k2 = keyset_k2();
    let [a, b] = clients;
    let mut out = Vec::new();
    let mut push = |keys: &KeySet, claims: AccessTokenClaims, active: bool| {
        out.push(KnownToken {
            token: mint(keys, &claims).unwrap_or_default(),
            claims,
            active_at_now: active,
        })
    };
    // 0: a plain valid token of client A.
    push(&keys, claims_for(a, NOW - 10, 300, "jti-valid-0"), true);
    // 1: many audiences, no scope, signed with the second key.
    let mut c = claims_for(a, NOW - 20, 3600, "jti-k2-1");
    c.aud = Audience::Many(vec![API.into(), BILLING.into()]);
    c.scope = String::new();
    c.extra = BTreeMap::new();
    push(&k2, c, true);
    // 2: expired.
    push(
        &keys,
        claims_for(a, NOW - 4_000, 300, "jti-expired-2"),
        false,
    );
    // 3: another issuer.
    let mut c = claims_for(a, NOW - 10, 300, "jti-foreign-3");
    c.iss = "https://evil.example".into();
    push(&keys, c, false);
    // 4: not yet valid (nbf in the future).
    let mut c = claims_for(a, NOW - 10, 300, "jti-nbf-4");
    c.extra.insert("nbf".into(), serde_json::json!(NOW + 100));
    push(&keys, c, false);
    // 5: the disabled client's token.
    push(&keys, claims_for(b, NOW - 10, 300, "jti-disabled-5"), false);
    // 6: a deleted (unknown) client's token.
    let mut c = claims_for(a, NOW - 10, 300, "jti-deleted-6");
    c.client_id = "etc_deleted".into();
    c.sub = "etc_deleted".into();
    push(&keys, c, false);
    out
}

/// A cursor over the fuzz input with total, never-failing readers (the
/// targets split their input by hand; no `arbitrary` dependency needed).
#[derive(Debug)]
pub struct Input<'a> {
    data: &'a [u8],
}

impl<'a> Input<'a> {
    /// Wraps the fuzz input.
    pub fn new(data: &'a [u8]) -> Self {
        Input { data }
    }

    /// Whether nothing is left.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The next byte, 0 when exhausted.
    pub fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    /// A little-endian u16, 0-padded.
    pub fn u16(&mut self) -> u16 {
        u16::from_le_bytes([self.byte(), self.byte()])
    }

    /// A length-prefixed (1 byte) run of bytes.
    pub fn bytes(&mut self) -> &'a [u8] {
        let n = usize::from(self.byte()).min(self.data.len());
        let (head, rest) = self.data.split_at(n);
        self.data = rest;
        head
    }

    /// A length-prefixed string (invalid UTF-8 replaced lossily).
    pub fn string(&mut self) -> String {
        String::from_utf8_lossy(self.bytes()).into_owned()
    }

    /// Everything left.
    pub fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.data)
    }
}
