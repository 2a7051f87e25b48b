//! Native micro-benchmarks of the protocol core (`make bench` runs them):
//! one full token request (route, form parse, Basic decode, record lookup,
//! SHA-256 secret check, scope/audience decisions, HS256 mint) and one token
//! verification; then, per signing algorithm (HS256, ES256, EdDSA, signed by
//! `RustSigner`), `SigningKeys::mint`, `token::verify` and the full token
//! request, printed side by side with their ratios to HS256; last, per
//! client key algorithm (ES256, EdDSA, RS256 and PS256 with 2048-bit keys),
//! the `private_key_jwt` assertion check alone and the full token request
//! authenticated by an assertion, beside the Basic-auth one.
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
    private_key_jwt(c, &f);
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

/// How a bench client signs its assertions, per key algorithm.
enum ClientSigner {
    Es256(p256::ecdsa::SigningKey),
    EdDsa(ed25519_dalek::SigningKey),
    Rs256(rsa::pkcs1v15::SigningKey<rsa::sha2::Sha256>),
    Ps256(rsa::pss::SigningKey<rsa::sha2::Sha256>),
}

impl ClientSigner {
    fn sign(&self, input: &[u8]) -> Vec<u8> {
        use rsa::signature::{RandomizedSigner, SignatureEncoding, Signer};
        match self {
            ClientSigner::Es256(k) => {
                let sig: p256::ecdsa::Signature = k.sign(input);
                sig.to_bytes().to_vec()
            }
            ClientSigner::EdDsa(k) => k.sign(input).to_bytes().to_vec(),
            ClientSigner::Rs256(k) => k.sign(input).to_vec(),
            ClientSigner::Ps256(k) => k.sign_with_rng(&mut rsa::rand_core::OsRng, input).to_vec(),
        }
    }
}

/// The `d` of one of the testkit's private JWKs.
fn private_d(jwk: &str) -> Vec<u8> {
    let v: serde_json::Value = serde_json::from_str(jwk).unwrap();
    URL_SAFE_NO_PAD.decode(v["d"].as_str().unwrap()).unwrap()
}

/// The public JWK of one of the testkit's private JWKs (without `d`).
fn public_of(jwk: &str) -> serde_json::Value {
    let mut v: serde_json::Value = serde_json::from_str(jwk).unwrap();
    v.as_object_mut().unwrap().remove("d");
    v
}

/// A fresh 2048-bit RSA key: its signer (made by `make`) and public JWK.
fn rsa_client(
    alg: &str,
    make: impl FnOnce(rsa::RsaPrivateKey) -> ClientSigner,
) -> (ClientSigner, serde_json::Value) {
    use rsa::traits::PublicKeyParts;
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048).expect("rsa key");
    let jwk = serde_json::json!({
        "kty": "RSA",
        "kid": format!("{}-bench", alg.to_ascii_lowercase()),
        "alg": alg,
        "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
        "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
    });
    (make(key), jwk)
}

/// One client per key algorithm, its record in a store of its own: the
/// assertion check alone (`Assertion::parse`, `check_claims`, the pure-Rust
/// `check_signature` with the registered key, as the service calls them),
/// and the full token request authenticated by that assertion (record
/// cached, HS256 access token, so that only the client authentication
/// differs from the Basic-auth request). The replay cache is off
/// (`replay: None`) and every iteration first empties the store's used
/// assertions (`MemoryStore::forget_assertions`, a one-entry map), so one
/// assertion serves every iteration while each request still does the
/// store's replay read and marker write (in memory here; a KV read and
/// write in the Worker). Criterion benches, then a side-by-side summary of
/// interleaved rounds (as in `per_algorithm`), in µs, with the ratio to the
/// Basic-auth issuance.
fn private_key_jwt(c: &mut Criterion, f: &Fixture) {
    use edge_token_core::assertion::{check_signature, Assertion, JWT_BEARER};
    use edge_token_core::client_key::ClientKey;

    let clients: Vec<(&'static str, ClientSigner, serde_json::Value)> = vec![
        {
            let d: [u8; 32] = private_d(ES256_KEY).try_into().unwrap();
            let sk = p256::ecdsa::SigningKey::from_bytes(&d.into()).unwrap();
            ("ES256", ClientSigner::Es256(sk), public_of(ES256_KEY))
        },
        {
            let d: [u8; 32] = private_d(EDDSA_KEY).try_into().unwrap();
            let sk = ed25519_dalek::SigningKey::from_bytes(&d);
            ("EdDSA", ClientSigner::EdDsa(sk), public_of(EDDSA_KEY))
        },
        {
            let (s, jwk) = rsa_client("RS256", |k| {
                ClientSigner::Rs256(rsa::pkcs1v15::SigningKey::new(k))
            });
            ("RS256", s, jwk)
        },
        {
            let (s, jwk) = rsa_client("PS256", |k| {
                ClientSigner::Ps256(rsa::pss::SigningKey::new_with_salt_len(k, 32))
            });
            ("PS256", s, jwk)
        },
    ];
    let store = MemoryStore::new();
    let cache = RecordCache::new(30, 1024);
    let service = Service {
        config: Ok(&f.config),
        store: &store,
        random: &OsRandom,
        cache: Some(&cache),
        limiter: &NoLimiter,
        blocklist: None,
        timer: &NoTimer,
        signer: &RustSigner,
        replay: None,
    };
    let basic_service = Service {
        config: Ok(&f.config),
        store: &f.store,
        random: &OsRandom,
        cache: Some(&cache),
        limiter: &NoLimiter,
        blocklist: None,
        timer: &NoTimer,
        signer: &RustSigner,
        replay: None,
    };
    let issuer = f.config.issuer.trim_end_matches('/').to_owned();
    let token_endpoint = format!("{issuer}/oauth2/token");
    let audiences = [f.config.issuer.as_str(), &token_endpoint];
    let b64 = |v: &serde_json::Value| URL_SAFE_NO_PAD.encode(v.to_string());
    // Per algorithm: (alg, registered key, assertion, token request).
    let cases: Vec<(&'static str, ClientKey, String, HttpRequest)> = clients
        .into_iter()
        .map(|(alg, signer, jwk)| {
            let key = ClientKey::from_jwk(&jwk, None, NOW).expect("client key");
            assert_eq!(key.alg, *alg);
            let id = generate_client_id(&OsRandom).expect("id");
            let mut record = ClientRecord {
                allowed_scopes: vec!["read".into(), "write".into()],
                default_scopes: vec!["read".into()],
                allowed_audiences: vec!["https://api.example".into()],
                default_audiences: vec!["https://api.example".into()],
                ..ClientRecord::new(&id, "bench", NOW)
            };
            record.add_key(key.clone(), NOW).expect("add key");
            store.put(&id, record.to_json());
            let header = serde_json::json!({"alg": alg, "kid": key.kid, "typ": "JWT"});
            let claims = serde_json::json!({
                "iss": id, "sub": id, "aud": token_endpoint,
                "iat": NOW, "exp": NOW + 300,
                "jti": format!("{:032x}", u128::from(NOW) << 64 | 1),
            });
            let input = format!("{}.{}", b64(&header), b64(&claims));
            let assertion = format!(
                "{input}.{}",
                URL_SAFE_NO_PAD.encode(signer.sign(input.as_bytes()))
            );
            let request = HttpRequest {
                method: "POST".into(),
                path: "/oauth2/token".into(),
                https: true,
                headers: vec![(
                    "content-type".into(),
                    "application/x-www-form-urlencoded".into(),
                )],
                body: Body::Bytes(
                    format!(
                        "grant_type=client_credentials&scope=read+write\
                         &client_assertion_type={}&client_assertion={assertion}",
                        JWT_BEARER.replace(':', "%3A")
                    )
                    .into_bytes(),
                ),
            };
            (alg, key, assertion, request)
        })
        .collect();
    // The check alone; true when the assertion passes every part.
    let check = |key: &ClientKey, raw: &str| -> bool {
        let Ok(a) = Assertion::parse(raw) else {
            return false;
        };
        a.check_claims(&audiences, NOW, 30).is_ok()
            && check_signature(key, a.signing_input(), a.signature()) == Ok(true)
    };
    let issue = |req: &HttpRequest| -> u16 {
        store.forget_assertions();
        block_on(service.handle(req, NOW)).response.status
    };
    for (alg, key, assertion, request) in &cases {
        assert!(check(key, assertion), "{alg}: the assertion check fails");
        store.forget_assertions();
        let outcome = block_on(service.handle(request, NOW));
        assert_eq!(
            outcome.response.status, 200,
            "{alg}: {}",
            outcome.response.body
        );
        // The marker was written: the same assertion again is a replay.
        assert_eq!(store.used_assertions(), 1);
        assert_eq!(block_on(service.handle(request, NOW)).response.status, 401);
        assert_eq!(issue(request), 200, "{alg}: forget_assertions");
    }
    for (alg, key, assertion, request) in &cases {
        let name = alg.to_ascii_lowercase();
        c.bench_function(&format!("assertion_check_{name}"), |b| {
            b.iter(|| black_box(check(key, black_box(assertion))))
        });
        c.bench_function(&format!("issue_token_private_key_jwt_{name}"), |b| {
            b.iter(|| black_box(issue(black_box(request))))
        });
    }
    // The summary: per algorithm [check, issuance], and the Basic-auth
    // issuance (HS256, cached record) as the baseline, in the same rounds.
    let basic = || {
        black_box(block_on(basic_service.handle(black_box(&f.basic), NOW)));
    };
    let op = |i: usize, which: usize| {
        let (_, key, assertion, request) = &cases[i];
        if which == 0 {
            black_box(check(key, black_box(assertion)));
        } else {
            black_box(issue(black_box(request)));
        }
    };
    let per_round = |per_call: f64| (50e6 / per_call.max(1.0)).clamp(10.0, 20_000.0) as u32;
    let basic_calls = per_round(median_ns(10, basic));
    let calls: Vec<[u32; 2]> = (0..cases.len())
        .map(|i| [0, 1].map(|which| per_round(median_ns(10, || op(i, which)))))
        .collect();
    let mut basic_rounds = Vec::new();
    let mut rounds: Vec<[Vec<f64>; 2]> = cases.iter().map(|_| Default::default()).collect();
    let time = |n: u32, mut g: Box<dyn FnMut() + '_>| {
        let start = std::time::Instant::now();
        for _ in 0..n {
            g();
        }
        start.elapsed().as_nanos() as f64 / f64::from(n)
    };
    for _ in 0..9 {
        basic_rounds.push(time(basic_calls, Box::new(basic)));
        for (i, n) in calls.iter().enumerate() {
            for which in 0..2 {
                rounds[i][which].push(time(n[which], Box::new(move || op(i, which))));
            }
        }
    }
    let mid = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let base = mid(&mut basic_rounds);
    println!(
        "\nprivate_key_jwt per client key algorithm, native, pure-Rust check \
         (medians of 9 interleaved rounds; RSA keys 2048 bits; access tokens HS256):\n\
         {:<7}{:>11}{:>16}{:>10}{:>18}",
        "alg", "check µs", "issuance µs", "×basic", "issuance − check"
    );
    println!(
        "{:<7}{:>11}{:>16.2}{:>10.1}{:>18}",
        "basic",
        "-",
        base / 1e3,
        1.0,
        "-"
    );
    for (i, (alg, ..)) in cases.iter().enumerate() {
        let (check_ns, issue_ns) = (mid(&mut rounds[i][0]), mid(&mut rounds[i][1]));
        println!(
            "{:<7}{:>11.2}{:>16.2}{:>10.1}{:>18.2}",
            alg,
            check_ns / 1e3,
            issue_ns / 1e3,
            issue_ns / base,
            (issue_ns - check_ns) / 1e3
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
