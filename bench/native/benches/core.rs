//! Native micro-benchmarks of the protocol core (`make bench` runs them):
//! one full token request (route, form parse, Basic decode, record lookup,
//! SHA-256 secret check, scope/audience decisions, HS256 mint) and one token
//! verification.
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
use edge_token_testkit::MemoryStore;
use edge_token_testkit::NoLimiter;
use edge_token_testkit::NoTimer;

const NOW: u64 = 1_700_000_000;

struct Fixture {
    config: Config,
    store: MemoryStore,
    basic: HttpRequest,
    post: HttpRequest,
    tiny_scopes: HttpRequest,
    padded: HttpRequest,
}

fn fixture() -> Fixture {
    let mut key = [0u8; 32];
    OsRandom.fill(&mut key).expect("random");
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
    let config = Config::from_lookup(|n| vars.get(n).cloned()).expect("config");
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
        store,
        basic,
        post,
        tiny_scopes,
        padded,
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
    let median_ns = |req: &HttpRequest| {
        let mut rounds: Vec<f64> = (0..9)
            .map(|_| {
                let start = std::time::Instant::now();
                for _ in 0..2_000 {
                    black_box(block_on(warm.handle(black_box(req), NOW)));
                }
                start.elapsed().as_nanos() as f64 / 2_000.0
            })
            .collect();
        rounds.sort_by(f64::total_cmp);
        rounds[4]
    };
    let normal = median_ns(&f.basic);
    let tiny = median_ns(&f.tiny_scopes);
    let padded = median_ns(&f.padded);
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
}

criterion_group!(benches, bench);
criterion_main!(benches);
