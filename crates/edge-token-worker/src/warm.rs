//! [`exercise`]: the request path run once at module load (the wasm export
//! `warm` in entry.rs), before any request,
//! so that V8 compiles its wasm functions then (it compiles each on its
//! first call) instead of during the isolate's first request. On Cloudflare
//! module load happens while the TLS handshake of the first request is
//! still going on; BENCHMARKS.md has the first-request figures with and
//! without it.
//!
//! Global scope allows no I/O, timers or random numbers, so everything here
//! is made up and in memory: a throwaway configuration and HS256 key, one
//! client record with a fixed secret, a store that answers at once, no
//! timer, a fixed "random" (the Worker's own types in their warm-up form). Nothing of it is kept: the real configuration is
//! parsed from the bindings on the first request, as before.

use std::future::Future;
use std::task::{Context, Poll, Waker};

use edge_token_core::assertion::CheckSignature;
use edge_token_core::client::{ClientRecord, SecretEntry, SecretHash};
use edge_token_core::config::Config;
use edge_token_core::credentials::ClientSecret;
use edge_token_core::http::{Body, HttpRequest};
use edge_token_core::limit::Limiter;
use edge_token_core::random::Random;
use edge_token_core::routes::{INTROSPECT, METADATA, TOKEN};
use edge_token_core::service::Outcome;
use edge_token_core::service::Service;
use edge_token_core::signing::Sign;
use edge_token_core::store::ClientStore;
use edge_token_core::timer::Timer;

const ID: &str = "etc_warmwarmwarmwarmwarmwa";
const SECRET: &str = "ets_warm-not-a-secret-warm-not-a-secret-warm";
/// `Basic base64(ID:SECRET)`.
const BASIC: &str = "Basic ZXRjX3dhcm13YXJtd2FybXdhcm13YXJtd2E6ZXRzX3dhcm0tbm90LWEtc2VjcmV0LXdhcm0tbm90LWEtc2VjcmV0LXdhcm0=";
/// 32 bytes of base64url: a key that signs nothing but these tokens.
const KEYS: &str = r#"[{"kid":"warm","key":"d2FybS1ub3QtYS1zZWNyZXQtd2FybS1ub3QtYS1zZWNyZXQ"}]"#;

/// Polls `fut` once: everything here is ready at once.
fn now<F: Future>(fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(out) => Some(out),
        Poll::Pending => None,
    }
}

fn post(path: &str, authorization: &str, body: &str) -> HttpRequest {
    HttpRequest {
        method: "POST".to_owned(),
        path: path.to_owned(),
        https: true,
        headers: vec![
            ("authorization".to_owned(), authorization.to_owned()),
            (
                "content-type".to_owned(),
                "application/x-www-form-urlencoded".to_owned(),
            ),
        ],
        body: Body::Bytes(body.as_bytes().to_vec()),
    }
}

/// Runs a token request (client_secret_basic, HS256), the introspection of
/// its token, and the metadata document through the real [`Service`] with
/// `signer`, handing each outcome to `after` (the entry packs it and builds
/// its log line, as for a request). Returns how many of the three answered
/// as expected: 3, or the warm-up no longer covers the request path.
///
/// The store, random source, limiter and timer are the caller's: the Worker
/// passes the very types its requests use (in their warm-up form: the
/// record in memory, a fixed "random", no limits, no timer), so that the
/// functions compiled here are the ones requests run, not a second copy.
pub(crate) fn exercise<S, R, L, T, G>(
    make_store: impl FnOnce(String) -> S,
    random: &R,
    limiter: &L,
    timer: &T,
    signer: &G,
    mut after: impl FnMut(&Outcome),
) -> u32
where
    S: ClientStore,
    R: Random,
    L: Limiter,
    T: Timer,
    G: Sign + CheckSignature,
{
    let vars = |name: &str| -> Option<String> {
        match name {
            "ISSUER" => Some("https://warm.invalid".to_owned()),
            "SIGNING_KEYS" => Some(KEYS.to_owned()),
            "DEFAULT_AUDIENCE" => Some("https://api.warm.invalid".to_owned()),
            _ => None,
        }
    };
    // As `&dyn Fn`, like the entry's: one copy of the configuration parser.
    let vars: &dyn Fn(&str) -> Option<String> = &vars;
    let Ok(config) = Config::from_lookup(vars) else {
        return 0;
    };
    let at = 1_700_000_000;
    let mut record = ClientRecord::new(ID, "warm", at);
    record.secrets.push(SecretEntry {
        digest: SecretHash::compute(ID, &ClientSecret::new(SECRET.to_owned())),
        created_at: at,
        expires_at: None,
    });
    record.allowed_scopes = vec!["read".to_owned()];
    record.introspect = true;
    let store = make_store(record.to_json());
    let cache = edge_token_core::cache::RecordCache::new(30, 4);
    let service = Service {
        config: Ok(&config),
        store: &store,
        random,
        cache: Some(&cache),
        limiter,
        blocklist: None,
        timer,
        signer,
        replay: None,
    };
    let basic = BASIC;
    let mut good = 0;
    let mut token = None;
    if let Some(out) = now(service.handle(
        &post(TOKEN, basic, "grant_type=client_credentials&scope=read"),
        at + 1,
    )) {
        after(&out);
        if out.response.status == 200 {
            good += 1;
            token = out
                .response
                .body
                .split_once(r#""access_token":""#)
                .and_then(|(_, rest)| rest.split_once('"'))
                .map(|(token, _)| token.to_owned());
        }
    }
    if let Some(token) = token {
        let body = format!("token={token}");
        if let Some(out) = now(service.handle(&post(INTROSPECT, basic, &body), at + 2)) {
            after(&out);
            good += u32::from(out.response.body.contains(r#""active":true"#));
        }
    }
    let metadata = HttpRequest {
        method: "GET".to_owned(),
        path: METADATA.to_owned(),
        https: true,
        headers: Vec::new(),
        body: Body::Bytes(Vec::new()),
    };
    if let Some(out) = now(service.handle(&metadata, at + 3)) {
        after(&out);
        good += u32::from(out.response.status == 200);
    }
    good
}

#[cfg(test)]
mod tests {
    use std::future::Future;

    use edge_token_core::limit::{LimitKind, Limiter};
    use edge_token_core::random::{Random, RandomError};
    use edge_token_core::store::{ClientStore, StoreError};
    use edge_token_core::timer::Timer;

    struct OneRecord(String);

    impl ClientStore for OneRecord {
        async fn get_record(&self, _id: &str, _ttl: u64) -> Result<Option<String>, StoreError> {
            Ok(Some(self.0.clone()))
        }
        async fn is_revoked(&self, _jti: &str) -> Result<bool, StoreError> {
            Ok(false)
        }
        async fn revoke(&self, _jti: &str, _id: &str, _until: u64) -> Result<(), StoreError> {
            Ok(())
        }
        async fn assertion_used(&self, _key: &str) -> Result<bool, StoreError> {
            Ok(false)
        }
        async fn use_assertion(&self, _key: &str, _until: u64) -> Result<(), StoreError> {
            Ok(())
        }
    }

    struct NoLimit;

    impl Limiter for NoLimit {
        async fn hit(&self, _kind: LimitKind, _key: &str) -> Result<bool, String> {
            Ok(true)
        }
    }

    struct Never;

    impl Timer for Never {
        fn sleep(&self, _ms: u64) -> impl Future<Output = ()> {
            std::future::pending()
        }
    }

    struct Fixed;

    impl Random for Fixed {
        fn fill(&self, buf: &mut [u8]) -> Result<(), RandomError> {
            buf.fill(0x42);
            Ok(())
        }
    }

    #[test]
    fn the_warm_up_runs_the_whole_request_path() {
        let mut statuses = Vec::new();
        let good = super::exercise(
            OneRecord,
            &Fixed,
            &NoLimit,
            &Never,
            &edge_token_core::signing::RustSigner,
            |out| statuses.push(out.response.status),
        );
        assert_eq!(statuses, [200, 200, 200]);
        assert_eq!(good, 3);
    }
}
