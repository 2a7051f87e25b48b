//! The warm-up: the request path run once at module load (the wasm export
//! `warm` in entry.rs), before any request, so that V8 compiles its wasm
//! functions and the JS glue they call then (it compiles each on its first
//! call) instead of during the isolate's first request. On Cloudflare
//! module load happens while the TLS handshake of the first request is
//! still going on; BENCHMARKS.md has the first-request figures with and
//! without it.
//!
//! [`exercise`] sends three made-up requests (a token request with
//! client_secret_basic and HS256, the introspection of its token, the
//! metadata document) to whatever answers one: in the Worker, the very
//! `serve` every request goes through, on bindings the JS entry makes from
//! [`bindings`] (the vars below and a KV that answers at once with one
//! client record): the configuration parser reading them, the KV store's
//! calls into the binding, the futures and tasks behind them, and the
//! answer's packing all run. Global scope allows no I/O, timers or random
//! numbers, so the rest is the Worker's own types in their warm-up form (a
//! timer that never fires, a fixed "random"). Nothing of it is kept: the
//! warm-up has its own isolate state; the real configuration is parsed
//! from the real bindings by `prepare` (entry.rs) right after, or by the
//! first request.

use std::future::Future;

use edge_token_core::routes::{INTROSPECT, METADATA, TOKEN};

#[cfg(test)]
const ID: &str = "etc_warmwarmwarmwarmwarmwa";
#[cfg(test)]
const SECRET: &str = "ets_warm-not-a-secret-warm-not-a-secret-warm";
/// `Basic base64(ID:SECRET)`.
pub(crate) const BASIC: &str = "Basic ZXRjX3dhcm13YXJtd2FybXdhcm13YXJtd2E6ZXRzX3dhcm0tbm90LWEtc2VjcmV0LXdhcm0tbm90LWEtc2VjcmV0LXdhcm0=";
/// 32 bytes of base64url: a key that signs nothing but these tokens.
const KEYS: &str = r#"[{"kid":"warm","key":"d2FybS1ub3QtYS1zZWNyZXQtd2FybS1ub3QtYS1zZWNyZXQ"}]"#;
/// The warm-up's vars, as `[vars]` would set them.
pub(crate) const VARS: &[(&str, &str)] = &[
    ("ISSUER", "https://warm.invalid"),
    ("SIGNING_KEYS", KEYS),
    ("DEFAULT_AUDIENCE", "https://api.warm.invalid"),
];
/// The warm-up's clock, Unix milliseconds.
pub(crate) const NOW_MS: u64 = 1_700_000_001_000;
/// Where the warm-up's requests go.
pub(crate) const ORIGIN: &str = "https://warm.invalid";

/// The one client record (client_secret_basic with `SECRET`, scope
/// `read`, may introspect), as the CLI writes it to KV: written out, so that
/// the record's serializer stays out of the wasm (a test checks it against
/// the record built and serialised).
pub(crate) const RECORD: &str = r#"{"version":1,"client_id":"etc_warmwarmwarmwarmwarmwa","name":"warm","secrets":[{"digest":"5eEVN2T3Mf5BZZ2YYL5rbEbTMDoVfCcHWpb7gcUKiZ8","created_at":1700000000}],"allowed_scopes":["read"],"default_scopes":[],"allowed_audiences":[],"default_audiences":[],"disabled":false,"introspect":true,"created_at":1700000000,"updated_at":1700000000}"#;

/// What the JS entry makes the warm-up's bindings from: name and value on
/// alternate lines, the vars first, then `CLIENTS` and the one record its
/// KV answers for any key (no value holds a line break).
#[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
pub(crate) fn bindings() -> String {
    let mut out = String::new();
    for (name, value) in VARS {
        for line in [name, value] {
            out.push_str(line);
            out.push('\n');
        }
    }
    out.push_str("CLIENTS\n");
    out.push_str(RECORD);
    out
}

/// One made-up request.
pub(crate) struct WarmRequest {
    pub(crate) method: &'static str,
    /// The path, under [`ORIGIN`].
    pub(crate) path: &'static str,
    /// `Authorization`, for a POST.
    pub(crate) authorization: Option<&'static str>,
    pub(crate) body: String,
    /// Seconds after [`NOW_MS`].
    pub(crate) later: u64,
}

impl WarmRequest {
    /// The value of request header `name` (lower case): a POST carries its
    /// `Authorization` and the form's `Content-Type`.
    pub(crate) fn header(&self, name: &str) -> Option<&'static str> {
        match name {
            "authorization" => self.authorization,
            "content-type" => self
                .authorization
                .map(|_| "application/x-www-form-urlencoded"),
            _ => None,
        }
    }
}

/// Sends the three requests to `serve` (which answers status and body) in
/// turn; returns how many answered as expected: 3, or the warm-up no
/// longer covers the request path.
pub(crate) async fn exercise<F, Fut>(mut serve: F) -> u32
where
    F: FnMut(WarmRequest) -> Fut,
    Fut: Future<Output = Option<(u16, String)>>,
{
    let post = |path, body: String, later| WarmRequest {
        method: "POST",
        path,
        authorization: Some(BASIC),
        body,
        later,
    };
    let mut good = 0;
    let mut token = None;
    if let Some((200, body)) = serve(post(
        TOKEN,
        "grant_type=client_credentials&scope=read".to_owned(),
        0,
    ))
    .await
    {
        good += 1;
        token = body
            .split_once(r#""access_token":""#)
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(token, _)| token.to_owned());
    }
    if let Some(token) = token {
        if let Some((200, body)) = serve(post(INTROSPECT, format!("token={token}"), 1)).await {
            good += u32::from(body.contains(r#""active":true"#));
        }
    }
    let metadata = WarmRequest {
        method: "GET",
        path: METADATA,
        authorization: None,
        body: String::new(),
        later: 2,
    };
    if let Some((200, _)) = serve(metadata).await {
        good += 1;
    }
    good
}

#[cfg(test)]
mod tests {
    use std::future::Future;
    use std::task::{Context, Poll, Waker};

    use edge_token_core::config::Config;
    use edge_token_core::http::{Body, HttpRequest};
    use edge_token_core::limit::{LimitKind, Limiter};
    use edge_token_core::random::{Random, RandomError};
    use edge_token_core::service::Service;
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

    fn now<F: Future>(fut: F) -> F::Output {
        let mut fut = std::pin::pin!(fut);
        match fut.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(out) => out,
            Poll::Pending => panic!("the warm-up waited"),
        }
    }

    /// The warm-up's data through the core (what the Worker's `serve` runs):
    /// its configuration parses, its client authenticates, its token
    /// introspects as active, and metadata answers.
    #[test]
    fn the_warm_up_runs_the_whole_request_path() {
        let vars = |name: &str| {
            super::VARS
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        };
        let config = Config::from_lookup(vars).expect("the warm-up's configuration");
        let store = OneRecord(super::RECORD.to_owned());
        let service = Service {
            config: Ok(&config),
            store: &store,
            random: &Fixed,
            cache: None,
            limiter: &NoLimit,
            blocklist: None,
            timer: &Never,
            signer: &edge_token_core::signing::RustSigner,
            replay: None,
        };
        let mut seen = Vec::new();
        let good = now(super::exercise(|req| {
            let request = HttpRequest {
                method: req.method.to_owned(),
                path: req.path.to_owned(),
                https: super::ORIGIN.starts_with("https:"),
                headers: edge_token_core::http::REQUEST_HEADERS
                    .iter()
                    .filter_map(|name| Some(((*name).to_owned(), req.header(name)?.to_owned())))
                    .collect(),
                body: Body::Bytes(req.body.into_bytes()),
            };
            seen.push(req.path);
            let out = now(service.handle(&request, super::NOW_MS / 1000 + req.later));
            std::future::ready(Some((out.response.status, out.response.body)))
        }));
        assert_eq!(
            seen,
            [
                edge_token_core::routes::TOKEN,
                edge_token_core::routes::INTROSPECT,
                edge_token_core::routes::METADATA
            ]
        );
        assert_eq!(good, 3);
    }

    /// [`super::RECORD`] is the record the CLI would write for the
    /// warm-up's client.
    #[test]
    fn the_record_is_the_warm_clients() {
        use edge_token_core::client::{ClientRecord, SecretEntry, SecretHash};
        use edge_token_core::credentials::ClientSecret;
        let at = super::NOW_MS / 1000 - 1;
        let mut record = ClientRecord::new(super::ID, "warm", at);
        record.secrets.push(SecretEntry {
            digest: SecretHash::compute(super::ID, &ClientSecret::new(super::SECRET.to_owned())),
            created_at: at,
            expires_at: None,
        });
        record.allowed_scopes = vec!["read".to_owned()];
        record.introspect = true;
        assert_eq!(super::RECORD, record.to_json());
    }

    #[test]
    fn the_bindings_carry_the_vars_and_the_record() {
        let bindings = super::bindings();
        let lines: Vec<&str> = bindings.split('\n').collect();
        let pairs: Vec<(&str, &str)> = lines.chunks(2).map(|p| (p[0], p[1])).collect();
        let mut expected = super::VARS.to_vec();
        expected.push(("CLIENTS", super::RECORD));
        assert_eq!(pairs, expected);
        assert!(super::RECORD.contains(super::ID) && !super::RECORD.contains('\n'));
    }
}
