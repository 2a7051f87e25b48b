//! Hostile requests, as a table: every case sends raw bytes to the release
//! Worker on workerd (through `wrangler dev`), asserts the exact status and
//! RFC 6749 §5.2 error code, the JSON and no-store headers, that no answer
//! is a 5xx from the Worker, and that it arrives within a bounded time (every
//! read has a timeout, so a hang fails the test instead of blocking it).
//! After every case the log is checked for client secrets and tokens.
//!
//! Who answers. A request first meets workerd's (KJ) HTTP server on the
//! port `wrangler dev` listens on, which runs wrangler's ProxyWorker; that
//! forwards it to a second workerd running our Worker, wrapped by
//! wrangler's dev-only middleware (`middleware-ensure-req-body-drained`).
//! Requests the KJ parser refuses (headers over 128 KiB, a NUL in a header,
//! an unknown method, a malformed target or framing) are answered by that
//! front workerd in `text/plain` and never reach the Worker:
//! [`runtime_answers_before_the_worker`] documents each. On Cloudflare the
//! edge parses HTTP instead, with its own limits.
//!
//! Two Workers: `hostile` for the table (requests that complete normally,
//! tests run in parallel) and `hostile-limits` for oversize and slow bodies
//! and runtime rejections, one test at a time: after a connection dropped
//! mid-body, wrangler's ProxyWorker may stall the next request on that
//! instance (~10 s) or answer it with its own 503 ("Your worker restarted
//! mid-request"), a dev artefact [`settle`] absorbs between cases.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::panic::AssertUnwindSafe;
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use base64::Engine;
use edge_token_core::form::encode_component;

use crate::harness::{basic, random_key, signing_keys_json, HttpResponse, Worker};
use crate::{assert_token, DEFAULT_AUDIENCE, GRANT, ISSUER};

/// The longest any single answer may take (generous: the machine is shared).
const DEADLINE: Duration = Duration::from_secs(15);
/// How long a connection must stay silent to show the stack is waiting.
const SILENCE: Duration = Duration::from_secs(3);
/// The challenge every `invalid_client` answer carries.
const CHALLENGE: &str = "Basic realm=\"edge-token\", charset=\"UTF-8\"";
const TOKEN: &str = "/oauth2/token";
const INTROSPECT: &str = "/oauth2/introspect";
const REVOKE: &str = "/oauth2/revoke";
const METADATA: &str = "/.well-known/oauth-authorization-server";
const FORM: &str = "application/x-www-form-urlencoded";

// ---------------------------------------------------------------------------
// Workers and clients

fn vars() -> Vec<(&'static str, &'static str)> {
    vec![
        ("ISSUER", ISSUER),
        ("TOKEN_TTL", "300"),
        ("DEFAULT_AUDIENCE", DEFAULT_AUDIENCE),
        ("REQUIRE_HTTPS", "true"),
        ("SCOPES_SUPPORTED", "read write"),
    ]
}

/// A Worker, the client the cases use, and everything that must never be
/// logged (client secrets, and every token the Worker issued).
struct Target {
    w: Worker,
    id: String,
    secret: String,
    sensitive: Mutex<Vec<String>>,
}

impl Target {
    fn start(name: &str) -> Target {
        let w = Worker::start(
            name,
            &vars(),
            &signing_keys_json(&[(name, &random_key())]),
            true,
        );
        let (id, secret) = w.create_client(&[
            "--scope",
            "read write",
            "--default-scope",
            "read",
            "--audience",
            "urn:two",
        ]);
        Target {
            w,
            sensitive: Mutex::new(vec![secret.clone()]),
            id,
            secret,
        }
    }

    fn auth(&self) -> String {
        basic(&self.id, &self.secret)
    }

    fn remember(&self, value: &str) {
        lock(&self.sensitive).push(value.to_owned());
    }

    /// The log holds no secret, no token and no token signature.
    #[track_caller]
    fn assert_log_clean(&self) {
        let log = self.w.log_text();
        for value in lock(&self.sensitive).iter() {
            assert!(!log.contains(value.as_str()), "{value:?} is in the log");
            if let Some(signature) = value.split('.').nth(2) {
                assert!(!log.contains(signature), "token signature in the log");
            }
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The table's Worker: only requests that complete normally, in parallel.
fn table() -> &'static Target {
    static T: OnceLock<Target> = OnceLock::new();
    T.get_or_init(|| Target::start("hostile"))
}

/// The Worker for oversize and slow bodies and runtime rejections; its
/// tests hold the returned guard, so they run one at a time.
fn limits() -> (&'static Target, MutexGuard<'static, ()>) {
    static T: OnceLock<Target> = OnceLock::new();
    static SERIAL: Mutex<()> = Mutex::new(());
    let guard = lock(&SERIAL);
    (T.get_or_init(|| Target::start("hostile-limits")), guard)
}

// ---------------------------------------------------------------------------
// Raw HTTP with deadlines

/// What came back on one connection within a time limit.
struct Answer {
    /// A complete response, if one arrived.
    response: Option<HttpResponse>,
    /// The server closed (or reset) the connection.
    closed: bool,
    /// Every byte received.
    raw: Vec<u8>,
    elapsed: Duration,
}

impl Answer {
    #[track_caller]
    fn response(self) -> (HttpResponse, Duration) {
        match self.response {
            Some(r) => (r, self.elapsed),
            None => panic!(
                "no complete response within {:?} (closed: {}): {:?}",
                self.elapsed,
                self.closed,
                String::from_utf8_lossy(&self.raw)
            ),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Parses `raw` if it holds a whole response (`head`: the answer to HEAD,
/// so no body); with `at_close` the body runs to the end of `raw`.
fn parse(raw: &[u8], head: bool, at_close: bool) -> Option<HttpResponse> {
    let split = find(raw, b"\r\n\r\n")?;
    let text = std::str::from_utf8(&raw[..split]).ok()?;
    let mut lines = text.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let value = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let rest = &raw[split + 4..];
    let body: Vec<u8> = if head || status == 204 || status == 304 {
        Vec::new()
    } else if let Some(len) = value("content-length").and_then(|v| v.parse::<usize>().ok()) {
        rest.get(..len)?.to_vec()
    } else if value("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        dechunk(rest)?
    } else if at_close {
        rest.to_vec()
    } else {
        return None;
    };
    Some(HttpResponse {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

/// A whole chunked body, or `None` while incomplete.
fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let end = find(data, b"\r\n")?;
        let size_text = std::str::from_utf8(&data[..end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        data = &data[end + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// One connection, driven by hand.
struct Conn {
    stream: TcpStream,
    started: Instant,
}

impl Conn {
    fn open(w: &Worker) -> Conn {
        let stream = TcpStream::connect(("127.0.0.1", w.port)).expect("connect");
        stream.set_write_timeout(Some(DEADLINE)).expect("timeout");
        Conn {
            stream,
            started: Instant::now(),
        }
    }

    /// Writes bytes; the server may already have answered and closed (431),
    /// so a write error is not a failure by itself.
    fn send(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
    }

    /// Reads until a whole response arrives, the server closes, or `within`
    /// passes (counted from now).
    fn read(&mut self, head: bool, within: Duration) -> Answer {
        let start = Instant::now();
        let mut raw = Vec::new();
        let mut buf = [0u8; 16 * 1024];
        let mut closed = false;
        while parse(&raw, head, false).is_none() {
            let left = within.saturating_sub(start.elapsed());
            if left.is_zero() {
                break;
            }
            self.stream
                .set_read_timeout(Some(left.max(Duration::from_millis(1))))
                .expect("timeout");
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    closed = true;
                    break;
                }
                Ok(n) => raw.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break
                }
                // A reset: the server is gone.
                Err(_) => {
                    closed = true;
                    break;
                }
            }
        }
        Answer {
            response: parse(&raw, head, closed),
            closed,
            raw,
            elapsed: self.started.elapsed(),
        }
    }
}

/// Sends `request` on a fresh connection and reads the answer, bounded by
/// [`DEADLINE`].
fn exchange(w: &Worker, request: &[u8]) -> Answer {
    let mut conn = Conn::open(w);
    conn.send(request);
    conn.read(request.starts_with(b"HEAD "), DEADLINE)
}

/// A request with `Host`, `Connection: close`, a `Content-Length` and the
/// given header lines (sent as given: raw bytes allowed).
fn request(method: &str, path: &str, headers: &[(&str, &[u8])], body: &[u8]) -> Vec<u8> {
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    )
    .into_bytes();
    for (name, value) in headers {
        req.extend_from_slice(name.as_bytes());
        req.extend_from_slice(b": ");
        req.extend_from_slice(value);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"\r\n");
    req.extend_from_slice(body);
    req
}

/// A form POST with an optional `Authorization` value.
fn form(path: &str, auth: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut headers: Vec<(&str, &[u8])> = vec![("Content-Type", FORM.as_bytes())];
    if let Some(auth) = auth {
        headers.push(("Authorization", auth.as_bytes()));
    }
    request("POST", path, &headers, body)
}

/// The head of a chunked form POST (no body yet).
fn chunked_head(method: &str, auth: &str) -> Vec<u8> {
    format!(
        "{method} {TOKEN} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: {FORM}\r\nAuthorization: {auth}\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    .into_bytes()
}

fn chunk(data: &[u8]) -> Vec<u8> {
    let mut out = format!("{:x}\r\n", data.len()).into_bytes();
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
    out
}

/// `Basic` over raw bytes (no §2.3.1 form-encoding).
fn basic_bytes(raw: &[u8]) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

// ---------------------------------------------------------------------------
// The table

/// What a case must get back from the Worker.
#[derive(Debug, Clone, Copy)]
enum Expect {
    /// 200 with a verified token for the target's client.
    Token,
    /// As `Token`, granting exactly this scope.
    TokenScope(&'static str),
    /// An RFC 6749 §5.2 error with this status and code.
    Error(u16, &'static str),
    /// 401 `invalid_client` with the Basic challenge.
    InvalidClient,
    /// 405 `invalid_request` with this `Allow`.
    NotAllowed(&'static str),
    /// The answer to HEAD: 405 with this `Allow`, the JSON and no-store
    /// headers, and no body.
    HeadNotAllowed(&'static str),
}

struct Case {
    name: String,
    request: Vec<u8>,
    expect: Expect,
}

fn case(name: impl Into<String>, request: Vec<u8>, expect: Expect) -> Case {
    Case {
        name: name.into(),
        request,
        expect,
    }
}

/// Checks what every answer from our Worker shares, then `expect`.
#[track_caller]
fn check(t: &Target, r: &HttpResponse, elapsed: Duration, expect: Expect) {
    check_head(r, elapsed);
    match expect {
        Expect::Token | Expect::TokenScope(_) => {
            let claims = assert_token(&t.w, r, &t.id);
            t.remember(r.json()["access_token"].as_str().expect("access_token"));
            if let Expect::TokenScope(scope) = expect {
                assert_eq!(claims["scope"], scope);
            }
        }
        Expect::Error(status, code) => {
            r.assert_error(status, code);
            if code == "invalid_client" {
                assert_eq!(r.header("www-authenticate"), Some(CHALLENGE));
            }
        }
        Expect::InvalidClient => {
            r.assert_error(401, "invalid_client");
            assert_eq!(r.header("www-authenticate"), Some(CHALLENGE));
            assert_eq!(
                r.body,
                r#"{"error":"invalid_client","error_description":"client authentication failed"}"#
            );
        }
        Expect::NotAllowed(allow) => {
            r.assert_error(405, "invalid_request");
            assert_eq!(r.header("allow"), Some(allow));
        }
        Expect::HeadNotAllowed(allow) => {
            assert_eq!(r.status, 405);
            assert_eq!(r.header("allow"), Some(allow));
            assert!(r.body.is_empty(), "HEAD answer has a body: {:?}", r.body);
        }
    }
    t.assert_log_clean();
}

/// What every answer from our Worker shares in its head: in time, no 5xx,
/// JSON, no-store, no CORS header.
#[track_caller]
fn check_head(r: &HttpResponse, elapsed: Duration) {
    assert!(
        elapsed < DEADLINE,
        "answered after {elapsed:?}, over {DEADLINE:?}"
    );
    assert!(r.status < 500, "5xx: {} {}", r.status, r.body);
    assert!(
        r.header("content-type")
            .is_some_and(|v| v.starts_with("application/json")),
        "not JSON: {:?}",
        r.headers
    );
    r.assert_no_store();
    assert!(
        !r.headers
            .iter()
            .any(|(n, _)| n.to_ascii_lowercase().starts_with("access-control-")),
        "CORS header sent: {:?}",
        r.headers
    );
}

/// The text of a caught panic.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_default()
}

/// Runs `f`; a panic in it panics again with `what` in front.
fn named<T>(what: &str, f: impl FnOnce() -> T) -> T {
    std::panic::catch_unwind(AssertUnwindSafe(f))
        .unwrap_or_else(|panic| panic!("{what}: {}", panic_text(&*panic)))
}

/// Runs every case (all of them, even after a failure), then fails with
/// the list of failing cases.
fn run(t: &Target, cases: Vec<Case>) {
    let mut failures = Vec::new();
    let mut slowest = (Duration::ZERO, String::new());
    let count = cases.len();
    for c in cases {
        let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let (r, elapsed) = exchange(&t.w, &c.request).response();
            check(t, &r, elapsed, c.expect);
            elapsed
        }));
        match outcome {
            Ok(elapsed) if elapsed > slowest.0 => slowest = (elapsed, c.name),
            Ok(_) => {}
            Err(panic) => {
                let message = panic_text(&*panic);
                failures.push(format!("{} (expected {:?}): {message}", c.name, c.expect));
            }
        }
    }
    // Log lines are written after the response: look once more.
    std::thread::sleep(Duration::from_millis(500));
    t.assert_log_clean();
    eprintln!("{count} cases; slowest {:?} ({})", slowest.0, slowest.1);
    assert!(
        failures.is_empty(),
        "{} of {count} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

// ---------------------------------------------------------------------------
// Table tests (one shared Worker, in parallel)

#[test]
fn hostile_form_encoding() {
    let t = table();
    let auth = t.auth();
    let a = Some(auth.as_str());
    let g = GRANT.as_bytes();
    let with = |extra: &[u8]| [g, extra].concat();
    let post_creds =
        |id: &[u8], secret: &[u8]| [g, b"&client_id=", id, b"&client_secret=", secret].concat();
    let (id, secret) = (t.id.as_bytes(), t.secret.as_bytes());
    let bad = Expect::Error(400, "invalid_request");
    let bad_scope = Expect::Error(400, "invalid_scope");
    let cases = vec![
        case("baseline", form(TOKEN, a, g), Expect::Token),
        // Invalid UTF-8: the whole body is decoded strictly, known or not.
        case(
            "raw 0xff 0xfe in scope",
            form(TOKEN, a, &with(b"&scope=\xff\xfe")),
            bad,
        ),
        case(
            "raw 0xff in an unknown name",
            form(TOKEN, a, &with(b"&\xff=1")),
            bad,
        ),
        case("%ff in scope", form(TOKEN, a, &with(b"&scope=%ff")), bad),
        case(
            "truncated UTF-8 %C3",
            form(TOKEN, a, &with(b"&scope=%C3")),
            bad,
        ),
        case(
            "overlong UTF-8 %C0%AF",
            form(TOKEN, a, &with(b"&scope=%C0%AF")),
            bad,
        ),
        case(
            "UTF-16 surrogate %ED%A0%80",
            form(TOKEN, a, &with(b"&scope=%ED%A0%80")),
            bad,
        ),
        case("%ff in grant_type", form(TOKEN, a, b"grant_type=%ff"), bad),
        case("%ff in revoke token", form(REVOKE, a, b"token=%ff"), bad),
        case(
            "%ff in introspect token",
            form(INTROSPECT, a, b"token=%ff"),
            bad,
        ),
        // Percent-encoding errors.
        case("%zz", form(TOKEN, a, &with(b"&scope=%zz")), bad),
        case("lone %", form(TOKEN, a, &with(b"&scope=%")), bad),
        case("%4 at the end", form(TOKEN, a, &with(b"&scope=%4")), bad),
        case("%4g", form(TOKEN, a, &with(b"&scope=%4gread")), bad),
        case("%%41", form(TOKEN, a, &with(b"&scope=%%41")), bad),
        case("%zz in a name", form(TOKEN, a, &with(b"&%zz=1")), bad),
        case(
            "%4 in an unknown parameter",
            form(TOKEN, a, &with(b"&x=%4")),
            bad,
        ),
        case("%zz in revoke", form(REVOKE, a, b"token=%zz"), bad),
        // Encoded names are decoded.
        case(
            "grant%5Ftype",
            form(TOKEN, a, b"grant%5Ftype=client_credentials"),
            Expect::Token,
        ),
        case(
            "scope=read%20write",
            form(TOKEN, a, &with(b"&scope=read%20write")),
            Expect::TokenScope("read write"),
        ),
        // NUL, raw and encoded.
        case(
            "raw NUL in scope",
            form(TOKEN, a, &with(b"&scope=re\0ad")),
            bad_scope,
        ),
        case(
            "%00 in scope",
            form(TOKEN, a, &with(b"&scope=re%00ad")),
            bad_scope,
        ),
        case(
            "%00 after scope",
            form(TOKEN, a, &with(b"&scope=read%00")),
            bad_scope,
        ),
        case(
            "%00 in grant_type",
            form(TOKEN, a, b"grant_type=client_credentials%00"),
            Expect::Error(400, "unsupported_grant_type"),
        ),
        case(
            "raw NUL as an unknown name",
            form(TOKEN, a, &with(b"&\0")),
            Expect::Token,
        ),
        case(
            "raw NUL client_id",
            form(TOKEN, None, &post_creds(b"etc\0", secret)),
            Expect::InvalidClient,
        ),
        case(
            "%00 client_id",
            form(TOKEN, None, &post_creds(b"%00", secret)),
            Expect::InvalidClient,
        ),
        case(
            "real client_id + %00",
            form(TOKEN, None, &post_creds(&[id, b"%00"].concat(), secret)),
            Expect::InvalidClient,
        ),
        case(
            "real client_id + raw NUL",
            form(TOKEN, None, &post_creds(&[id, b"\0"].concat(), secret)),
            Expect::InvalidClient,
        ),
        case(
            "real secret + %00",
            form(TOKEN, None, &post_creds(id, &[secret, b"%00"].concat())),
            Expect::InvalidClient,
        ),
        case(
            "NUL in Basic id",
            form(TOKEN, Some(&basic_bytes(&[id, b"\0:", secret].concat())), g),
            Expect::InvalidClient,
        ),
        case(
            "%00 in Basic id",
            form(
                TOKEN,
                Some(&basic_bytes(&[id, b"%00:", secret].concat())),
                g,
            ),
            Expect::InvalidClient,
        ),
    ];
    run(t, cases);
}

#[test]
fn hostile_sizes_within_the_limit() {
    let t = table();
    let auth = t.auth();
    let a = Some(auth.as_str());
    let limit = edge_token_core::http::MAX_BODY_BYTES;
    // As many `&a=b` as fit in 16 KiB: 4,088 unknown parameters, ignored.
    let mut params = GRANT.to_owned();
    while params.len() + 4 <= limit {
        params.push_str("&a=b");
    }
    assert_eq!(params.len(), limit - 3);
    let mut empty = GRANT.to_owned();
    empty.push_str(&"&".repeat(limit - GRANT.len()));
    // As many distinct `resource` values as fit: too many audiences.
    let mut resources = GRANT.to_owned();
    let mut i = 0;
    while resources.len() + 20 <= limit {
        resources.push_str(&format!("&resource=urn:r{i}"));
        i += 1;
    }
    // 15 KiB of distinct valid scope tokens, none allowed.
    let mut distinct = format!("{GRANT}&scope=");
    let mut i = 0;
    while distinct.len() < 15 * 1024 {
        distinct.push_str(&format!("s{i}+"));
        i += 1;
    }
    // 15 KiB of one allowed token, repeated: bounded before de-duplication.
    let repeated = format!("{GRANT}&scope={}", "read+".repeat(15 * 1024 / 5));
    let bad_tail = format!("{repeated}%22");
    let scope = |s: &str| form(TOKEN, a, format!("{GRANT}&scope={s}").as_bytes());
    let bad_scope = Expect::Error(400, "invalid_scope");
    let cases = vec![
        case(
            "4,088 unknown parameters in 16 KiB",
            form(TOKEN, a, params.as_bytes()),
            Expect::Token,
        ),
        case(
            "16 KiB of empty segments",
            form(TOKEN, a, empty.as_bytes()),
            Expect::Token,
        ),
        case(
            "scope given 1,400 times",
            form(
                TOKEN,
                a,
                format!("{GRANT}{}", "&scope=read".repeat(1400)).as_bytes(),
            ),
            Expect::Error(400, "invalid_request"),
        ),
        case(
            "~800 distinct resource values",
            form(TOKEN, a, resources.as_bytes()),
            Expect::Error(400, "invalid_target"),
        ),
        case(
            "15 KiB of distinct scope tokens",
            form(TOKEN, a, distinct.as_bytes()),
            bad_scope,
        ),
        case(
            "15 KiB of 'read' repeated",
            form(TOKEN, a, repeated.as_bytes()),
            bad_scope,
        ),
        case(
            "'read' repeated 64 times (the bound)",
            scope(&vec!["read"; edge_token_core::scope::MAX_SCOPES].join("+")),
            Expect::TokenScope("read"),
        ),
        case(
            "'read' repeated 65 times",
            scope(&vec!["read"; edge_token_core::scope::MAX_SCOPES + 1].join("+")),
            bad_scope,
        ),
        case(
            "a 129-byte scope token",
            scope(&"r".repeat(edge_token_core::scope::MAX_SCOPE_LEN + 1)),
            bad_scope,
        ),
        case(
            "one resource repeated 17 times",
            form(
                TOKEN,
                a,
                format!("{GRANT}{}", "&resource=urn:r0".repeat(17)).as_bytes(),
            ),
            Expect::Error(400, "invalid_target"),
        ),
        case(
            "a 513-byte resource",
            form(
                TOKEN,
                a,
                format!("{GRANT}&resource=urn:{}", "r".repeat(509)).as_bytes(),
            ),
            Expect::Error(400, "invalid_target"),
        ),
        case(
            "an audience with a quote",
            form(TOKEN, a, format!("{GRANT}&audience=urn:a%22b").as_bytes()),
            Expect::Error(400, "invalid_target"),
        ),
        case(
            "15 KiB scope ending in a quote",
            form(TOKEN, a, bad_tail.as_bytes()),
            bad_scope,
        ),
        case("scope with a quote", scope("re%22ad"), bad_scope),
        case("scope with a backslash", scope("re%5Cad"), bad_scope),
        case("scope with DEL", scope("read%7F"), bad_scope),
        case("scope with a tab", scope("read%09write"), bad_scope),
        case("scope with a newline", scope("read%0Awrite"), bad_scope),
        case("scope with U+00E9", scope("r%C3%A9ad"), bad_scope),
        case(
            "scope with an ideographic space",
            scope("read%E3%80%80write"),
            bad_scope,
        ),
        case(
            "scope with a full-width letter",
            scope("%EF%BD%92ead"),
            bad_scope,
        ),
        case(
            "scope of spaces only",
            scope("+++"),
            Expect::TokenScope("read"),
        ),
        case(
            "64 KiB Authorization header (reaches the Worker)",
            form(
                TOKEN,
                Some(&format!("Basic {}", "A".repeat(64 * 1024))),
                GRANT.as_bytes(),
            ),
            Expect::InvalidClient,
        ),
        case(
            "5,000 extra headers (under workerd's 128 KiB)",
            {
                let mut req = form(TOKEN, a, GRANT.as_bytes());
                let extra: String = (0..5000).map(|i| format!("X-Filler-{i}: v\r\n")).collect();
                let at = find(&req, b"\r\n").unwrap() + 2;
                req.splice(at..at, extra.into_bytes());
                req
            },
            Expect::Token,
        ),
    ];
    run(t, cases);
}

#[test]
fn hostile_content_types() {
    let t = table();
    let auth = t.auth();
    let g = GRANT.as_bytes();
    let with_ct = |ct: Option<&str>| {
        let mut headers: Vec<(&str, &[u8])> = vec![("Authorization", auth.as_bytes())];
        if let Some(ct) = ct {
            headers.push(("Content-Type", ct.as_bytes()));
        }
        request("POST", TOKEN, &headers, g)
    };
    let bad = Expect::Error(400, "invalid_request");
    let cases = vec![
        case(
            "charset=utf-8",
            with_ct(Some("application/x-www-form-urlencoded; charset=utf-8")),
            Expect::Token,
        ),
        // The media type is compared case-insensitively and its parameters
        // are ignored (charset="UTF-8", quoted, upper case).
        case(
            "upper case, quoted charset",
            with_ct(Some("APPLICATION/X-WWW-FORM-URLENCODED;charset=\"UTF-8\"")),
            Expect::Token,
        ),
        // Also ignored: any other charset (the body is decoded as UTF-8).
        case(
            "charset=iso-8859-1 (ignored)",
            with_ct(Some("application/x-www-form-urlencoded;charset=iso-8859-1")),
            Expect::Token,
        ),
        case(
            "surrounding whitespace",
            with_ct(Some("   application/x-www-form-urlencoded   ")),
            Expect::Token,
        ),
        case(
            "a longer media type",
            with_ct(Some("application/x-www-form-urlencodedx")),
            bad,
        ),
        case(
            "a prefix of it",
            with_ct(Some("application/x-www-form")),
            bad,
        ),
        case(
            "multipart/form-data",
            with_ct(Some("multipart/form-data; boundary=x")),
            bad,
        ),
        case("application/json", with_ct(Some("application/json")), bad),
        case("text/plain", with_ct(Some("text/plain")), bad),
        case("empty Content-Type", with_ct(Some("")), bad),
        case("missing Content-Type", with_ct(None), bad),
        case(
            "parameters first",
            with_ct(Some("charset=utf-8; application/x-www-form-urlencoded")),
            bad,
        ),
        case(
            "form, json (one header)",
            with_ct(Some("application/x-www-form-urlencoded, application/json")),
            bad,
        ),
        case(
            "two Content-Type headers",
            request(
                "POST",
                TOKEN,
                &[
                    ("Authorization", auth.as_bytes()),
                    ("Content-Type", FORM.as_bytes()),
                    ("Content-Type", &b"application/json"[..]),
                ],
                g,
            ),
            bad,
        ),
    ];
    run(t, cases);
}

#[test]
fn hostile_methods() {
    let t = table();
    let preflight: &[(&str, &[u8])] = &[
        ("Origin", b"https://evil.example"),
        ("Access-Control-Request-Method", b"POST"),
        (
            "Access-Control-Request-Headers",
            b"authorization, content-type",
        ),
    ];
    let mut cases = Vec::new();
    for path in [TOKEN, INTROSPECT, REVOKE] {
        for method in ["OPTIONS", "PUT", "DELETE", "PATCH", "GET", "TRACE"] {
            cases.push(case(
                format!("{method} {path}"),
                request(method, path, preflight, b""),
                Expect::NotAllowed("POST"),
            ));
        }
        cases.push(case(
            format!("PUT {path} with a form body"),
            request(
                "PUT",
                path,
                &[("Content-Type", FORM.as_bytes())],
                GRANT.as_bytes(),
            ),
            Expect::NotAllowed("POST"),
        ));
        cases.push(case(
            format!("HEAD {path}"),
            request("HEAD", path, preflight, b""),
            Expect::HeadNotAllowed("POST"),
        ));
    }
    for method in ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"] {
        cases.push(case(
            format!("{method} metadata"),
            request(method, METADATA, preflight, b""),
            Expect::NotAllowed("GET, HEAD"),
        ));
    }
    run(t, cases);
}

#[test]
fn hostile_authorization_headers() {
    let t = table();
    let (id, secret) = (t.id.as_str(), t.secret.as_str());
    let auth = t.auth();
    let auth = auth.as_str();
    let g = GRANT.as_bytes();
    fn with_auth<S: AsRef<str>>(values: &[S], body: &[u8]) -> Vec<u8> {
        let mut headers: Vec<(&str, &[u8])> = vec![("Content-Type", FORM.as_bytes())];
        for v in values {
            headers.push(("Authorization", v.as_ref().as_bytes()));
        }
        request("POST", TOKEN, &headers, body)
    }
    let token = {
        let (r, _) = exchange(&t.w, &form(TOKEN, Some(auth), g)).response();
        check(t, &r, Duration::ZERO, Expect::Token);
        r.json()["access_token"].as_str().unwrap().to_owned()
    };
    let bad = Expect::Error(400, "invalid_request");
    let no = Expect::InvalidClient;
    let body_secret = format!("{GRANT}&client_secret={secret}");
    let body_id = format!("{GRANT}&client_id={id}");
    let cases = vec![
        // Decided before the credentials are parsed (RFC 6749 §2.3).
        case(
            "two Authorization headers",
            with_auth(&[&auth, &auth], g),
            bad,
        ),
        case(
            "two Authorization headers, one junk",
            with_auth(&[auth, "Basic !!!"], g),
            bad,
        ),
        case(
            "two Basic values in one header",
            with_auth(&[&format!("{auth}, {auth}")], g),
            bad,
        ),
        case(
            "Basic and client_secret in the body",
            with_auth(&[&auth], body_secret.as_bytes()),
            bad,
        ),
        case(
            "Basic and post credentials",
            with_auth(
                &[&auth],
                format!("{body_id}&client_secret={secret}").as_bytes(),
            ),
            bad,
        ),
        case(
            "Basic and another body client_id",
            with_auth(&[&auth], format!("{GRANT}&client_id=etc_other").as_bytes()),
            bad,
        ),
        case(
            "Basic and the same body client_id",
            with_auth(&[&auth], body_id.as_bytes()),
            Expect::Token,
        ),
        case(
            "client_id twice (post)",
            form(
                TOKEN,
                None,
                format!("{body_id}&client_id={id}&client_secret={secret}").as_bytes(),
            ),
            bad,
        ),
        // Malformed Basic: invalid_client, like any failed authentication.
        case("Basic !!!", with_auth(&["Basic !!!"], g), no),
        case("Basic ====", with_auth(&["Basic ===="], g), no),
        case(
            "Basic without padding",
            with_auth(&[auth.trim_end_matches('=')], g),
            Expect::Token,
        ),
        case(
            "Basic without colon",
            with_auth(&[&basic_bytes(format!("{id}{secret}").as_bytes())], g),
            no,
        ),
        case(
            "Basic with a space for the colon",
            with_auth(&[&basic_bytes(format!("{id} {secret}").as_bytes())], g),
            no,
        ),
        case(
            "Basic with an empty id",
            with_auth(&[&basic_bytes(format!(":{secret}").as_bytes())], g),
            no,
        ),
        case(
            "Basic with an empty secret",
            with_auth(&[&basic_bytes(format!("{id}:").as_bytes())], g),
            no,
        ),
        case(
            "Basic with %zz in the secret",
            with_auth(&[&basic_bytes(format!("{id}:%zz").as_bytes())], g),
            no,
        ),
        case(
            "Basic with bytes 0xff 0xfe",
            with_auth(&[&basic_bytes(b"id:\xff\xfe")], g),
            no,
        ),
        case("Basic alone", with_auth(&["Basic"], g), no),
        case("Basic and spaces", with_auth(&["Basic    "], g), no),
        case(
            "Basic with a tab",
            with_auth(&[&auth.replacen(' ', "\t", 1)], g),
            no,
        ),
        case("empty Authorization", with_auth(&[""], g), no),
        case("Bearer, empty", with_auth(&["Bearer "], g), no),
        case(
            "Bearer with a real access token",
            with_auth(&[&format!("Bearer {token}")], g),
            no,
        ),
        case("Digest", with_auth(&["Digest username=\"x\""], g), no),
        case(
            "the secret as the id (swapped)",
            with_auth(&[&basic(secret, id)], g),
            no,
        ),
        case("the id as the secret", with_auth(&[&basic(id, id)], g), no),
        case(
            "257-byte id",
            with_auth(&[&basic(&"a".repeat(257), secret)], g),
            no,
        ),
        case(
            "257-byte secret",
            with_auth(&[&basic(id, &"a".repeat(257))], g),
            no,
        ),
        // Accepted variants of a valid header.
        case(
            "lower-case scheme",
            with_auth(&[&auth.replacen("Basic", "basic", 1)], g),
            Expect::Token,
        ),
        case(
            "upper-case scheme, extra spaces",
            with_auth(&[&auth.replacen("Basic ", "BASIC    ", 1)], g),
            Expect::Token,
        ),
        case(
            "raw UTF-8 bytes in the header",
            request(
                "POST",
                TOKEN,
                &[
                    ("Content-Type", FORM.as_bytes()),
                    ("Authorization", "Basic ｅｔｃ".as_bytes()),
                ],
                g,
            ),
            no,
        ),
    ];
    run(t, cases);
}

/// Look-alikes of the real client id, each with the real secret, sent three
/// ways: Basic (§2.3.1 form-encoded), Basic over raw UTF-8, and the body.
#[test]
fn hostile_lookalike_client_ids() {
    let t = table();
    let (id, secret) = (t.id.as_str(), t.secret.as_str());
    let homoglyph = |c: char| match c {
        'a' => Some('\u{430}'),
        'c' => Some('\u{441}'),
        'e' => Some('\u{435}'),
        'o' => Some('\u{43e}'),
        'p' => Some('\u{440}'),
        'x' => Some('\u{445}'),
        'y' => Some('\u{443}'),
        'A' => Some('\u{410}'),
        'B' => Some('\u{412}'),
        'C' => Some('\u{421}'),
        'E' => Some('\u{415}'),
        'H' => Some('\u{41d}'),
        'K' => Some('\u{41a}'),
        'M' => Some('\u{41c}'),
        'O' => Some('\u{41e}'),
        'P' => Some('\u{420}'),
        'T' => Some('\u{422}'),
        'X' => Some('\u{425}'),
        _ => None,
    };
    // Full-width forms: NFKC maps each back to its ASCII letter.
    let full_width = |c: char| char::from_u32(c as u32 - 0x21 + 0xff01).unwrap();
    let mut variants: Vec<(String, String)> = vec![
        (
            "Cyrillic е (U+0435) for e".into(),
            id.replacen('e', "\u{435}", 1),
        ),
        (
            "Cyrillic с (U+0441) for c".into(),
            id.replacen('c', "\u{441}", 1),
        ),
        (
            "full-width low line for _".into(),
            id.replacen('_', "\u{ff3f}", 1),
        ),
        (
            "all full-width (NFKC-equal)".into(),
            id.chars().map(full_width).collect(),
        ),
        (
            "mathematical bold e (NFKC-equal)".into(),
            id.replacen('e', "\u{1d41e}", 1),
        ),
        ("zero-width joiner appended".into(), format!("{id}\u{200d}")),
        (
            "zero-width space inside".into(),
            id.replacen('_', "_\u{200b}", 1),
        ),
        ("BOM prepended".into(), format!("\u{feff}{id}")),
        (
            "combining acute on e".into(),
            id.replacen('e', "e\u{301}", 1),
        ),
        ("trailing space".into(), format!("{id} ")),
        ("leading space".into(), format!(" {id}")),
        ("upper case".into(), id.to_uppercase()),
    ];
    // In the random part, when present: a Cyrillic look-alike letter and a
    // full-width digit.
    let random = &id[4..];
    if let Some((i, c)) = random.char_indices().find(|(_, c)| homoglyph(*c).is_some()) {
        let mut v = id.to_owned();
        v.replace_range(4 + i..4 + i + 1, &homoglyph(c).unwrap().to_string());
        variants.push((format!("Cyrillic for '{c}' in the random part"), v));
    }
    if let Some((i, c)) = random.char_indices().find(|(_, c)| c.is_ascii_digit()) {
        let mut v = id.to_owned();
        v.replace_range(4 + i..4 + i + 1, &full_width(c).to_string());
        variants.push((format!("full-width digit for '{c}'"), v));
    }
    let mut cases = Vec::new();
    for (name, v) in &variants {
        assert_ne!(v, id, "{name}");
        cases.push(case(
            format!("{name}, Basic"),
            form(TOKEN, Some(&basic(v, secret)), GRANT.as_bytes()),
            Expect::InvalidClient,
        ));
        cases.push(case(
            format!("{name}, raw Basic"),
            form(
                TOKEN,
                Some(&basic_bytes(format!("{v}:{secret}").as_bytes())),
                GRANT.as_bytes(),
            ),
            Expect::InvalidClient,
        ));
        cases.push(case(
            format!("{name}, post"),
            form(
                TOKEN,
                None,
                format!(
                    "{GRANT}&client_id={}&client_secret={secret}",
                    encode_component(v)
                )
                .as_bytes(),
            ),
            Expect::InvalidClient,
        ));
    }
    // The real id still works, every way.
    cases.push(case(
        "real id, Basic",
        form(TOKEN, Some(&basic(id, secret)), GRANT.as_bytes()),
        Expect::Token,
    ));
    cases.push(case(
        "real id, raw Basic",
        form(
            TOKEN,
            Some(&basic_bytes(format!("{id}:{secret}").as_bytes())),
            GRANT.as_bytes(),
        ),
        Expect::Token,
    ));
    cases.push(case(
        "real id, post",
        form(
            TOKEN,
            None,
            format!("{GRANT}&client_id={id}&client_secret={secret}").as_bytes(),
        ),
        Expect::Token,
    ));
    run(t, cases);
}

/// A secret sent as the client id, with a leading space, quotes or a
/// prefix (a misconfigured client), is never logged (regression: only an
/// exact `ets_` prefix used to be redacted).
#[test]
fn secret_sent_as_client_id_is_never_logged() {
    let t = table();
    // Its own client: its secret is not in the table's list, so this test
    // cannot fail the others while the bug stands.
    let (id, secret) = t.w.create_client(&["--scope", "read"]);
    let variants = [
        basic(&format!(" {secret}"), &id),
        basic(&format!("\"{secret}\""), &id),
        basic_bytes(format!("{secret} :{id}").as_bytes()),
        basic(&format!("x{secret}"), &id),
    ];
    for auth in &variants {
        let (r, elapsed) = exchange(&t.w, &form(TOKEN, Some(auth), GRANT.as_bytes())).response();
        check(t, &r, elapsed, Expect::InvalidClient);
    }
    let (r, elapsed) = exchange(
        &t.w,
        &form(
            TOKEN,
            None,
            format!("{GRANT}&client_id=+{secret}&client_secret={secret}").as_bytes(),
        ),
    )
    .response();
    check(t, &r, elapsed, Expect::InvalidClient);
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !t.w.log_text().contains(&secret),
        "client secret in the log"
    );
}

// ---------------------------------------------------------------------------
// Limits and slow bodies (their own Worker, one test at a time)

/// After a connection dropped mid-body, wrangler's ProxyWorker may stall
/// the next request or answer it with its own 503: probe until our Worker
/// answers.
fn settle(t: &Target) {
    let started = Instant::now();
    for attempt in 0..8 {
        // Short probes: the first request after a dropped one may stall.
        let mut conn = Conn::open(&t.w);
        conn.send(b"GET /__settle HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
        let answer = conn.read(false, Duration::from_secs(4));
        if answer.response.as_ref().is_some_and(|r| r.status == 404) {
            if attempt > 0 || started.elapsed() > Duration::from_secs(1) {
                eprintln!(
                    "settled after {attempt} dev-proxy answers, {:?}",
                    started.elapsed()
                );
            }
            return;
        }
    }
    panic!("the Worker did not answer again:\n{}", t.w.log_text());
}

/// The Worker's audit lines, parsed.
fn audit_lines(t: &Target) -> Vec<serde_json::Value> {
    t.w.log_text()
        .lines()
        .filter_map(|l| l.find("{\"ts\"").map(|i| &l[i..]))
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

#[test]
fn oversize_bodies_are_413() {
    let (t, _serial) = limits();
    let auth = t.auth();
    let a = Some(auth.as_str());
    let ten_thousand = format!("{GRANT}{}", "&a=b".repeat(10_000));
    let over = format!("{GRANT}&pad={}", "a".repeat(17 * 1024));
    let mut cases = vec![
        case(
            "17 KiB, Content-Length",
            form(TOKEN, a, over.as_bytes()),
            Expect::Error(413, "invalid_request"),
        ),
        case(
            "10,000 parameters (40 KB), Content-Length",
            form(TOKEN, a, ten_thousand.as_bytes()),
            Expect::Error(413, "invalid_request"),
        ),
        case(
            "1 MiB, Content-Length",
            form(TOKEN, a, &vec![b'a'; 1 << 20]),
            Expect::Error(413, "invalid_request"),
        ),
        case(
            "17 KiB to revoke",
            form(REVOKE, a, over.as_bytes()),
            Expect::Error(413, "invalid_request"),
        ),
    ];
    for (name, body) in [("17 KiB", &over), ("10,000 parameters", &ten_thousand)] {
        let mut req = chunked_head("POST", &auth);
        for piece in body.as_bytes().chunks(1024) {
            req.extend(chunk(piece));
        }
        req.extend_from_slice(b"0\r\n\r\n");
        cases.push(case(
            format!("{name}, chunked"),
            req,
            Expect::Error(413, "invalid_request"),
        ));
    }
    for c in cases {
        assert!(matches!(c.expect, Expect::Error(413, _)));
        expect_413(t, &c.name, || exchange(&t.w, &c.request));
        settle(t);
    }
}

/// wrangler dev's own answer (its ProxyWorker's, not there in production)
/// to a request whose Worker answered while the body was still coming:
/// never ours (our 5xx are JSON).
fn proxy_restarted(r: &HttpResponse) -> bool {
    r.status == 503 && r.body.starts_with("Your worker restarted mid-request")
}

/// Sends an oversize request (`send` opens the connection and reads what
/// comes back) and checks that the Worker answered 413 invalid_request, at
/// once. The dev proxy chain in front of the Worker sometimes spoils the
/// answer to a request whose body is still coming: wrangler's ProxyWorker
/// answers its own 503 ([`proxy_restarted`]; cut, a text/plain 503 head),
/// or the 413's head arrives and the connection closes before its body.
/// Either is tried again, three tries in all; any other answer, whole or
/// cut, fails at once. When no try came back whole but one was a cut 413,
/// that 413 is judged on its head and on an `invalid_request` 413 audit
/// line written since that try began.
#[track_caller]
fn expect_413(t: &Target, what: &str, send: impl Fn() -> Answer) {
    let now_ms = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    };
    let logged_since = |since: u64| {
        audit_lines(t).iter().any(|v| {
            v["status"] == 413
                && v["error"] == "invalid_request"
                && v["ts"].as_u64().is_some_and(|ts| ts >= since)
        })
    };
    let mut cut = None;
    for _ in 0..3 {
        let started = now_ms();
        let answer = send();
        match &answer.response {
            Some(r) if proxy_restarted(r) => {}
            Some(r) => {
                named(what, || {
                    check(t, r, answer.elapsed, Expect::Error(413, "invalid_request"))
                });
                return;
            }
            None => {
                let head = answer
                    .closed
                    .then(|| parse(&answer.raw, true, false))
                    .flatten();
                match head {
                    Some(head) if head.status == 413 => {
                        cut.get_or_insert((head, answer.elapsed, started));
                    }
                    Some(head)
                        if head.status == 503
                            && head
                                .header("content-type")
                                .is_some_and(|v| v.starts_with("text/plain")) => {}
                    _ => panic!(
                        "{what}: no complete response within {:?} (closed: {}): {:?}",
                        answer.elapsed,
                        answer.closed,
                        String::from_utf8_lossy(&answer.raw)
                    ),
                }
            }
        }
        settle(t);
    }
    let Some((head, elapsed, started)) = cut else {
        panic!("{what}: the dev proxy's 503 on every try");
    };
    named(what, || check_head(&head, elapsed));
    // Log lines are written after the response: settle() took a while.
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        logged_since(started),
        "{what}: the Worker logged no 413 for it"
    );
    t.assert_log_clean();
}

/// What happens today to a body that never ends, documented: the stack
/// waits (with no timeout of its own) for as long as the client keeps the
/// socket open, and answers once the body is complete.
///
/// - POST: our Worker itself awaits the body stream (it must read the form).
/// - PUT: our Worker answers 405 at once without reading the body, but
///   wrangler's dev-only `middleware-ensure-req-body-drained` holds the
///   response until the body has been drained. In production there is no
///   such middleware.
/// - Over 16 KiB: the Worker stops reading and answers 413 without waiting
///   for the rest.
/// - A client that half-closes mid-body: [`half_closed_body_is_answered_at_once`].
#[test]
fn slow_and_incomplete_bodies() {
    let (t, _serial) = limits();
    let auth = t.auth();

    // Chunked, no terminating chunk: silence; then the last chunk, a token.
    let mut conn = Conn::open(&t.w);
    conn.send(&chunked_head("POST", &auth));
    conn.send(&chunk(GRANT.as_bytes()));
    let silent = conn.read(false, SILENCE);
    assert!(
        silent.raw.is_empty() && !silent.closed,
        "answered an incomplete chunked body: {:?}",
        String::from_utf8_lossy(&silent.raw)
    );
    conn.send(b"0\r\n\r\n");
    let (r, _) = conn.read(false, DEADLINE).response();
    check(t, &r, Duration::ZERO, Expect::Token);

    // Fewer bytes than Content-Length: silence; then the rest, a token.
    let full = form(TOKEN, Some(&auth), GRANT.as_bytes());
    let mut conn = Conn::open(&t.w);
    conn.send(&full[..full.len() - 10]);
    let silent = conn.read(false, SILENCE);
    assert!(
        silent.raw.is_empty() && !silent.closed,
        "answered a short body"
    );
    conn.send(&full[full.len() - 10..]);
    let (r, _) = conn.read(false, DEADLINE).response();
    check(t, &r, Duration::ZERO, Expect::Token);

    // PUT with an unfinished body: the Worker has answered 405 (its log
    // line is there), but the dev middleware holds the response until the
    // body is drained.
    let before = audit_lines(t).iter().filter(|v| v["status"] == 405).count();
    let mut conn = Conn::open(&t.w);
    conn.send(&chunked_head("PUT", &auth));
    conn.send(&chunk(GRANT.as_bytes()));
    let silent = conn.read(false, SILENCE);
    assert!(
        silent.raw.is_empty() && !silent.closed,
        "PUT answered early"
    );
    let after = audit_lines(t).iter().filter(|v| v["status"] == 405).count();
    assert_eq!(after, before + 1, "the Worker had not answered the PUT");
    conn.send(b"0\r\n\r\n");
    let (r, _) = conn.read(false, DEADLINE).response();
    check(t, &r, Duration::ZERO, Expect::NotAllowed("POST"));

    // Over 16 KiB and never finished: 413 without waiting for the rest.
    expect_413(t, "20 KiB chunked, never finished", || {
        let mut conn = Conn::open(&t.w);
        conn.send(&chunked_head("POST", &auth));
        for _ in 0..20 {
            conn.send(&chunk(&[b'a'; 1024]));
        }
        conn.read(false, DEADLINE)
    });
    settle(t);
}

/// A client that half-closes mid-body (no last chunk) is answered at once.
/// What answers depends on wrangler dev's proxy chain: with no request in
/// the last few seconds, wrangler's ProxyWorker (503 text/plain, "Your
/// worker restarted mid-request"), while our Worker, seeing the body stream
/// fail, answers 400 invalid_request to no one; right after another request
/// (a warm ProxyWorker-to-Worker connection), the chain hands our Worker
/// the truncated body as if complete, and it is judged on its merits (here
/// `grant_type=client_`: 400 unsupported_grant_type). Never a Worker 5xx.
/// See [`truncated_chunked_body_never_yields_a_token`].
#[test]
fn half_closed_body_is_answered_at_once() {
    let t = Target::start("hostile-half-closed");
    let auth = t.auth();
    let before = audit_lines(&t).len();
    let mut conn = Conn::open(&t.w);
    conn.send(&chunked_head("POST", &auth));
    conn.send(&chunk(b"grant_type=client_"));
    conn.stream.shutdown(Shutdown::Write).expect("half-close");
    let answer = conn.read(false, DEADLINE);
    match &answer.response {
        Some(r) if r.status == 503 => {
            assert_eq!(r.header("content-type"), Some("text/plain;charset=UTF-8"));
            assert!(
                r.body.starts_with("Your worker restarted mid-request"),
                "{r:?}"
            );
        }
        Some(r) => {
            let code = if r.body.contains("unsupported_grant_type") {
                "unsupported_grant_type"
            } else {
                "invalid_request"
            };
            check(&t, r, answer.elapsed, Expect::Error(400, code));
        }
        None => assert!(
            answer.closed && answer.elapsed < DEADLINE,
            "neither an answer nor a close within {DEADLINE:?}"
        ),
    }
    std::thread::sleep(Duration::from_millis(500));
    let lines = audit_lines(&t);
    assert!(lines.len() > before, "the Worker never saw the request");
    for line in &lines[before..] {
        assert!(line["status"].as_u64() < Some(500), "Worker 5xx: {line}");
    }
    t.assert_log_clean();
    t.w.stop();
}

/// The dev stack's bug, not the Worker's: right after another request,
/// `wrangler dev` (front workerd + ProxyWorker, forwarding over a warm
/// connection) delivers a chunked body whose client half-closed before the
/// last chunk to the Worker as a complete body, so a request the client
/// never finished is served: a token is issued. The Worker only sees a
/// clean end of stream. (With no request in the last ~5 s, the same bytes
/// get the ProxyWorker's 503; sent straight to the Worker's workerd, the
/// body read fails and the Worker answers 400.)
#[test]
#[ignore = "wrangler dev bug, not the Worker: a chunked body truncated by a half-close (no last chunk) reaches the Worker as complete right after another request, and a token is issued"]
fn truncated_chunked_body_never_yields_a_token() {
    let t = Target::start("hostile-truncated");
    let auth = t.auth();
    for attempt in 0..3 {
        settle(&t);
        let mut conn = Conn::open(&t.w);
        conn.send(&chunked_head("POST", &auth));
        conn.send(&chunk(GRANT.as_bytes()));
        conn.stream.shutdown(Shutdown::Write).expect("half-close");
        let answer = conn.read(false, DEADLINE);
        if let Some(r) = &answer.response {
            assert_ne!(
                r.status, 200,
                "attempt {attempt}: token for a truncated body"
            );
        }
    }
    t.w.stop();
}

/// A body that never arrives in full (a chunked body with no last chunk,
/// or fewer bytes than Content-Length) while the client holds the
/// connection open is answered `408 invalid_request` after
/// `http::BODY_TIMEOUT_MS` (regression: it used to be awaited forever; no
/// layer of `wrangler dev` times it out).
#[test]
fn unfinished_body_is_answered_within_bounded_time() {
    // Its own Worker: a connection dropped mid-body disturbs the next request.
    let t = Target::start("hostile-unfinished");
    let auth = t.auth();
    let bound = Duration::from_secs(30);
    let full = form(TOKEN, Some(&auth), GRANT.as_bytes());
    let mut chunked = chunked_head("POST", &auth);
    chunked.extend(chunk(GRANT.as_bytes()));
    for (name, partial) in [
        ("chunked, no last chunk", chunked),
        ("short of Content-Length", full[..full.len() - 10].to_vec()),
    ] {
        let mut conn = Conn::open(&t.w);
        conn.send(&partial);
        let answer = conn.read(false, bound);
        match &answer.response {
            Some(r) => {
                assert_eq!(r.status, 408, "{name}: {r:?}");
                assert_eq!(r.json()["error"], "invalid_request", "{name}");
                r.assert_no_store();
            }
            None => panic!(
                "{name}: no answer within {bound:?} (closed: {})",
                answer.closed
            ),
        }
        drop(conn);
        settle(&t);
    }
    t.w.stop();
}

/// Requests workerd's HTTP parser refuses: answered by the front workerd
/// (the one `wrangler dev` listens on) in text/plain, before wrangler's
/// ProxyWorker and our Worker. Each carries a unique client id: its absence
/// from the log proves the Worker never saw the request. (Cloudflare's edge
/// parses HTTP in production; these answers are workerd's.)
#[test]
fn runtime_answers_before_the_worker() {
    let (t, _serial) = limits();
    let g = GRANT.as_bytes();
    let marker = |n: usize| basic(&format!("etc_runtime_probe_{n}"), "ets_x");
    let with_head = |n: usize, head: &str| {
        let mut req = form(TOKEN, Some(&marker(n)), g);
        let at = find(&req, b"\r\n").unwrap() + 2;
        req.splice(at..at, head.bytes());
        req
    };
    let big_header = {
        let mut req = form(TOKEN, Some(&marker(0)), g);
        let at = find(&req, b"\r\n").unwrap() + 2;
        req.splice(
            at..at,
            format!("X-Big: {}\r\n", "a".repeat(200 * 1024)).into_bytes(),
        );
        req
    };
    let many_headers = with_head(
        1,
        &(0..20_000)
            .map(|i| format!("X-Filler-{i}: v\r\n"))
            .collect::<String>(),
    );
    let nul_header = with_head(2, "X-Nul: a\0b\r\n");
    let lower_method = {
        let mut req = form(TOKEN, Some(&marker(3)), g);
        req.splice(0..4, b"post".iter().copied());
        req
    };
    let absolute_target = {
        let mut req = form(TOKEN, Some(&marker(4)), g);
        req.splice(5..5, b"http://evil.example".iter().copied());
        req
    };
    let two_lengths = with_head(5, "Content-Length: 5\r\n");
    let te_gzip = {
        let req = form(TOKEN, Some(&marker(6)), g);
        let text = String::from_utf8(req).unwrap();
        text.replace(
            &format!("Content-Length: {}\r\n", g.len()),
            "Transfer-Encoding: gzip\r\n",
        )
        .into_bytes()
    };
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        (
            "one 200 KiB header (KJ limit: 128 KiB of headers)",
            big_header,
            431,
            "ERROR: header too large.",
        ),
        (
            "20,000 headers",
            many_headers,
            431,
            "ERROR: header too large.",
        ),
        (
            "NUL in a header value",
            nul_header,
            400,
            "ERROR: The headers sent by your client are not valid.",
        ),
        (
            "lower-case method",
            lower_method,
            501,
            "ERROR: Unrecognized request method.",
        ),
        (
            "absolute-form target",
            absolute_target,
            500,
            "Internal Server Error",
        ),
        (
            "two different Content-Lengths",
            two_lengths,
            500,
            "Internal Server Error",
        ),
        (
            "Transfer-Encoding: gzip",
            te_gzip,
            500,
            "Internal Server Error",
        ),
    ];
    let mut failures = Vec::new();
    for (name, req, status, body) in cases {
        let answer = exchange(&t.w, &req);
        match &answer.response {
            Some(r) if r.status == status && r.body == body => {
                assert!(answer.elapsed < DEADLINE, "{name}: {:?}", answer.elapsed);
                assert!(r.header("cache-control").is_none(), "{name}: {r:?}");
            }
            // The runtime may reset the connection before its answer is read.
            None if answer.closed && answer.raw.is_empty() => {
                eprintln!("{name}: connection reset without an answer");
            }
            _ => failures.push(format!(
                "{name}: expected {status} {body:?} from workerd, got {:?}",
                String::from_utf8_lossy(&answer.raw)
            )),
        }
        settle(t);
    }
    std::thread::sleep(Duration::from_millis(500));
    let log = t.w.log_text();
    for n in 0..7 {
        let probe = format!("etc_runtime_probe_{n}");
        assert!(!log.contains(&probe), "the Worker saw {probe}");
    }
    t.assert_log_clean();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
