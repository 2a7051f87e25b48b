//! The example API in JWKS mode (`JWKS_URL`), on workerd.
//!
//! * Through the `ISSUER_SERVICE` service binding, against the real issuer
//!   Worker with asymmetric `SIGNING_KEYS`: its ES256 and EdDSA tokens are
//!   accepted; a key the issuer adds (a restart with new keys) is learnt by
//!   one refresh on its unknown `kid`; the cached set outlives the issuer.
//! * Over the network (global `fetch`), against a server this test
//!   scripts answer by answer, so that every fault an issuer could show is
//!   shown and every fetch is counted where it arrives: refused
//!   connection, garbage, a JSON document that is no JWK Set, an oversized
//!   body, an error status, a redirect, no answer at all. Each is a `401
//!   invalid_token` without a usable copy, never a `500`.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use edge_token_core::signing::{RustSigner, SigningKeys};
use edge_token_core::token::{AccessTokenClaims, Audience};
use edge_token_testkit::{block_on, EDDSA_KEY, ES256_KEY};

use super::{assert_refused, call, resource_worker_main, API_AUDIENCE};
use crate::harness::{now, HttpResponse, Setup, Worker};
use crate::GRANT;

/// The `iss` of the issuers started here (not the shared issuer's).
const JWKS_ISSUER: &str = "https://jwks-issuer.test";

/// `SIGNING_KEYS` of the given testkit keys, in order (the first signs).
fn keys_json(entries: &[&str]) -> String {
    format!("[{}]", entries.join(","))
}

/// A token for the API signed with the first of `entries`, as an issuer
/// holding them would sign it.
fn sign(entries: &[&str]) -> String {
    let keys = SigningKeys::parse(&keys_json(entries)).expect("signing keys");
    let claims = AccessTokenClaims {
        iss: JWKS_ISSUER.to_owned(),
        sub: "etc_jwks".to_owned(),
        aud: Audience::One(API_AUDIENCE.to_owned()),
        exp: now() + 300,
        iat: now(),
        jti: format!("jwks-{}-{}", keys.signer_kid(), now()),
        client_id: "etc_jwks".to_owned(),
        scope: "read".to_owned(),
        extra: Default::default(),
    };
    block_on(keys.mint(&claims, &RustSigner)).expect("mint")
}

/// The public JWK Set an issuer with these keys serves.
fn jwks_of(entries: &[&str]) -> String {
    SigningKeys::parse(&keys_json(entries))
        .expect("signing keys")
        .jwks_json()
        .to_owned()
}

/// The token with one character of its signature changed.
fn tampered(token: &str) -> String {
    let mut bytes = token.as_bytes().to_vec();
    let i = bytes.len() - 3;
    bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
    String::from_utf8(bytes).unwrap()
}

fn hello_on(api: &Worker, token: &str) -> HttpResponse {
    call(api, "GET", "/api/hello", Some(&format!("Bearer {token}")))
}

/// The JSON log lines of `event` (`api` or `jwks`). (wrangler dev
/// decorates `console.error` and `console.warn` lines: the JSON object is
/// what lies between the first `{` and the last `}`.)
fn events(w: &Worker, event: &str) -> Vec<serde_json::Value> {
    w.log_text()
        .lines()
        .filter_map(|line| line.get(line.find('{')?..=line.rfind('}')?))
        .filter_map(|json| serde_json::from_str::<serde_json::Value>(json).ok())
        .filter(|v| v["event"] == event)
        .collect()
}

/// The `jwks` log lines once the API has logged `requests` requests to
/// `/api/hello` (a request's `jwks` line precedes its own `api` line, so
/// then every fetch made so far is in the log).
#[track_caller]
fn jwks_events_after(api: &Worker, requests: usize) -> Vec<serde_json::Value> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let served = events(api, "api")
            .iter()
            .filter(|v| v["status"] != 404)
            .count();
        if served >= requests {
            return events(api, "jwks");
        }
        assert!(
            Instant::now() < deadline,
            "{served} of {requests} request lines logged:\n{}",
            api.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn outcomes(events: &[serde_json::Value], outcome: &str) -> Vec<serde_json::Value> {
    events
        .iter()
        .filter(|v| v["outcome"] == outcome)
        .cloned()
        .collect()
}

/// Sends `token` until the API accepts it (at most `secs` seconds apart
/// from the first try); returns how many requests that took.
#[track_caller]
fn until_accepted(api: &Worker, token: &str, secs: u64) -> usize {
    let deadline = Instant::now() + Duration::from_secs(secs);
    for sent in 1.. {
        let r = hello_on(api, token);
        if r.status == 200 {
            return sent;
        }
        assert_eq!(r.status, 401, "{}", r.body);
        assert!(
            Instant::now() < deadline,
            "not accepted within {secs} s: {}\n{}",
            r.body,
            api.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    unreachable!()
}

/// The API in JWKS mode through the `ISSUER_SERVICE` binding to the issuer
/// Worker named `edge-token-e2e-{issuer_name}`.
fn api_via_binding(issuer_name: &str, refresh_secs: &str) -> Worker {
    let setup = Setup {
        extra_toml: format!(
            "[[services]]\nbinding = \"ISSUER_SERVICE\"\nservice = \"edge-token-e2e-{issuer_name}\"\n"
        ),
        ..Default::default()
    };
    Worker::start_custom(
        &resource_worker_main(),
        "resource-jwks-binding",
        &[
            ("ISSUER", JWKS_ISSUER),
            ("AUDIENCE", API_AUDIENCE),
            // The host does not matter through the binding; the path does.
            ("JWKS_URL", "https://jwks-issuer.test/.well-known/jwks.json"),
            ("JWKS_REFRESH_SECS", refresh_secs),
        ],
        "",
        false,
        None,
        &setup,
    )
}

/// The issuer Worker with these `SIGNING_KEYS`, under a name of its own
/// (service bindings find it by name among all local dev sessions).
fn jwks_issuer(name: &str, signing_keys: &str, state: Option<std::path::PathBuf>) -> Worker {
    Worker::start_custom(
        &std::path::Path::new(crate::harness::ROOT).join("build/index.js"),
        name,
        &[
            ("ISSUER", JWKS_ISSUER),
            ("REQUIRE_HTTPS", "false"),
            ("DEFAULT_AUDIENCE", API_AUDIENCE),
        ],
        signing_keys,
        false,
        state,
        &Setup::default(),
    )
}

fn issue_from(issuer: &Worker, client: &(String, String)) -> String {
    let r = issuer.token_basic(&client.0, &client.1, GRANT);
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["access_token"].as_str().unwrap().to_owned()
}

fn header_alg(token: &str) -> String {
    use base64::Engine;
    let header = token.split('.').next().unwrap();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .unwrap();
    let header: serde_json::Value = serde_json::from_slice(&header).unwrap();
    header["alg"].as_str().unwrap().to_owned()
}

/// Real issuer, service binding: unreachable at first (no copy: 401), then
/// its ES256 tokens; a key it adds is learnt by one refresh on the unknown
/// kid, no sooner than JWKS_REFRESH_SECS after the last fetch; its EdDSA
/// tokens; and the cached set keeps serving once the issuer is gone.
#[test]
fn resource_jwks_via_binding_follows_the_real_issuer_through_a_key_addition() {
    let issuer_name = format!("jwks-issuer-{}", std::process::id());
    let api = api_via_binding(&issuer_name, "10");
    let mut requests = 0;

    // 1. No issuer yet, nothing cached: 401 invalid_token, never 500.
    let es256_forged = sign(&[ES256_KEY]);
    let r = hello_on(&api, &es256_forged);
    requests += 1;
    assert_refused(&r, 401, "invalid_token", "signing keys unavailable");
    let failed = outcomes(&jwks_events_after(&api, requests), "failed");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["reason"], "initial");
    assert_eq!(failed[0]["via"], "service_binding");
    assert_eq!(failed[0]["serving"], "none");
    assert!(failed[0]["cause"]
        .as_str()
        .unwrap()
        .contains("HTTP status 503"));

    // 2. The issuer, signing ES256 (es1). The binding connects a little
    //    after the issuer is up: retry until a fetch succeeds.
    let issuer = jwks_issuer(&issuer_name, &keys_json(&[ES256_KEY]), None);
    let client = issuer.create_client(&["--scope", "read", "--audience", API_AUDIENCE]);
    let es256 = issue_from(&issuer, &client);
    assert_eq!(header_alg(&es256), "ES256");
    requests += until_accepted(&api, &es256, 60);
    let body = hello_on(&api, &es256);
    requests += 1;
    assert_eq!(body.status, 200, "{}", body.body);
    assert_eq!(body.json()["hello"], client.0.as_str());
    let fetched = outcomes(&jwks_events_after(&api, requests), "fetched");
    assert_eq!(fetched.len(), 1, "{fetched:?}");
    assert_eq!(fetched[0]["kids"], serde_json::json!(["es1"]));
    assert_eq!(fetched[0]["reason"], "initial");
    // The issuer's JWKS_MAX_AGE default (300 s) is honoured.
    assert_eq!(fetched[0]["max_age"], 300);
    assert_eq!(fetched[0]["fresh_secs"], 300);
    // A tampered ES256 token is refused, and causes no fetch (its kid is known).
    assert_refused(
        &hello_on(&api, &tampered(&es256)),
        401,
        "invalid_token",
        "invalid signature",
    );
    requests += 1;

    // 3. A token from a kid the issuer does not have, right after the
    //    fetch: refused, and no refetch within JWKS_REFRESH_SECS.
    let eddsa_forged = sign(&[EDDSA_KEY]);
    for _ in 0..3 {
        let r = hello_on(&api, &eddsa_forged);
        requests += 1;
        assert_refused(&r, 401, "invalid_token", "unknown signing key");
    }
    let all = jwks_events_after(&api, requests);
    assert_eq!(outcomes(&all, "fetched").len(), 1, "{all:?}");

    // 4. The issuer restarts with an added key, ed1, which now signs.
    let state = issuer.stop();
    let issuer = jwks_issuer(
        &issuer_name,
        &keys_json(&[EDDSA_KEY, ES256_KEY]),
        Some(state),
    );
    let eddsa = issue_from(&issuer, &client);
    assert_eq!(header_alg(&eddsa), "EdDSA");
    requests += until_accepted(&api, &eddsa, 90);
    let all = jwks_events_after(&api, requests);
    let fetched = outcomes(&all, "fetched");
    // Exactly one more successful fetch: the refresh for the unknown kid.
    assert_eq!(fetched.len(), 2, "{all:?}");
    assert_eq!(fetched[1]["reason"], "unknown_kid");
    assert_eq!(fetched[1]["kids"], serde_json::json!(["ed1", "es1"]));
    // Both algorithms pass now, old tokens included.
    assert_eq!(hello_on(&api, &es256).status, 200);
    assert_eq!(hello_on(&api, &eddsa).status, 200);
    assert_eq!(hello_on(&api, &eddsa_forged).status, 200);
    requests += 3;

    // 5. The issuer goes away: the fresh copy keeps serving.
    issuer.stop();
    assert_eq!(hello_on(&api, &eddsa).status, 200);
    assert_eq!(hello_on(&api, &es256).status, 200);
    requests += 2;
    let all = jwks_events_after(&api, requests);
    assert_eq!(outcomes(&all, "fetched").len(), 2, "{all:?}");

    // No key material in the log: the private halves never travel, and
    // the tokens are not logged.
    let log = api.log_text();
    for secret in [ES256_KEY, EDDSA_KEY] {
        let d: serde_json::Value = serde_json::from_str(secret).unwrap();
        assert!(
            !log.contains(d["d"].as_str().unwrap()),
            "private key in the log"
        );
    }
    assert!(!log.contains(&es256), "token in the log");
}

/// What the scripted server answers to one connection.
enum Answer {
    /// These bytes, then close.
    Bytes(Vec<u8>),
    /// These bytes after a pause (so concurrent requests overlap the fetch).
    Slow(Duration, Vec<u8>),
    /// Nothing, until the client gives up and closes.
    Hang,
}

/// An HTTP/1.1 response that closes the connection.
fn http(status: &str, headers: &[(&str, &str)], body: &[u8], with_length: bool) -> Vec<u8> {
    let mut out = format!("HTTP/1.1 {status}\r\nConnection: close\r\n");
    for (name, value) in headers {
        out.push_str(&format!("{name}: {value}\r\n"));
    }
    if with_length {
        out.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    out.push_str("\r\n");
    let mut out = out.into_bytes();
    out.extend_from_slice(body);
    out
}

fn jwks_answer(jwks: &str, max_age: u64, pause: Option<Duration>) -> Answer {
    let bytes = http(
        "200 OK",
        &[
            ("Content-Type", "application/jwk-set+json"),
            ("Cache-Control", &format!("public, max-age={max_age}")),
        ],
        jwks.as_bytes(),
        true,
    );
    match pause {
        Some(pause) => Answer::Slow(pause, bytes),
        None => Answer::Bytes(bytes),
    }
}

/// A JWKS endpoint that answers each connection with the next queued
/// [`Answer`] and records each request's head: every fetch is counted
/// where it arrives.
struct ScriptedServer {
    answers: Arc<Mutex<VecDeque<Answer>>>,
    requests: Arc<Mutex<Vec<String>>>,
}

impl ScriptedServer {
    fn start(listener: TcpListener) -> ScriptedServer {
        let answers: Arc<Mutex<VecDeque<Answer>>> = Arc::default();
        let requests: Arc<Mutex<Vec<String>>> = Arc::default();
        let (queue, seen) = (answers.clone(), requests.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                // Taken in arrival order; answered on a thread of its own,
                // so a hanging answer holds up no other.
                let answer = queue.lock().unwrap().pop_front();
                let seen = seen.clone();
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
                    let mut head = Vec::new();
                    let mut buf = [0u8; 4096];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match stream.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    seen.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&head).into_owned());
                    match answer {
                        Some(Answer::Bytes(bytes)) => {
                            let _ = stream.write_all(&bytes);
                        }
                        Some(Answer::Slow(pause, bytes)) => {
                            std::thread::sleep(pause);
                            let _ = stream.write_all(&bytes);
                        }
                        Some(Answer::Hang) => {
                            // Until the client closes (or 30 s).
                            while matches!(stream.read(&mut buf), Ok(n) if n > 0) {}
                        }
                        None => {
                            let _ = stream.write_all(&http("599 Unscripted", &[], b"", true));
                        }
                    }
                });
            }
        });
        ScriptedServer { answers, requests }
    }

    fn then(&self, answer: Answer) {
        self.answers.lock().unwrap().push_back(answer);
    }

    fn requests(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

/// Global fetch against a scripted server: each way a JWKS cannot be had
/// is a 401 invalid_token (one fetch each, logged with its cause); a good
/// set is fetched once by concurrent requests and then cached; an unknown
/// kid refetches once, and not within JWKS_REFRESH_SECS of the last fetch.
#[test]
fn resource_jwks_via_url_fails_closed_and_refreshes_once() {
    const REFRESH_SECS: u64 = 15;
    // A port that refuses connections until the server takes it over.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let refresh = REFRESH_SECS.to_string();
    let api = Worker::start_at(
        &resource_worker_main(),
        "resource-jwks-url",
        &[
            ("ISSUER", JWKS_ISSUER),
            ("AUDIENCE", API_AUDIENCE),
            (
                "JWKS_URL",
                &format!("http://127.0.0.1:{port}/.well-known/jwks.json"),
            ),
            ("JWKS_REFRESH_SECS", &refresh),
        ],
        "",
        false,
        None,
    );
    let es256 = sign(&[ES256_KEY]);
    let eddsa = sign(&[EDDSA_KEY]);
    let mut requests = 0;

    // 1. Connection refused, nothing cached.
    let r = hello_on(&api, &es256);
    requests += 1;
    assert_refused(&r, 401, "invalid_token", "signing keys unavailable");

    // 2. Every other way the set cannot be had, one fetch each.
    let listener = (0..20)
        .find_map(|_| {
            TcpListener::bind(("127.0.0.1", port))
                .map_err(|_| std::thread::sleep(Duration::from_millis(250)))
                .ok()
        })
        .expect("port taken meanwhile");
    let server = ScriptedServer::start(listener);
    let json = [("Content-Type", "application/json")];
    let mut oversized = br#"{"keys":[],"pad":""#.to_vec();
    oversized.resize(70 * 1024, b'x');
    oversized.extend_from_slice(br#""}"#);
    let faults: Vec<(Answer, &str)> = vec![
        (
            Answer::Bytes(http("200 OK", &json, b"<html>not json</html>", true)),
            "not a JWK Set",
        ),
        (
            Answer::Bytes(http("200 OK", &json, br#"{"keys":{"kty":"EC"}}"#, true)),
            "not a JWK Set",
        ),
        // No Content-Length: the limit applies while reading.
        (
            Answer::Bytes(http("200 OK", &json, &oversized, false)),
            "over the 65536-byte limit",
        ),
        (
            Answer::Bytes(http("200 OK", &json, &oversized, true)),
            "over the 65536-byte limit",
        ),
        (
            Answer::Bytes(http("503 Service Unavailable", &json, b"{}", true)),
            "HTTP status 503",
        ),
        (
            Answer::Bytes(http(
                "302 Found",
                &[("Location", &format!("http://127.0.0.1:{port}/elsewhere"))],
                b"",
                true,
            )),
            "HTTP status 302",
        ),
        (Answer::Hang, "no complete answer within 5000 ms"),
    ];
    let causes: Vec<&str> = faults.iter().map(|(_, cause)| *cause).collect();
    for (answer, cause) in faults {
        server.then(answer);
        let r = hello_on(&api, &es256);
        requests += 1;
        assert_refused(&r, 401, "invalid_token", "signing keys unavailable");
        let failed = outcomes(&jwks_events_after(&api, requests), "failed");
        let last = failed.last().unwrap();
        assert!(
            last["cause"].as_str().unwrap().contains(cause),
            "{cause}: {last}"
        );
        assert_eq!(last["serving"], "none");
    }
    let failed = outcomes(&jwks_events_after(&api, requests), "failed");
    assert_eq!(failed.len(), 1 + causes.len(), "{failed:?}");
    assert!(failed[0]["cause"]
        .as_str()
        .unwrap()
        .contains("fetch failed"));
    assert!(failed.iter().all(|f| f["via"] == "url"), "{failed:?}");
    // One request per fault; the redirect was not followed.
    let seen = server.requests();
    assert_eq!(seen.len(), causes.len(), "{seen:?}");
    for head in &seen {
        assert!(
            head.starts_with("GET /.well-known/jwks.json HTTP/1.1\r\n"),
            "{head}"
        );
        assert!(
            head.to_ascii_lowercase()
                .contains("accept: application/jwk-set+json, application/json"),
            "{head}"
        );
    }

    // 3. A good set (es1 only), answered slowly: concurrent requests on a
    //    cold cache share one fetch.
    server.then(jwks_answer(
        &jwks_of(&[ES256_KEY]),
        600,
        Some(Duration::from_millis(1500)),
    ));
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let calls: Vec<_> = (0..4)
            .map(|_| s.spawn(|| hello_on(&api, &es256).status))
            .collect();
        calls.into_iter().map(|c| c.join().unwrap()).collect()
    });
    requests += 4;
    assert_eq!(statuses, [200; 4]);
    assert_eq!(server.requests().len(), causes.len() + 1);
    let fetched = outcomes(&jwks_events_after(&api, requests), "fetched");
    assert_eq!(fetched.len(), 1, "{fetched:?}");
    assert_eq!(fetched[0]["kids"], serde_json::json!(["es1"]));
    assert_eq!(fetched[0]["max_age"], 600);
    assert_eq!(fetched[0]["fresh_secs"], 600);

    // 4. Cached: more tokens, no fetch. A tampered one is refused.
    assert_eq!(hello_on(&api, &es256).status, 200);
    assert_refused(
        &hello_on(&api, &tampered(&es256)),
        401,
        "invalid_token",
        "invalid signature",
    );
    // An EdDSA token from a kid the set lacks, just after the fetch: no
    // refetch yet.
    for _ in 0..3 {
        assert_refused(
            &hello_on(&api, &eddsa),
            401,
            "invalid_token",
            "unknown signing key",
        );
    }
    requests += 5;
    jwks_events_after(&api, requests);
    assert_eq!(server.requests().len(), causes.len() + 1);

    // 5. The issuer now publishes ed1 too: once JWKS_REFRESH_SECS have
    //    passed, the unknown kid causes exactly one refetch.
    server.then(jwks_answer(&jwks_of(&[ES256_KEY, EDDSA_KEY]), 600, None));
    requests += until_accepted(&api, &eddsa, 3 * REFRESH_SECS);
    assert_eq!(server.requests().len(), causes.len() + 2);
    let fetched = outcomes(&jwks_events_after(&api, requests), "fetched");
    assert_eq!(fetched.len(), 2, "{fetched:?}");
    assert_eq!(fetched[1]["reason"], "unknown_kid");
    assert_eq!(fetched[1]["kids"], serde_json::json!(["es1", "ed1"]));
    assert_eq!(hello_on(&api, &es256).status, 200);
    assert_eq!(hello_on(&api, &eddsa).status, 200);
    assert_eq!(server.requests().len(), causes.len() + 2);
}
