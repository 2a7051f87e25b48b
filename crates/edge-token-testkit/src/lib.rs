//! Dev-only test kit for edge-token's tests, fuzz targets and benchmarks:
//! in-memory doubles of the store, limiter and timer the Worker provides,
//! and the small builders every test needs. Never a dependency of a crate
//! that ships.
// Test code: a failed fixture is a failed test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::task::{Context, Poll, Waker};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use edge_token_core::config::Config;
use edge_token_core::limit::{LimitKind, Limiter};
use edge_token_core::random::{OsRandom, Random};
use edge_token_core::store::{ClientStore, StoreError};
use edge_token_core::timer::Timer;

/// Polls `fut` to completion. The doubles' futures are always ready, so a
/// future still pending after many polls means the service awaited
/// something that never becomes ready: a failed test, not a hang.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    for _ in 0..1_000 {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
    }
    panic!("future did not complete: the service awaited something that never became ready");
}

/// `SIGNING_KEYS` JSON with one fresh random 32-byte key, kid `k1`.
pub fn random_signing_keys() -> String {
    let mut key = [0u8; 32];
    OsRandom.fill(&mut key).unwrap();
    format!(
        r#"[{{"kid":"k1","key":"{}"}}]"#,
        URL_SAFE_NO_PAD.encode(key)
    )
}

/// An ES256 signing key: RFC 7515 Appendix A.3's P-256 key pair, kid `es1`.
pub const ES256_KEY: &str = r#"{"kid":"es1","alg":"ES256","kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}"#;
/// An EdDSA signing key: RFC 8037 Appendix A.1's Ed25519 key pair, kid `ed1`.
pub const EDDSA_KEY: &str = r#"{"kid":"ed1","alg":"EdDSA","kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}"#;
/// `SIGNING_KEYS` with [`ES256_KEY`] signing and [`EDDSA_KEY`] verifying.
pub const ASYMMETRIC_SIGNING_KEYS: &str = concat!(
    "[",
    r#"{"kid":"es1","alg":"ES256","kty":"EC","crv":"P-256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0","d":"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"}"#,
    ",",
    r#"{"kid":"ed1","alg":"EdDSA","kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo","d":"nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"}"#,
    "]"
);

/// A 2048-bit RSA key pair for `private_key_jwt` tests (made for this test
/// kit; never use it anywhere else): a JWK with `n`, `e`, `d`, `p`, `q`.
pub const RSA_CLIENT_KEY: &str = r#"{"kty":"RSA","n":"1f5jmhxlBVbx5Sc5leM_5E-Ul8dyA1yTTtfSvDAp66ofKM9--yLWPxOQQqihjSlN2TvrxM7py4iUG4Zw5wdfwoRtWd7A1awJqlsHh0xe26Ew_hGL1wjsFPsz4NgPZT2qiZ0irvwQlk69drmcsuvZIPt2Qm7VsfYWMj8sUrLC1AeBytf6Id90PlVPkX7E9BtEPx_r1088tGam0wqm2hNLpWFD07zLUKbK7A0PgurmVU04P2JZlN6l9kwWTUlMEwYxpTGXhzkj8QSXrJDMplieTuwvHO5d7D4cH5FUi7JwAtxjINlm48Dv24firMylK9sApgguDsZDweQ1AGC6n9lhpw","e":"AQAB","d":"CK-ITYDOW5vl3SHQIN1e2Y_7tLKsYZsA09OkegTbtrrkvmxbFNn4LWeCjuFaJmM4ehj8kyiOp5REcfYb2jhbz7VVf3TqclYkC-1nH4GZRbAJuFnkbEswXp6NNtLeNuvlVuYfun46wNn43ePrColeBi9Hbx9-crKTeibmW8naIwYgHtKjFxQ8zLgvACIlEwi3UlGJmDKxmAVwKsc8nZ2L2VYHM6DDhv8CRTd8iWZIKU2ehWyQu6NYpYsVId-rZno8bdSCMuJ8LFx_Z1HdhPnkkAMgFxkFJwz-Pg7ABVqKjvf5pQdTpFVaj9TAHBQ36ZKoKmBuy8AsUCJgmIKP-DxX0Q","p":"-fHrW9S0pAoWSKpKKZveEVbCLU0Q4I1xES4lH8Hu7ANoY9ruy3Gl8ELOQvzC00VKjaoILtND5JuHqyy9xBI0jqfNOYGyK90jNre5O-5I6Ia0_1C2EdCbwMn63QmF25sloojH-QnNs_jt0jbwpAoTMnLrHDPgrqLkQpOmQur2I1E","q":"2y2C1FqS_HOv0Lq_Ia1TYflUuCXomtcFYnWMKrt1BnYNCIfEQFSgL-TczIR8RfgZQXJp3Fh-xT2xtHhEt33hpKnK65PWlE9lf4IK3yxiIpFHsMn5Uv2vfK9biOeWJjBOwDeqaAkOHdYhdNLLbibCwHk_yWHx5jrNo9WnK1WLx3c"}"#;

/// The public part of a private JWK ([`ES256_KEY`], [`EDDSA_KEY`],
/// [`RSA_CLIENT_KEY`]): every private member dropped, `kid`/`alg` kept.
pub fn public_jwk(private_jwk: &str) -> serde_json::Value {
    let mut jwk: serde_json::Value = serde_json::from_str(private_jwk).unwrap();
    let obj = jwk.as_object_mut().unwrap();
    for member in ["d", "p", "q", "dp", "dq", "qi"] {
        obj.remove(member);
    }
    jwk
}

fn jwk_bytes(jwk: &serde_json::Value, name: &str) -> Vec<u8> {
    URL_SAFE_NO_PAD
        .decode(
            jwk[name]
                .as_str()
                .unwrap_or_else(|| panic!("JWK has no {name}")),
        )
        .unwrap()
}

/// A random source for RSA-PSS salts in tests.
struct TestRng;

impl rsa::rand_core::RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        OsRandom.fill(dest).unwrap();
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rsa::rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rsa::rand_core::CryptoRng for TestRng {}

/// The raw JOSE signature of `input` by a private JWK with algorithm
/// `alg`: ES256, EdDSA/Ed25519, RS256 or PS256 (any other name panics).
pub fn jws_signature(private_jwk: &str, alg: &str, input: &[u8]) -> Vec<u8> {
    use sha2::Digest;
    let jwk: serde_json::Value = serde_json::from_str(private_jwk).unwrap();
    match alg {
        "ES256" => {
            use p256::ecdsa::signature::Signer;
            let sk = p256::ecdsa::SigningKey::from_slice(&jwk_bytes(&jwk, "d")).unwrap();
            let sig: p256::ecdsa::Signature = sk.sign(input);
            sig.to_bytes().to_vec()
        }
        "EdDSA" | "Ed25519" => {
            use ed25519_dalek::Signer;
            let d: [u8; 32] = jwk_bytes(&jwk, "d").try_into().unwrap();
            ed25519_dalek::SigningKey::from_bytes(&d)
                .sign(input)
                .to_bytes()
                .to_vec()
        }
        "RS256" | "PS256" => {
            let big = |name| rsa::BigUint::from_bytes_be(&jwk_bytes(&jwk, name));
            let key = rsa::RsaPrivateKey::from_components(
                big("n"),
                big("e"),
                big("d"),
                vec![big("p"), big("q")],
            )
            .unwrap();
            let digest = sha2::Sha256::digest(input);
            if alg == "RS256" {
                key.sign(rsa::Pkcs1v15Sign::new::<sha2::Sha256>(), &digest)
                    .unwrap()
            } else {
                key.sign_with_rng(
                    &mut TestRng,
                    rsa::Pss::new_with_salt::<sha2::Sha256>(32),
                    &digest,
                )
                .unwrap()
            }
        }
        other => panic!("jws_signature: no algorithm {other}"),
    }
}

/// A compact JWS of `claims` with header `{"alg", "kid"?}`, signed by
/// `private_jwk` (see [`jws_signature`]).
pub fn sign_assertion(
    private_jwk: &str,
    alg: &str,
    kid: Option<&str>,
    claims: &serde_json::Value,
) -> String {
    let mut header = serde_json::json!({ "alg": alg });
    if let Some(kid) = kid {
        header["kid"] = kid.into();
    }
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = jws_signature(private_jwk, alg, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// A configuration from `vars`; `SIGNING_KEYS` is [`random_signing_keys`]
/// unless given. Panics if it is invalid.
pub fn config_from(vars: &[(&str, &str)]) -> Config {
    let mut map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    map.entry("SIGNING_KEYS".to_owned())
        .or_insert_with(random_signing_keys);
    Config::from_lookup(|name| map.get(name).cloned()).expect("test config must be valid")
}

/// An in-memory store, with switches that make every operation fail or
/// never answer (fault injection for tests).
#[derive(Debug, Default)]
pub struct MemoryStore {
    records: RefCell<HashMap<String, String>>,
    revoked: RefCell<HashMap<String, u64>>,
    used_assertions: RefCell<HashMap<String, u64>>,
    unavailable: Cell<bool>,
    hanging: Cell<bool>,
    write_conflicts: Cell<u32>,
    reads: Cell<u64>,
    writes: Cell<u64>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Stores raw JSON for `client_id`.
    pub fn put(&self, client_id: &str, json: String) {
        self.records.borrow_mut().insert(client_id.to_owned(), json);
    }

    /// Removes a client record.
    pub fn delete(&self, client_id: &str) {
        self.records.borrow_mut().remove(client_id);
    }

    /// Makes operations fail (or succeed again).
    pub fn set_unavailable(&self, unavailable: bool) {
        self.unavailable.set(unavailable);
    }

    /// Makes operations never complete (or answer again).
    pub fn set_hanging(&self, hanging: bool) {
        self.hanging.set(hanging);
    }

    /// Makes the next `writes` denylist writes fail as a
    /// [`StoreError::WriteConflict`] without landing (KV's `429`: a
    /// concurrent write to the key, not yet visible to reads here, or an
    /// exhausted write limit).
    pub fn set_write_conflicts(&self, writes: u32) {
        self.write_conflicts.set(writes);
    }

    /// How many denylist writes were attempted.
    pub fn writes(&self) -> u64 {
        self.writes.get()
    }

    /// How many reads were made.
    pub fn reads(&self) -> u64 {
        self.reads.get()
    }

    /// How many used client assertions are remembered.
    pub fn used_assertions(&self) -> usize {
        self.used_assertions.borrow().len()
    }

    /// The expiry recorded for a used assertion, by its replay key.
    pub fn assertion_used_until(&self, replay_key: &str) -> Option<u64> {
        self.used_assertions.borrow().get(replay_key).copied()
    }

    /// Forgets every used assertion (as a store at another location that
    /// has not seen them yet).
    pub fn forget_assertions(&self) {
        self.used_assertions.borrow_mut().clear();
    }

    /// The denylist expiry recorded for `jti`, if revoked.
    pub fn revoked_until(&self, jti: &str) -> Option<u64> {
        self.revoked.borrow().get(jti).copied()
    }

    async fn check(&self) -> Result<(), StoreError> {
        if self.hanging.get() {
            std::future::pending::<()>().await;
        }
        if self.unavailable.get() {
            return Err(StoreError::Unavailable("injected failure".into()));
        }
        Ok(())
    }
}

impl ClientStore for MemoryStore {
    async fn get_record(
        &self,
        client_id: &str,
        _cache_ttl: u64,
    ) -> Result<Option<String>, StoreError> {
        self.reads.set(self.reads.get() + 1);
        self.check().await?;
        Ok(self.records.borrow().get(client_id).cloned())
    }

    async fn is_revoked(&self, jti: &str) -> Result<bool, StoreError> {
        self.reads.set(self.reads.get() + 1);
        self.check().await?;
        Ok(self.revoked.borrow().contains_key(jti))
    }

    async fn revoke(&self, jti: &str, _client_id: &str, expires_at: u64) -> Result<(), StoreError> {
        self.writes.set(self.writes.get() + 1);
        self.check().await?;
        if self.write_conflicts.get() > 0 {
            self.write_conflicts.set(self.write_conflicts.get() - 1);
            return Err(StoreError::WriteConflict(
                "KV PUT failed: 429 Too Many Requests (injected)".into(),
            ));
        }
        self.revoked.borrow_mut().insert(jti.to_owned(), expires_at);
        Ok(())
    }

    async fn assertion_used(&self, replay_key: &str) -> Result<bool, StoreError> {
        self.reads.set(self.reads.get() + 1);
        self.check().await?;
        Ok(self.used_assertions.borrow().contains_key(replay_key))
    }

    async fn use_assertion(&self, replay_key: &str, expires_at: u64) -> Result<(), StoreError> {
        self.writes.set(self.writes.get() + 1);
        self.check().await?;
        if self.write_conflicts.get() > 0 {
            self.write_conflicts.set(self.write_conflicts.get() - 1);
            return Err(StoreError::WriteConflict(
                "KV PUT failed: 429 Too Many Requests (injected)".into(),
            ));
        }
        self.used_assertions
            .borrow_mut()
            .insert(replay_key.to_owned(), expires_at);
        Ok(())
    }
}

/// No rate limiting: every event (failure or revocation) is within its limit.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoLimiter;

impl Limiter for NoLimiter {
    async fn hit(&self, _kind: LimitKind, _key: &str) -> Result<bool, String> {
        Ok(true)
    }
}

/// An in-memory fixed-count limiter for tests: `limit` failures per key are
/// allowed, the next ones are over. (No time window: tests call
/// [`MemoryLimiter::reset`].)
#[derive(Debug, Default)]
pub struct MemoryLimiter {
    limit: u64,
    counts: RefCell<HashMap<(LimitKind, String), u64>>,
    failing: std::cell::Cell<bool>,
}

impl MemoryLimiter {
    /// A limiter allowing `limit` failures per key.
    pub fn new(limit: u64) -> Self {
        MemoryLimiter {
            limit,
            ..Self::default()
        }
    }

    /// Failures counted for `key`.
    pub fn count(&self, kind: LimitKind, key: &str) -> u64 {
        self.counts
            .borrow()
            .get(&(kind, key.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// How many keys are counted (all kinds).
    pub fn keys(&self) -> usize {
        self.counts.borrow().len()
    }

    /// Forgets every count (a new period).
    pub fn reset(&self) {
        self.counts.borrow_mut().clear();
    }

    /// Makes the limiter fail (or work again).
    pub fn set_failing(&self, failing: bool) {
        self.failing.set(failing);
    }
}

impl Limiter for MemoryLimiter {
    async fn hit(&self, kind: LimitKind, key: &str) -> Result<bool, String> {
        if self.failing.get() {
            return Err("injected limiter failure".to_owned());
        }
        let mut counts = self.counts.borrow_mut();
        let count = counts.entry((kind, key.to_owned())).or_insert(0);
        *count = count.saturating_add(1);
        Ok(*count <= self.limit)
    }
}

/// A timer that never fires: nothing times out (for stores that always
/// answer, such as the in-memory one in benchmarks).
#[derive(Debug, Default, Clone, Copy)]
pub struct NoTimer;

impl Timer for NoTimer {
    fn sleep(&self, _ms: u64) -> impl Future<Output = ()> {
        std::future::pending()
    }
}

/// A timer for tests that fires at once: the awaited future wins only if it
/// is ready on its first poll.
#[derive(Debug, Default, Clone, Copy)]
pub struct ImmediateTimer;

impl Timer for ImmediateTimer {
    fn sleep(&self, _ms: u64) -> impl Future<Output = ()> {
        std::future::ready(())
    }
}
