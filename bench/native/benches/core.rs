//! Native micro-benchmarks of the protocol core (`make bench` runs them):
//! one full token request (route, form parse, Basic decode, record lookup,
//! SHA-256 secret check, scope/audience decisions, HS256 mint) and one token
//! verification; then, per signing algorithm (HS256, ES256, EdDSA, signed by
//! `RustSigner`), `SigningKeys::mint`, `token::verify` and the full token
//! request, printed side by side with their ratios to HS256.
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

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use criterion::{criterion_group, criterion_main, Criterion};

use edge_token_core::bearer::Verifier;
use edge_token_core::cache::RecordCache;
use edge_token_core::client::{
    generate_client_id, generate_client_secret, ClientRecord, SecretEntry, SecretHash,
};
use edge_token_core::config::Config;
use edge_token_core::http::{Body, HttpRequest};
use edge_token_core::random::{OsRandom, Random};
use edge_token_core::service::Service;
use edge_token_core::signing::{RustSigner, SigningKeys};
use edge_token_core::token::{AccessTokenClaims, Audience};
use edge_token_testkit::MemoryStore;
use edge_token_testkit::NoLimiter;
use edge_token_testkit::NoTimer;
use edge_token_testkit::{EDDSA_KEY, ES256_KEY};

const NOW: u64 = 1_700_000_000;

struct Fixture {
    config: Config,
    /// The same configuration signing with each algorithm: (name, `SIGNING_KEYS`, config).
    per_alg: Vec<(&'static str, String, Config)>,
    store: MemoryStore,
    basic: HttpRequest,
    post: HttpRequest,
    tiny_scopes: HttpRequest,
    padded: HttpRequest,
}

fn config(signing_keys: &str) -> Config {
    let vars: HashMap<&str, String> = HashMap::from([
        ("ISSUER", "https://auth.example".to_owned()),
        ("DEFAULT_AUDIENCE", "https://api.example".to_owned()),
        ("SIGNING_KEYS", signing_keys.to_owned()),
    ]);
    Config::from_lookup(|n| vars.get(n).cloned()).expect("config")
}

fn fixture() -> Fixture {
    let mut key = [0u8; 32];
    OsRandom.fill(&mut key).expect("random");
    let hs256 = format!(
        r#"[{{"kid":"k1","key":"{}"}}]"#,
        URL_SAFE_NO_PAD.encode(key)
    );
    // The ES256 and EdDSA keys are the testkit's (RFC 7515 A.3, RFC 8037 A.1).
    let per_alg: Vec<(&'static str, String, Config)> = [
        ("HS256", hs256.clone()),
        ("ES256", format!("[{ES256_KEY}]")),
        ("EdDSA", format!("[{EDDSA_KEY}]")),
    ]
    .into_iter()
    .map(|(alg, keys)| {
        let c = config(&keys);
        assert_eq!(c.keys.signer_alg().name(), alg);
        (alg, keys, c)
    })
    .collect();
    let config = config(&hs256);
    let id = generate_client_id(&OsRandom).expect("id");
    let secret = generate_client_secret(&OsRandom).expect("secret");
    let record = ClientRecord {
        secrets: vec![SecretEntry {
            digest: SecretHash::compute(&id, &secret),
            created_at: NOW,
            expires_at: None,
        }],
        allowed_scopes: vec!["read".into(), "write".into()],
        default_scopes: vec!["read".into()],
        allowed_audiences: vec!["https://api.example".into()],
        default_audiences: vec!["https://api.example".into()],
        introspect: true,
        ..ClientRecord::new(&id, "bench", NOW)
    };
    let store = MemoryStore::new();
    store.put(&id, record.to_json());
    let request = |headers: Vec<(String, String)>, body: String| HttpRequest {
        method: "POST".into(),
        path: "/oauth2/token".into(),
        https: true,
        headers,
        body: Body::Bytes(body.into_bytes()),
    };
    let form = (
        "content-type".to_owned(),
        "application/x-www-form-urlencoded".to_owned(),
    );
    // A POST with HTTP Basic credentials and `body`.
    let basic_auth = format!(
        "Basic {}",
        STANDARD.encode(format!("{id}:{}", secret.expose()))
    );
    let with_basic = |body: String| {
        request(
            vec![form.clone(), ("authorization".into(), basic_auth.clone())],
            body,
        )
    };
    // `prefix` filled with "a+" up to the body limit.
    let filled = |prefix: &str| {
        let mut body = prefix.to_owned();
        while body.len() + 2 <= edge_token_core::http::MAX_BODY_BYTES {
            body.push_str("a+");
        }
        body
    };
    let basic = with_basic("grant_type=client_credentials&scope=read+write".into());
    // 16 KiB of the tiniest scope tokens: refused by the count bound, which
    // is checked before any de-duplication.
    let tiny_scopes = with_basic(filled("grant_type=client_credentials&scope="));
    // The same size, all of it in one parameter the service ignores: the
    // cost of reading and decoding 16 KiB, whatever it holds.
    let padded = with_basic(filled("grant_type=client_credentials&scope=read&x="));
    let post = request(
        vec![form],
        format!(
            "grant_type=client_credentials&client_id={id}&client_secret={}",
            secret.expose()
        ),
    );
    Fixture {
        config,
        per_alg,
        store,
        basic,
        post,
        tiny_scopes,
        padded,
    }
}

/// Median nanoseconds per call of `f`, over 9 rounds of `n` calls.
fn median_ns(n: u32, mut f: impl FnMut()) -> f64 {
    let mut rounds: Vec<f64> = (0..9)
        .map(|_| {
            let start = std::time::Instant::now();
            for _ in 0..n {
                f();
            }
            start.elapsed().as_nanos() as f64 / f64::from(n)
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    rounds[4]
}

/// Claims the size of a real issuance's (what the service signs).
fn claims() -> AccessTokenClaims {
    AccessTokenClaims {
        iss: "https://auth.example".into(),
        sub: "etc_0123456789abcdefghijkl".into(),
        aud: Audience::One("https://api.example".into()),
        exp: NOW + 3600,
        iat: NOW,
        jti: "0123456789abcdefghijkl".into(),
        client_id: "etc_0123456789abcdefghijkl".into(),
        scope: "read write".into(),
        extra: Default::default(),
    }
}

fn bench(c: &mut Criterion) {
    let f = fixture();
    let cache = RecordCache::new(30, 1024);
    let warm = Service {
        config: Ok(&f.config),
        store: &f.store,
        random: &OsRandom,
        cache: Some(&cache),
        limiter: &NoLimiter,
        blocklist: None,
        timer: &NoTimer,
        signer: &edge_token_core::signing::RustSigner,
        replay: None,
    };
    let cold = Service {
        config: Ok(&f.config),
        store: &f.store,
        random: &OsRandom,
        cache: None,
        limiter: &NoLimiter,
        blocklist: None,
        timer: &NoTimer,
        signer: &edge_token_core::signing::RustSigner,
        replay: None,
    };

    let outcome = block_on(warm.handle(&f.basic, NOW));
    assert_eq!(outcome.response.status, 200, "{}", outcome.response.body);
    let body: serde_json::Value = serde_json::from_str(&outcome.response.body).expect("json");
    let token = body["access_token"].as_str().expect("token").to_owned();

    c.bench_function("issue_token_basic_cached_record", |b| {
        b.iter(|| black_box(block_on(warm.handle(black_box(&f.basic), NOW))))
    });
    c.bench_function("issue_token_post_cached_record", |b| {
        b.iter(|| black_box(block_on(warm.handle(black_box(&f.post), NOW))))
    });
    c.bench_function("issue_token_basic_record_json_parsed", |b| {
        b.iter(|| black_box(block_on(cold.handle(black_box(&f.basic), NOW))))
    });
    c.bench_function("token_16kib_of_tiny_scopes_cached_record", |b| {
        b.iter(|| black_box(block_on(warm.handle(black_box(&f.tiny_scopes), NOW))))
    });
    // The ratio the scope bound must keep at or below ~1: a 16 KiB body of
    // tiny scope tokens against a normal issuance (medians of 9 rounds).
    let issuance_ns = |req: &HttpRequest| {
        median_ns(2_000, || {
            black_box(block_on(warm.handle(black_box(req), NOW)));
        })
    };
    let normal = issuance_ns(&f.basic);
    let tiny = issuance_ns(&f.tiny_scopes);
    let padded = issuance_ns(&f.padded);
    println!(
        "16 KiB of tiny scope tokens: {tiny:.0} ns vs a normal issuance {normal:.0} ns: ratio {:.2}; \
         vs an issuance whose 16 KiB body is one ignored parameter {padded:.0} ns: ratio {:.2}",
        tiny / normal,
        tiny / padded
    );
    c.bench_function("verify_token_signature", |b| {
        b.iter(|| {
            black_box(edge_token_core::token::verify(
                f.config.keys.verify_keys(),
                black_box(&token),
            ))
        })
    });
    let verifier = Verifier::new(
        f.config.keys.verify_keys().clone(),
        "https://auth.example",
        "https://api.example",
    );
    c.bench_function("verify_token_bearer_full", |b| {
        b.iter(|| black_box(verifier.verify(black_box(&token), &["read"], NOW + 1)))
    });
    per_algorithm(c, &f);
}

/// Per signing algorithm: `SigningKeys::mint` with `RustSigner` (the pure
/// Rust signer the Worker's `rust-signer` build uses), `token::verify`, and
/// the full Basic-auth issuance with a cached record; criterion benches,
/// then a side-by-side summary in µs with ratios to HS256. The summary's
/// rounds are interleaved (each round times every operation of every
/// algorithm once), so that a change in the machine's load during the run
/// shifts all cells alike instead of skewing the ratios.
fn per_algorithm(c: &mut Criterion, f: &Fixture) {
    let claims = claims();
    let caches: Vec<RecordCache> = f
        .per_alg
        .iter()
        .map(|_| RecordCache::new(30, 1024))
        .collect();
    let algs: Vec<_> = f
        .per_alg
        .iter()
        .zip(&caches)
        .map(|((alg, signing_keys, config), cache)| {
            let keys = SigningKeys::parse(signing_keys).expect("keys");
            let token = block_on(keys.mint(&claims, &RustSigner)).expect("mint");
            assert_eq!(
                edge_token_core::token::verify(keys.verify_keys(), &token).expect("verify"),
                claims
            );
            let service = Service {
                config: Ok(config),
                store: &f.store,
                random: &OsRandom,
                cache: Some(cache),
                limiter: &NoLimiter,
                blocklist: None,
                timer: &NoTimer,
                signer: &RustSigner,
                replay: None,
            };
            let outcome = block_on(service.handle(&f.basic, NOW));
            assert_eq!(outcome.response.status, 200, "{}", outcome.response.body);
            (*alg, keys, token, service)
        })
        .collect();
    // The three operations of one algorithm, by index: mint, verify, issue.
    let op = |i: usize, which: usize| {
        let (_, keys, token, service) = &algs[i];
        match which {
            0 => {
                black_box(block_on(keys.mint(black_box(&claims), &RustSigner))).ok();
            }
            1 => {
                black_box(edge_token_core::token::verify(
                    keys.verify_keys(),
                    black_box(token),
                ))
                .ok();
            }
            _ => {
                black_box(block_on(service.handle(black_box(&f.basic), NOW)));
            }
        }
    };
    for (i, (alg, ..)) in algs.iter().enumerate() {
        let name = alg.to_ascii_lowercase();
        for (which, what) in ["mint", "verify", "issue_token_basic_cached_record"]
            .into_iter()
            .enumerate()
        {
            c.bench_function(&format!("{what}_{name}"), |b| b.iter(|| op(i, which)));
        }
    }
    // Calls per round: about 50 ms of each operation.
    let calls: Vec<[u32; 3]> = (0..algs.len())
        .map(|i| {
            [0, 1, 2].map(|which| {
                let per_call = median_ns(10, || op(i, which)).max(1.0);
                (50e6 / per_call).clamp(10.0, 20_000.0) as u32
            })
        })
        .collect();
    let mut rounds: Vec<[Vec<f64>; 3]> = algs.iter().map(|_| Default::default()).collect();
    for _ in 0..9 {
        for (i, n) in calls.iter().enumerate() {
            for which in 0..3 {
                let start = std::time::Instant::now();
                for _ in 0..n[which] {
                    op(i, which);
                }
                rounds[i][which].push(start.elapsed().as_nanos() as f64 / f64::from(n[which]));
            }
        }
    }
    let medians: Vec<[f64; 3]> = rounds
        .iter_mut()
        .map(|r| {
            [0, 1, 2].map(|which| {
                r[which].sort_by(f64::total_cmp);
                r[which][4]
            })
        })
        .collect();
    let hs = algs
        .iter()
        .position(|(alg, ..)| *alg == "HS256")
        .expect("HS256");
    println!(
        "\nper algorithm, native, RustSigner (medians of 9 interleaved rounds; ratio to HS256):\n\
         {:<7}{:>10}{:>9}{:>12}{:>9}{:>14}{:>9}",
        "alg", "mint µs", "×HS256", "verify µs", "×HS256", "issuance µs", "×HS256"
    );
    for (i, (alg, ..)) in algs.iter().enumerate() {
        let (m, base) = (medians[i], medians[hs]);
        println!(
            "{:<7}{:>10.2}{:>9.1}{:>12.2}{:>9.1}{:>14.2}{:>9.1}",
            alg,
            m[0] / 1e3,
            m[0] / base[0],
            m[1] / 1e3,
            m[1] / base[1],
            m[2] / 1e3,
            m[2] / base[2]
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
