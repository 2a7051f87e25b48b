//! Timing: an unknown client id and a known client id with a wrong secret
//! must cost the same, or response times would tell an attacker which client
//! ids exist. `client::authenticate` digests the presented secret in both
//! cases and compares it against a dummy digest when there is no record.
//!
//! Method (robust on a small, shared, noisy machine):
//!
//! * The two cases are interleaved call by call, in a fresh random order each
//!   round, so drift and interference from other processes hit both alike.
//!   Each call is timed on its own; a round's calls of one case make one
//!   batch, whose time per call is the mean of its calls without the slowest
//!   10% (a preempted call would otherwise add a whole time slice to one
//!   case).
//! * Many rounds give many batch times per case; their medians are compared,
//!   so the rounds that interference spoilt do not count.
//! * The same detector is run on deliberately leaky comparisons (an unknown
//!   client answered without digesting, or with a cheaper digest, and at the
//!   service level a request refused before the lookup). It must see those
//!   differences, or the equality checks would prove nothing.
//!
//! Runs under plain `cargo test` (debug build); every figure is printed
//! (`cargo test --test timing -- --nocapture`).
// Test code: a failed fixture or assertion is a failed run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use edge_token_testkit::block_on;
use std::collections::HashMap;
use std::hint::black_box;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use sha2::{Digest, Sha256};

use edge_token_core::cache::RecordCache;
use edge_token_core::client::{
    authenticate, generate_client_id, generate_client_secret, ClientRecord, SecretEntry, SecretHash,
};
use edge_token_core::config::Config;
use edge_token_core::credentials::ClientSecret;
use edge_token_core::form::encode_component;
use edge_token_core::http::{Body, HttpRequest};
use edge_token_core::random::{OsRandom, Random};
use edge_token_core::service::{Outcome, Service};
use edge_token_testkit::MemoryStore;
use edge_token_testkit::NoLimiter;
use edge_token_testkit::NoTimer;

const NOW: u64 = 1_700_000_000;
/// Calls per case per round.
const BATCH: usize = 200;
/// Rounds (batch times per case) for the core comparisons.
const ROUNDS: usize = 80;
/// Rounds for the service-level comparison (a request costs more).
const SERVICE_ROUNDS: usize = 60;
/// The two medians may differ by at most this fraction of the smaller.
const MAX_RELATIVE_DIFFERENCE: f64 = 0.15;
/// A real leak must make the detector report at least this ratio.
const MIN_LEAK_RATIO: f64 = 1.5;
/// Share of each batch's slowest calls left out (see [`trimmed_mean_ns`]).
const TRIM_PERCENT: usize = 10;

/// Serialises the measurements of this file's tests.
static SERIAL: Mutex<()> = Mutex::new(());

// ---------------------------------------------------------------------------
// The detector
// ---------------------------------------------------------------------------

/// xorshift64*: enough to shuffle call orders.
struct Shuffler(u64);

impl Shuffler {
    fn new() -> Self {
        let mut seed = [0u8; 8];
        OsRandom.fill(&mut seed).unwrap();
        Shuffler(u64::from_le_bytes(seed) | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Fisher-Yates.
    fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            items.swap(i, j);
        }
    }
}

/// Median batch times of two cases, in nanoseconds per call.
#[derive(Debug, Clone, Copy)]
struct Comparison {
    a_ns: f64,
    b_ns: f64,
}

impl Comparison {
    /// Larger median over smaller (>= 1).
    fn ratio(&self) -> f64 {
        self.a_ns.max(self.b_ns) / self.a_ns.min(self.b_ns)
    }

    fn relative_difference(&self) -> f64 {
        self.ratio() - 1.0
    }

    fn report(&self, what: &str, a: &str, b: &str) {
        println!(
            "{what}: {a} {:.0} ns/call, {b} {:.0} ns/call (medians over rounds of {BATCH}-call \
             batches, {TRIM_PERCENT}% trimmed); ratio {:.3}, relative difference {:.1}%",
            self.a_ns,
            self.b_ns,
            self.ratio(),
            self.relative_difference() * 100.0
        );
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_unstable_by(f64::total_cmp);
    let mid = values.len() / 2;
    if values.len().is_multiple_of(2) {
        (values[mid - 1] + values[mid]) / 2.0
    } else {
        values[mid]
    }
}

/// A batch's time per call: the mean of its calls after dropping the slowest
/// [`TRIM_PERCENT`]. A call that was preempted (the scheduler's time slice is
/// a few milliseconds, the size of a whole round) would otherwise add that
/// time to one case only, in most rounds. Both cases lose the same number of
/// calls, and a leak that slows every call of one case still shows.
fn trimmed_mean_ns(calls: &mut [Duration]) -> f64 {
    calls.sort_unstable();
    let kept = calls.len() - calls.len() * TRIM_PERCENT / 100;
    let total: Duration = calls[..kept].iter().sum();
    total.as_nanos() as f64 / kept as f64
}

/// Runs `a` and `b` `BATCH` times each per round, interleaved in a random
/// order, for `rounds` rounds (after one unmeasured warm-up round), and
/// returns the median over rounds of each case's (trimmed) batch time.
fn compare(rounds: usize, mut a: impl FnMut(), mut b: impl FnMut()) -> Comparison {
    // The tests of this file measure one at a time, not against each other.
    let _serial = SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut shuffler = Shuffler::new();
    let mut order: Vec<bool> = (0..2 * BATCH).map(|i| i < BATCH).collect();
    let mut a_calls = Vec::with_capacity(BATCH);
    let mut b_calls = Vec::with_capacity(BATCH);
    let mut a_batches = Vec::with_capacity(rounds);
    let mut b_batches = Vec::with_capacity(rounds);
    for round in 0..=rounds {
        shuffler.shuffle(&mut order);
        a_calls.clear();
        b_calls.clear();
        for &is_a in &order {
            let start = Instant::now();
            if is_a {
                a();
            } else {
                b();
            }
            let elapsed = start.elapsed();
            if is_a {
                a_calls.push(elapsed);
            } else {
                b_calls.push(elapsed);
            }
        }
        if round > 0 {
            a_batches.push(trimmed_mean_ns(&mut a_calls));
            b_batches.push(trimmed_mean_ns(&mut b_calls));
        }
    }
    Comparison {
        a_ns: median(&mut a_batches),
        b_ns: median(&mut b_batches),
    }
}

// ---------------------------------------------------------------------------
// Core: client::authenticate
// ---------------------------------------------------------------------------

/// A registered client (one active secret) and two presented credentials of
/// the same lengths: an unknown id with a secret, and the known id with a
/// wrong secret. Equal lengths make equal digest work, as for real callers
/// (ids and secrets are generated with fixed lengths).
struct CoreCase {
    record: ClientRecord,
    unknown_id: String,
    wrong_secret: ClientSecret,
}

impl CoreCase {
    fn new() -> Self {
        let id = generate_client_id(&OsRandom).unwrap();
        let secret = generate_client_secret(&OsRandom).unwrap();
        let record = ClientRecord {
            secrets: vec![SecretEntry {
                digest: SecretHash::compute(&id, &secret),
                created_at: NOW - 1_000,
                expires_at: None,
            }],
            allowed_scopes: vec!["read".into()],
            default_scopes: vec!["read".into()],
            ..ClientRecord::new(&id, "timing", NOW - 1_000)
        };
        let unknown_id = generate_client_id(&OsRandom).unwrap();
        let wrong_secret = generate_client_secret(&OsRandom).unwrap();
        assert_eq!(unknown_id.len(), id.len());
        assert_eq!(wrong_secret.expose().len(), secret.expose().len());
        // The fixture is what it claims to be.
        assert!(authenticate(Some(&record), &id, &secret, NOW));
        assert!(!authenticate(Some(&record), &id, &wrong_secret, NOW));
        assert!(!authenticate(None, &unknown_id, &wrong_secret, NOW));
        CoreCase {
            record,
            unknown_id,
            wrong_secret,
        }
    }

    fn unknown(&self) {
        let ok = authenticate(
            black_box(None),
            black_box(&self.unknown_id),
            black_box(&self.wrong_secret),
            NOW,
        );
        assert!(!black_box(ok));
    }

    fn wrong_secret(&self) {
        let ok = authenticate(
            black_box(Some(&self.record)),
            black_box(&self.record.client_id),
            black_box(&self.wrong_secret),
            NOW,
        );
        assert!(!black_box(ok));
    }

    /// The leak `authenticate` avoids: an unknown client answered at once,
    /// without digesting the secret.
    fn unknown_leaky(&self) {
        let record: Option<&ClientRecord> = black_box(None);
        let ok = match record {
            None => false,
            Some(r) => authenticate(Some(r), &self.unknown_id, &self.wrong_secret, NOW),
        };
        assert!(!black_box(ok));
    }

    /// A subtler leak: an unknown client's secret digested without the
    /// client-id binding (one SHA-256 block instead of two).
    fn unknown_short_digest(&self) {
        let record: Option<&ClientRecord> = black_box(None);
        let ok = match record {
            None => {
                black_box(Sha256::digest(self.wrong_secret.expose().as_bytes()));
                false
            }
            Some(r) => authenticate(Some(r), &self.unknown_id, &self.wrong_secret, NOW),
        };
        assert!(!black_box(ok));
    }
}

#[test]
fn timing_authenticate_unknown_client_and_wrong_secret_cost_the_same() {
    let case = CoreCase::new();

    let same = compare(ROUNDS, || case.unknown(), || case.wrong_secret());
    same.report("authenticate (real)", "unknown client", "wrong secret");

    // Control: the detector must see a real leak, measured the same way.
    let leak = compare(ROUNDS, || case.unknown_leaky(), || case.wrong_secret());
    leak.report(
        "authenticate (control: unknown skips the digest)",
        "unknown client",
        "wrong secret",
    );

    let subtle = compare(
        ROUNDS,
        || case.unknown_short_digest(),
        || case.wrong_secret(),
    );
    subtle.report(
        "authenticate (control: unknown digests the secret alone)",
        "unknown client",
        "wrong secret",
    );

    assert!(
        subtle.relative_difference() > MAX_RELATIVE_DIFFERENCE,
        "the detector missed a one-block digest difference (ratio {:.3})",
        subtle.ratio()
    );
    assert!(
        leak.ratio() > MIN_LEAK_RATIO,
        "the detector did not see a deliberate leak (ratio {:.3}); \
         the equality check below would prove nothing",
        leak.ratio()
    );
    assert!(
        same.relative_difference() < MAX_RELATIVE_DIFFERENCE,
        "unknown client {:.0} ns vs wrong secret {:.0} ns per call: {:.1}% apart (limit {:.0}%)",
        same.a_ns,
        same.b_ns,
        same.relative_difference() * 100.0,
        MAX_RELATIVE_DIFFERENCE * 100.0
    );
}

// ---------------------------------------------------------------------------
// Service: Service::handle with a warm record cache
// ---------------------------------------------------------------------------

fn config() -> Config {
    let mut key = [0u8; 32];
    OsRandom.fill(&mut key).unwrap();
    let vars: HashMap<&str, String> = HashMap::from([
        ("ISSUER", "https://auth.example".to_owned()),
        ("DEFAULT_AUDIENCE", "https://api.example".to_owned()),
        (
            "SIGNING_KEYS",
            format!(
                r#"[{{"kid":"k1","key":"{}"}}]"#,
                URL_SAFE_NO_PAD.encode(key)
            ),
        ),
    ]);
    Config::from_lookup(|name| vars.get(name).cloned()).unwrap()
}

fn token_request(authorization: &str) -> HttpRequest {
    HttpRequest {
        method: "POST".to_owned(),
        path: "/oauth2/token".to_owned(),
        https: true,
        headers: vec![
            (
                "Content-Type".to_owned(),
                "application/x-www-form-urlencoded".to_owned(),
            ),
            ("Authorization".to_owned(), authorization.to_owned()),
        ],
        body: Body::Bytes(b"grant_type=client_credentials".to_vec()),
    }
}

fn basic(id: &str, secret: &ClientSecret) -> String {
    let raw = format!(
        "{}:{}",
        encode_component(id),
        encode_component(secret.expose())
    );
    format!("Basic {}", STANDARD.encode(raw))
}

#[test]
fn timing_service_unknown_client_and_wrong_secret_cost_the_same() {
    let case = CoreCase::new();
    let config = config();
    let store = MemoryStore::new();
    store.put(&case.record.client_id, case.record.to_json());
    let cache = RecordCache::new(30, 100);
    let service = Service {
        config: Ok(&config),
        store: &store,
        random: &OsRandom,
        cache: Some(&cache),
        limiter: &NoLimiter,
        blocklist: None,
        timer: &NoTimer,
        signer: &edge_token_core::signing::RustSigner,
        replay: None,
    };
    let handle = |req: &HttpRequest| -> Outcome { block_on(service.handle(req, NOW)) };

    let unknown = token_request(&basic(&case.unknown_id, &case.wrong_secret));
    let wrong = token_request(&basic(&case.record.client_id, &case.wrong_secret));

    // Warm the cache with both answers (a record and a miss); from here on
    // neither case reads the store, and both get the very same response.
    let first_unknown = handle(&unknown);
    let first_wrong = handle(&wrong);
    assert_eq!(first_unknown.response.status, 401);
    assert_eq!(first_unknown.response, first_wrong.response);
    assert_eq!(store.reads(), 2);

    let same = compare(
        SERVICE_ROUNDS,
        || {
            black_box(handle(black_box(&unknown)));
        },
        || {
            black_box(handle(black_box(&wrong)));
        },
    );
    same.report("Service::handle", "unknown client", "wrong secret");

    // Control: a request refused before any lookup or digest (a Basic
    // credential with an empty secret) gets the same response, and the
    // detector must see that it is cheaper.
    let early = token_request(&format!(
        "Basic {}",
        STANDARD.encode(format!("{}:", case.record.client_id))
    ));
    assert_eq!(handle(&early).response, first_wrong.response);
    let control = compare(
        SERVICE_ROUNDS,
        || {
            black_box(handle(black_box(&early)));
        },
        || {
            black_box(handle(black_box(&wrong)));
        },
    );
    control.report(
        "Service::handle (control: refused before lookup)",
        "empty secret",
        "wrong secret",
    );

    assert_eq!(
        store.reads(),
        2,
        "the cache went cold during the measurement"
    );
    assert_eq!(handle(&unknown).response, handle(&wrong).response);
    assert!(
        control.ratio() > MIN_LEAK_RATIO,
        "the detector did not see a request refused before the lookup (ratio {:.3})",
        control.ratio()
    );
    assert!(
        same.relative_difference() < MAX_RELATIVE_DIFFERENCE,
        "unknown client {:.0} ns vs wrong secret {:.0} ns per request: {:.1}% apart (limit {:.0}%)",
        same.a_ns,
        same.b_ns,
        same.relative_difference() * 100.0,
        MAX_RELATIVE_DIFFERENCE * 100.0
    );
}
