//! Keeps `openapi.yaml` true to the service, natively (no network):
//!
//! - its paths and methods are exactly what the router serves: every other
//!   method gets the documented `405` (with `Allow` listing the documented
//!   methods), every other path the documented `404`;
//! - a request is driven through `Service::handle` for every documented
//!   response, and each response is checked against the document: its status
//!   is documented for the operation, every documented required header is
//!   there, every header value matches its schema, no undocumented header is
//!   sent, and the body validates against the documented schema (a small
//!   JSON Schema validator below, for the subset the document uses; any
//!   other keyword fails the test, so nothing in the document goes unchecked);
//! - every documented status of every operation, every error code a
//!   documented error response allows, and every branch of a documented
//!   `oneOf` is produced by at least one driven request;
//! - the form parameters documented are the ones the service reads, and
//!   the `error` codes documented are the ones `OAuthError` has.
// Test code: a failed fixture or assertion is a failed run.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use edge_token_testkit::block_on;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use serde_json::{json, Value};

use edge_token_core::client::{
    generate_client_id, generate_client_secret, ClientRecord, SecretEntry, SecretHash,
};
use edge_token_core::config::{Config, ConfigError};
use edge_token_core::error::OAuthError;
use edge_token_core::form::encode_component;
use edge_token_core::http::{Body, HttpRequest, HttpResponse};
use edge_token_core::limit::{Blocklist, LimitKind};
use edge_token_core::random::{OsRandom, Random};
use edge_token_core::routes;
use edge_token_core::service::{Outcome, Params, Service};
use edge_token_testkit::ImmediateTimer;
use edge_token_testkit::MemoryLimiter;
use edge_token_testkit::MemoryStore;

const SPEC_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../openapi.yaml");
const NOW: u64 = 1_700_000_000;
const ISSUER: &str = "https://auth.example";
const API: &str = "https://api.example";
const BILLING: &str = "urn:billing";
const FORM: &str = "application/x-www-form-urlencoded";
/// The methods tried on each path: the standard ones, and some extension
/// methods workerd passes through (the core must refuse them like any other).
const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "QUERY",
    "PROPFIND", "SEARCH", "REPORT",
];
/// The operation keys of an OpenAPI 3.1 path item.
const OPERATION_KEYS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

// ---------------------------------------------------------------------------
// The document and a validator for the JSON Schema subset it uses
// ---------------------------------------------------------------------------

struct Spec {
    root: Value,
}

impl Spec {
    fn load() -> Spec {
        let text = std::fs::read_to_string(SPEC_PATH).expect("read openapi.yaml");
        let root: Value = serde_yaml::from_str(&text).expect("openapi.yaml is valid YAML");
        assert_eq!(root["openapi"], "3.1.0", "openapi.yaml is OpenAPI 3.1.0");
        Spec { root }
    }

    /// The target of a local `$ref` (`#/...`).
    fn target(&self, reference: &str) -> &Value {
        let pointer = reference
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("only local references are supported: {reference}"));
        self.root
            .pointer(pointer)
            .unwrap_or_else(|| panic!("unresolved reference {reference}"))
    }

    /// Follows `$ref`s (response, header and schema objects).
    fn deref<'a>(&'a self, mut value: &'a Value) -> &'a Value {
        while let Some(reference) = value.get("$ref").and_then(Value::as_str) {
            value = self.target(reference);
        }
        value
    }

    fn paths(&self) -> &serde_json::Map<String, Value> {
        self.root["paths"].as_object().expect("paths")
    }

    /// The upper-case methods documented for `path`, in `METHODS` order.
    fn methods(&self, path: &str) -> Vec<&'static str> {
        let item = &self.paths()[path];
        METHODS
            .iter()
            .copied()
            .filter(|m| item.get(m.to_ascii_lowercase()).is_some())
            .collect()
    }

    fn operation(&self, path: &str, method: &str) -> &Value {
        self.paths()
            .get(path)
            .and_then(|item| item.get(method.to_ascii_lowercase()))
            .unwrap_or_else(|| panic!("{method} {path} is not documented"))
    }

    fn component_response(&self, name: &str) -> &Value {
        self.deref(&self.root["components"]["responses"][name])
    }

    /// Errors of `value` against `schema` (empty: valid).
    fn validate(&self, schema: &Value, value: &Value, at: &str) -> Vec<String> {
        let mut errors = Vec::new();
        self.check(schema, value, at, &mut errors);
        errors
    }

    fn is_valid(&self, schema: &Value, value: &Value) -> bool {
        self.validate(schema, value, "").is_empty()
    }

    fn check(&self, schema: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
        let keywords = match schema {
            Value::Bool(true) => return,
            Value::Bool(false) => {
                errors.push(format!("{at}: no value is allowed here"));
                return;
            }
            Value::Object(map) => map,
            other => panic!("{at}: a schema must be an object or a boolean, got {other}"),
        };
        for (keyword, arg) in keywords {
            match keyword.as_str() {
                "$ref" => self.check(
                    self.target(arg.as_str().expect("$ref is a string")),
                    value,
                    at,
                    errors,
                ),
                "type" => {
                    let types: Vec<&str> = match arg {
                        Value::String(t) => vec![t.as_str()],
                        Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
                        other => panic!("{at}: bad type {other}"),
                    };
                    if !types.iter().any(|t| has_type(value, t)) {
                        errors.push(format!("{at}: {value} is not of type {types:?}"));
                    }
                }
                "enum" => {
                    let list = arg.as_array().expect("enum is an array");
                    if !list.contains(value) {
                        errors.push(format!("{at}: {value} is not one of {arg}"));
                    }
                }
                "const" => {
                    if value != arg {
                        errors.push(format!("{at}: {value} is not {arg}"));
                    }
                }
                "properties" => {
                    if let Value::Object(object) = value {
                        for (name, sub) in arg.as_object().expect("properties is an object") {
                            if let Some(member) = object.get(name) {
                                self.check(sub, member, &format!("{at}/{name}"), errors);
                            }
                        }
                    }
                }
                "required" => {
                    if let Value::Object(object) = value {
                        for name in arg.as_array().expect("required is an array") {
                            let name = name.as_str().expect("required names are strings");
                            if !object.contains_key(name) {
                                errors.push(format!("{at}: required member {name:?} is missing"));
                            }
                        }
                    }
                }
                "additionalProperties" => {
                    if let Value::Object(object) = value {
                        let declared = keywords.get("properties").and_then(Value::as_object);
                        for (name, member) in object {
                            if declared.is_some_and(|d| d.contains_key(name)) {
                                continue;
                            }
                            if arg == &Value::Bool(false) {
                                errors.push(format!("{at}: member {name:?} is not allowed"));
                            } else {
                                self.check(arg, member, &format!("{at}/{name}"), errors);
                            }
                        }
                    }
                }
                "items" => {
                    if let Value::Array(list) = value {
                        for (i, item) in list.iter().enumerate() {
                            self.check(arg, item, &format!("{at}/{i}"), errors);
                        }
                    }
                }
                "minItems" | "maxItems" => {
                    if let Value::Array(list) = value {
                        let bound = arg.as_u64().expect("a count") as usize;
                        let ok = if keyword == "minItems" {
                            list.len() >= bound
                        } else {
                            list.len() <= bound
                        };
                        if !ok {
                            errors.push(format!(
                                "{at}: {} items violates {keyword} {bound}",
                                list.len()
                            ));
                        }
                    }
                }
                "uniqueItems" => {
                    if let (Value::Array(list), Value::Bool(true)) = (value, arg) {
                        for (i, a) in list.iter().enumerate() {
                            if list[..i].contains(a) {
                                errors.push(format!("{at}: {a} is repeated"));
                            }
                        }
                    }
                }
                "minLength" => {
                    if let Value::String(s) = value {
                        let bound = arg.as_u64().expect("a length") as usize;
                        if s.chars().count() < bound {
                            errors.push(format!("{at}: {s:?} is shorter than {bound}"));
                        }
                    }
                }
                "minimum" => {
                    if let (Some(v), Some(bound)) = (value.as_f64(), arg.as_f64()) {
                        if v < bound {
                            errors.push(format!("{at}: {v} is less than {bound}"));
                        }
                    }
                }
                "format" => match (arg.as_str(), value) {
                    (Some("uri"), Value::String(s)) => {
                        if !is_uri(s) {
                            errors.push(format!("{at}: {s:?} is not an absolute URI"));
                        }
                    }
                    (Some("uri"), _) => {}
                    (other, _) => {
                        panic!("{at}: format {other:?} is not supported by this validator")
                    }
                },
                "allOf" | "anyOf" | "oneOf" => {
                    let branches = arg.as_array().expect("a list of schemas");
                    let results: Vec<Vec<String>> = branches
                        .iter()
                        .enumerate()
                        .map(|(i, b)| self.validate(b, value, &format!("{at}({keyword}[{i}])")))
                        .collect();
                    let matched = results.iter().filter(|r| r.is_empty()).count();
                    match keyword.as_str() {
                        "allOf" => results.into_iter().for_each(|r| errors.extend(r)),
                        "anyOf" if matched == 0 => {
                            errors.push(format!("{at}: matches no anyOf branch: {results:?}"))
                        }
                        "oneOf" if matched != 1 => errors.push(format!(
                            "{at}: matches {matched} oneOf branches, not exactly one: {results:?}"
                        )),
                        _ => {}
                    }
                }
                // Annotations.
                "description" | "title" | "summary" | "examples" | "example" => {}
                other => panic!(
                    "{at}: schema keyword {other:?} is not supported by the validator in \
                     tests/openapi.rs; add it there before using it in openapi.yaml"
                ),
            }
        }
    }

    /// For a top-level `oneOf` schema, which branch `value` matches.
    fn one_of_branch(&self, schema: &Value, value: &Value) -> Option<usize> {
        let branches = self.deref(schema).get("oneOf")?.as_array()?;
        branches.iter().position(|b| self.is_valid(b, value))
    }
}

fn has_type(value: &Value, t: &str) -> bool {
    match t {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => value.is_i64() || value.is_u64(),
        other => panic!("unknown type {other:?}"),
    }
}

/// An absolute URI: a scheme (RFC 3986 §3.1), a colon, and no whitespace.
fn is_uri(s: &str) -> bool {
    let Some((scheme, rest)) = s.split_once(':') else {
        return false;
    };
    scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && !rest.is_empty()
        && !s.chars().any(char::is_whitespace)
}

// ---------------------------------------------------------------------------
// Checking a response against a documented response object
// ---------------------------------------------------------------------------

/// Problems with `response` as the documented `documented` response of a
/// `method` request.
fn response_problems(
    spec: &Spec,
    documented: &Value,
    method: &str,
    response: &HttpResponse,
) -> Vec<String> {
    let mut problems = Vec::new();
    let documented = spec.deref(documented);
    let headers = documented
        .get("headers")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (name, header) in &headers {
        let header = spec.deref(header);
        match response.get_header(name) {
            None if header["required"] == true => {
                problems.push(format!("required header {name} is missing"))
            }
            None => {}
            Some(raw) => {
                let schema = spec.deref(&header["schema"]);
                let value = if schema["type"] == "integer" {
                    match raw.trim().parse::<i64>() {
                        Ok(n) => json!(n),
                        Err(_) => {
                            problems.push(format!("header {name}: {raw:?} is not an integer"));
                            continue;
                        }
                    }
                } else {
                    json!(raw)
                };
                problems.extend(spec.validate(schema, &value, &format!("header {name}")));
            }
        }
    }
    for (name, _) in &response.headers {
        let documented_header = headers.keys().any(|h| h.eq_ignore_ascii_case(name));
        if !documented_header && !name.eq_ignore_ascii_case("content-type") {
            problems.push(format!("header {name} is sent but not documented"));
        }
    }

    let content = documented.get("content").and_then(Value::as_object);
    if method == "HEAD" {
        // A HEAD response has no body on the wire (workerd drops any).
        if content.is_some() {
            problems.push("a HEAD response must not document content".to_owned());
        }
        if response.status == 200 && !response.body.is_empty() {
            problems.push("HEAD 200 has a body".to_owned());
        }
        return problems;
    }
    match content {
        None => {
            if !response.body.is_empty() {
                problems.push(format!("undocumented body {:?}", response.body));
            }
        }
        Some(content) => {
            let media: Vec<&String> = content.keys().collect();
            if media != ["application/json"] {
                problems.push(format!("only application/json is expected, got {media:?}"));
                return problems;
            }
            if response.get_header("content-type") != Some("application/json") {
                problems.push(format!(
                    "Content-Type {:?} is not application/json",
                    response.get_header("content-type")
                ));
            }
            match serde_json::from_str::<Value>(&response.body) {
                Err(e) => problems.push(format!("body is not JSON ({e}): {:?}", response.body)),
                Ok(body) => {
                    let schema = &content["application/json"]["schema"];
                    problems.extend(spec.validate(schema, &body, "body"));
                }
            }
        }
    }
    problems
}

/// What the driven requests produced, per operation and status.
#[derive(Default)]
struct Coverage {
    /// (path, method, status) -> the `error` codes seen ("" for none).
    codes: BTreeMap<(String, String, u16), BTreeSet<String>>,
    /// (path, method, status) -> the `oneOf` branches matched.
    branches: BTreeMap<(String, String, u16), BTreeSet<usize>>,
}

struct Checker {
    spec: Spec,
    coverage: Coverage,
}

impl Checker {
    fn new() -> Self {
        Checker {
            spec: Spec::load(),
            coverage: Coverage::default(),
        }
    }

    /// Checks one driven exchange against the document and records it;
    /// panics with `label` on any mismatch. Returns the body as JSON (or null).
    #[track_caller]
    fn check(&mut self, label: &str, req: &HttpRequest, outcome: &Outcome) -> Value {
        let response = &outcome.response;
        let responses = &self.spec.operation(&req.path, &req.method)["responses"];
        let Some(documented) = responses.get(response.status.to_string()) else {
            panic!(
                "{label}: {} {} answered {}, which openapi.yaml does not document: {response:?}",
                req.method, req.path, response.status
            );
        };
        let problems = response_problems(&self.spec, documented, &req.method, response);
        assert!(
            problems.is_empty(),
            "{label}: {} {} -> {} does not match openapi.yaml:\n  {}\n{response:?}",
            req.method,
            req.path,
            response.status,
            problems.join("\n  ")
        );
        let body: Value = serde_json::from_str(&response.body).unwrap_or(Value::Null);
        let key = (req.path.clone(), req.method.clone(), response.status);
        let code = if req.method == "HEAD" {
            String::new()
        } else {
            body.get("error")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned()
        };
        self.coverage
            .codes
            .entry(key.clone())
            .or_default()
            .insert(code);
        if req.method != "HEAD" {
            let content = &self.spec.deref(documented)["content"]["application/json"]["schema"];
            if let Some(branch) = self.spec.one_of_branch(content, &body) {
                self.coverage
                    .branches
                    .entry(key)
                    .or_default()
                    .insert(branch);
            }
        }
        body
    }

    /// Every documented status, error code and `oneOf` branch was produced.
    fn assert_complete(&self) {
        let spec = &self.spec;
        let every_code = every_error_code(spec);
        let mut missing = Vec::new();
        for (path, item) in spec.paths() {
            for method in OPERATION_KEYS {
                let Some(op) = item.get(*method) else {
                    continue;
                };
                let method = method.to_ascii_uppercase();
                for (status, documented) in op["responses"].as_object().expect("responses") {
                    let status: u16 = status
                        .parse()
                        .unwrap_or_else(|_| panic!("{method} {path}: status {status:?} is not a number (no `default` or ranges)"));
                    let key = (path.clone(), method.clone(), status);
                    let Some(seen) = self.coverage.codes.get(&key) else {
                        missing.push(format!("{method} {path} {status}: never produced"));
                        continue;
                    };
                    let documented = spec.deref(documented);
                    let schema = &documented["content"]["application/json"]["schema"];
                    if status >= 400 && !schema.is_null() {
                        let allowed: BTreeSet<String> = every_code
                            .iter()
                            .filter(|code| {
                                spec.is_valid(
                                    schema,
                                    &json!({"error": code, "error_description": "x"}),
                                )
                            })
                            .cloned()
                            .collect();
                        if seen != &allowed {
                            missing.push(format!(
                                "{method} {path} {status}: documented error codes {allowed:?}, produced {seen:?}"
                            ));
                        }
                    }
                    if let Some(branches) =
                        spec.deref(schema).get("oneOf").and_then(Value::as_array)
                    {
                        let seen = self
                            .coverage
                            .branches
                            .get(&key)
                            .cloned()
                            .unwrap_or_default();
                        if seen.len() != branches.len() {
                            missing.push(format!(
                                "{method} {path} {status}: oneOf branches produced {seen:?} of {}",
                                branches.len()
                            ));
                        }
                    }
                }
            }
        }
        assert!(
            missing.is_empty(),
            "openapi.yaml documents what no driven request produced:\n  {}",
            missing.join("\n  ")
        );
    }
}

/// The `error` codes of the `OAuthError` schema.
fn every_error_code(spec: &Spec) -> Vec<String> {
    spec.root["components"]["schemas"]["OAuthError"]["properties"]["error"]["enum"]
        .as_array()
        .expect("OAuthError.error has an enum")
        .iter()
        .map(|c| c.as_str().expect("codes are strings").to_owned())
        .collect()
}

// ---------------------------------------------------------------------------
// Driving the service
// ---------------------------------------------------------------------------

fn config_from(vars: &[(&str, &str)]) -> Config {
    let mut key = [0u8; 32];
    OsRandom.fill(&mut key).unwrap();
    let keys = format!(
        r#"[{{"kid":"k1","key":"{}"}}]"#,
        URL_SAFE_NO_PAD.encode(key)
    );
    let mut map: HashMap<&str, String> =
        HashMap::from([("ISSUER", ISSUER.to_owned()), ("SIGNING_KEYS", keys)]);
    for (k, v) in vars {
        map.insert(k, (*v).to_owned());
    }
    Config::from_lookup(|name| map.get(name).cloned()).expect("valid test config")
}

/// One isolate's worth of state: configuration, store, limiter, blocklist.
struct World {
    config: Result<Config, ConfigError>,
    store: MemoryStore,
    limiter: MemoryLimiter,
    blocklist: Option<Blocklist>,
}

impl World {
    fn new() -> Self {
        Self::with_config(config_from(&[]))
    }

    fn with_config(config: Config) -> Self {
        World {
            config: Ok(config),
            store: MemoryStore::new(),
            limiter: MemoryLimiter::new(u64::MAX),
            blocklist: None,
        }
    }

    /// A Worker whose configuration failed to parse.
    fn misconfigured() -> Self {
        World {
            config: Err(ConfigError(vec!["SIGNING_KEYS is not set".to_owned()])),
            ..Self::new()
        }
    }

    /// Every failed authentication is over the limit (and, with a
    /// blocklist, blocks the caller's address).
    fn rate_limited(blocklist: bool) -> Self {
        World {
            limiter: MemoryLimiter::new(0),
            blocklist: blocklist.then(|| Blocklist::new(16)),
            ..Self::new()
        }
    }

    fn handle(&self, req: &HttpRequest) -> Outcome {
        let service = Service {
            config: self.config.as_ref(),
            store: &self.store,
            random: &OsRandom,
            cache: None,
            limiter: &self.limiter,
            blocklist: self.blocklist.as_ref(),
            timer: &ImmediateTimer,
            signer: &edge_token_core::signing::RustSigner,
            replay: None,
        };
        block_on(service.handle(req, NOW))
    }

    /// Registers a client (scopes `read write`, default `read`; audiences
    /// API and BILLING, default API), changed by `change`.
    fn client(&self, change: impl FnOnce(&mut ClientRecord)) -> Client {
        let id = generate_client_id(&OsRandom).unwrap();
        let secret = generate_client_secret(&OsRandom).unwrap();
        let mut record = ClientRecord::new(&id, "openapi test", NOW - 1_000);
        record.secrets.push(SecretEntry {
            digest: SecretHash::compute(&id, &secret),
            created_at: NOW - 1_000,
            expires_at: None,
        });
        record.allowed_scopes = vec!["read".into(), "write".into()];
        record.default_scopes = vec!["read".into()];
        record.allowed_audiences = vec![API.into(), BILLING.into()];
        record.default_audiences = vec![API.into()];
        change(&mut record);
        self.store.put(&id, record.to_json());
        Client {
            id,
            secret: secret.expose().to_owned(),
        }
    }
}

struct Client {
    id: String,
    secret: String,
}

impl Client {
    fn basic(&self) -> String {
        let raw = format!(
            "{}:{}",
            encode_component(&self.id),
            encode_component(&self.secret)
        );
        format!("Basic {}", STANDARD.encode(raw))
    }

    /// A client that does not exist.
    fn unknown() -> Client {
        Client {
            id: "etc_nobody".to_owned(),
            secret: "ets_wrong".to_owned(),
        }
    }
}

/// An HTTPS request.
fn request(method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> HttpRequest {
    HttpRequest {
        method: method.to_owned(),
        path: path.to_owned(),
        https: true,
        headers: headers
            .iter()
            .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
            .collect(),
        body: Body::Bytes(body.as_bytes().to_vec()),
    }
}

/// An HTTPS form POST, with Basic credentials if `auth` is given.
fn post(path: &str, auth: Option<&Client>, body: &str) -> HttpRequest {
    let basic = auth.map(Client::basic);
    let mut headers = vec![("Content-Type", FORM)];
    if let Some(basic) = &basic {
        headers.push(("Authorization", basic));
    }
    request("POST", path, &headers, body)
}

fn too_large(path: &str, auth: &Client) -> HttpRequest {
    HttpRequest {
        body: Body::TooLarge,
        ..post(path, Some(auth), "")
    }
}

fn with_body(path: &str, auth: &Client, body: Body) -> HttpRequest {
    HttpRequest {
        body,
        ..post(path, Some(auth), "")
    }
}

fn plain_http(mut req: HttpRequest) -> HttpRequest {
    req.https = false;
    req
}

fn from_address(mut req: HttpRequest, address: &str) -> HttpRequest {
    req.headers
        .push(("cf-connecting-ip".to_owned(), address.to_owned()));
    req
}

const GRANT: &str = "grant_type=client_credentials";

/// The method whose body rules apply to a shared (component) response: the
/// service renders the same body for HEAD, which the wire then drops.
fn body_method(method: &str) -> &str {
    if method == "HEAD" {
        "GET"
    } else {
        method
    }
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

#[test]
fn paths_and_methods_are_what_the_router_serves() {
    let spec = Spec::load();
    let router: BTreeSet<&str> = [
        routes::TOKEN,
        routes::INTROSPECT,
        routes::REVOKE,
        routes::METADATA,
        routes::JWKS,
    ]
    .into();
    let documented: BTreeSet<&str> = spec.paths().keys().map(String::as_str).collect();
    assert_eq!(
        documented, router,
        "openapi.yaml paths vs edge_token_core::routes"
    );
    for path in &router {
        assert_ne!(routes::route(path), routes::Route::NotFound, "{path}");
        for key in spec.paths()[*path].as_object().unwrap().keys() {
            assert!(
                OPERATION_KEYS.contains(&key.as_str())
                    || ["summary", "description"].contains(&key.as_str()),
                "{path}: unexpected path item member {key:?}"
            );
        }
    }

    let world = World::new();
    let client = world.client(|r| r.introspect = true);
    let not_allowed = spec.component_response("MethodNotAllowed");
    for path in router {
        let methods = spec.methods(path);
        assert!(!methods.is_empty(), "{path} documents no operation");
        for method in METHODS {
            let basic = client.basic();
            let req = request(
                method,
                path,
                &[("Content-Type", FORM), ("Authorization", &basic)],
                &format!("{GRANT}&token=x"),
            );
            let outcome = world.handle(&req);
            let status = outcome.response.status;
            if methods.contains(method) {
                assert!(
                    status != 405 && status != 404,
                    "{method} {path} is documented but answered {status}"
                );
                assert!(
                    spec.operation(path, method)["responses"]
                        .get(status.to_string())
                        .is_some(),
                    "{method} {path} answered undocumented {status}"
                );
            } else {
                assert_eq!(
                    status, 405,
                    "{method} {path} is not documented but answered {status}"
                );
                // Shared responses document the body; for HEAD the wire drops it.
                let problems =
                    response_problems(&spec, not_allowed, body_method(method), &outcome.response);
                assert!(problems.is_empty(), "{method} {path}: {problems:?}");
                assert_eq!(
                    outcome.response.get_header("allow"),
                    Some(methods.join(", ").as_str()),
                    "{method} {path}: Allow must list the documented methods"
                );
                if *method != "HEAD" {
                    let body: Value = serde_json::from_str(&outcome.response.body).unwrap();
                    assert!(
                        spec.is_valid(&not_allowed["content"]["application/json"]["schema"], &body)
                    );
                }
            }
        }
    }
}

#[test]
fn other_paths_get_the_documented_404() {
    let spec = Spec::load();
    let not_found = spec.component_response("NotFound");
    let world = World::new();
    for path in [
        "/",
        "/oauth2",
        "/oauth2/token/",
        "/oauth2/authorize",
        "/.well-known/openid-configuration",
        "/OAUTH2/TOKEN",
    ] {
        assert!(spec.paths().get(path).is_none());
        for method in METHODS {
            let req = post(path, None, GRANT);
            let req = HttpRequest {
                method: (*method).to_owned(),
                ..req
            };
            let outcome = world.handle(&req);
            assert_eq!(outcome.response.status, 404, "{method} {path}");
            let problems =
                response_problems(&spec, not_found, body_method(method), &outcome.response);
            assert!(problems.is_empty(), "{method} {path}: {problems:?}");
        }
    }
}

#[test]
fn every_response_matches_the_document_and_every_documented_response_occurs() {
    let mut c = Checker::new();
    let (token, introspect, revoke, metadata) = (
        routes::TOKEN,
        routes::INTROSPECT,
        routes::REVOKE,
        routes::METADATA,
    );

    // --- token ---------------------------------------------------------
    let world = World::new();
    let client = world.client(|_| {});
    let no_default_scope = world.client(|r| r.default_scopes.clear());

    let req = post(token, Some(&client), GRANT);
    let body = c.check("basic, default scope", &req, &world.handle(&req));
    assert_eq!(body["scope"], "read");
    let req = post(
        token,
        None,
        &format!(
            "{GRANT}&client_id={}&client_secret={}",
            encode_component(&no_default_scope.id),
            encode_component(&no_default_scope.secret)
        ),
    );
    let body = c.check("post, no scope", &req, &world.handle(&req));
    assert!(body.get("scope").is_none(), "{body}");
    let req = post(
        token,
        Some(&client),
        &format!(
            "{GRANT}&scope=read+write&resource={}&resource={}&audience={}&token_type_hint=ignored&unknown=1",
            encode_component(API),
            encode_component(BILLING),
            encode_component(API)
        ),
    );
    c.check("scope, resources, audience", &req, &world.handle(&req));

    // Bounds are counted before repeats are removed.
    let too_many_scopes = vec!["read"; 65].join("+");
    let seventeen_resources = format!("&resource={}", encode_component(API)).repeat(17);
    for (label, extra, error) in [
        (
            "more than 64 scopes",
            format!("&scope={too_many_scopes}"),
            "invalid_scope",
        ),
        (
            "17 repeats of one resource",
            seventeen_resources,
            "invalid_target",
        ),
    ] {
        let req = post(token, Some(&client), &format!("{GRANT}{extra}"));
        let body = c.check(label, &req, &world.handle(&req));
        assert_eq!(body["error"], error, "{label}");
    }

    for (label, req) in [
        ("no grant_type", post(token, Some(&client), "scope=read")),
        (
            "password grant",
            post(token, Some(&client), "grant_type=password"),
        ),
        (
            "scope not allowed",
            post(token, Some(&client), &format!("{GRANT}&scope=admin")),
        ),
        (
            "malformed scope",
            post(token, Some(&client), &format!("{GRANT}&scope=%22")),
        ),
        (
            "audience not allowed",
            post(token, Some(&client), &format!("{GRANT}&audience=urn:other")),
        ),
        (
            "resource not a URI",
            post(token, Some(&client), &format!("{GRANT}&resource=relative")),
        ),
        ("plain HTTP", plain_http(post(token, Some(&client), GRANT))),
        (
            "JSON body",
            request(
                "POST",
                token,
                &[
                    ("Content-Type", "application/json"),
                    ("Authorization", &client.basic()),
                ],
                "{}",
            ),
        ),
        (
            "malformed form",
            post(token, Some(&client), "grant_type=%zz"),
        ),
        (
            "repeated scope",
            post(
                token,
                Some(&client),
                &format!("{GRANT}&scope=read&scope=read"),
            ),
        ),
        (
            "Basic and client_secret",
            post(token, Some(&client), &format!("{GRANT}&client_secret=x")),
        ),
        ("no credentials", post(token, None, GRANT)),
        (
            "unknown client",
            post(token, Some(&Client::unknown()), GRANT),
        ),
        ("body too large", too_large(token, &client)),
        ("body timed out", with_body(token, &client, Body::TimedOut)),
        (
            "body unreadable",
            with_body(token, &client, Body::Unreadable),
        ),
    ] {
        c.check(label, &req, &world.handle(&req));
    }

    // --- introspect ----------------------------------------------------
    let gateway = world.client(|r| {
        r.introspect = true;
        r.extra_claims.insert("tenant".to_owned(), json!("acme"));
        r.extra_claims.insert("tier".to_owned(), json!(3));
    });
    let issue = |c: &mut Checker, who: &Client, extra: &str| -> String {
        let req = post(token, Some(who), &format!("{GRANT}{extra}"));
        let body = c.check("issue", &req, &world.handle(&req));
        body["access_token"].as_str().unwrap().to_owned()
    };
    let many_aud = issue(
        &mut c,
        &gateway,
        &format!(
            "&resource={}&resource={}",
            encode_component(API),
            encode_component(BILLING)
        ),
    );
    let one_aud = issue(&mut c, &client, "&scope=write");
    for (label, t) in [
        ("active, two audiences", &many_aud),
        ("active, one audience", &one_aud),
    ] {
        let req = post(
            introspect,
            Some(&gateway),
            &format!("token={t}&token_type_hint=access_token"),
        );
        let body = c.check(label, &req, &world.handle(&req));
        assert_eq!(body["active"], true, "{label}: {body}");
    }
    let req = post(introspect, Some(&gateway), "token=garbage");
    let garbage = world.handle(&req);
    let body = c.check("inactive garbage", &req, &garbage);
    assert_eq!(body, json!({"active": false}));
    // A caller bound to introspection audiences: a token for none of them
    // is inactive to it, byte for byte.
    let billing_only = world.client(|r| {
        r.introspect = true;
        r.introspect_audiences = vec![BILLING.into()];
    });
    let req = post(introspect, Some(&billing_only), &format!("token={one_aud}"));
    let out = world.handle(&req);
    c.check(
        "token outside the caller's introspection audiences",
        &req,
        &out,
    );
    assert_eq!(out.response, garbage.response);
    let req = post(
        introspect,
        Some(&billing_only),
        &format!("token={many_aud}"),
    );
    let body = c.check(
        "token within the caller's introspection audiences",
        &req,
        &world.handle(&req),
    );
    assert_eq!(body["active"], true, "{body}");
    for (label, req) in [
        ("no token", post(introspect, Some(&gateway), "")),
        (
            "plain HTTP",
            plain_http(post(introspect, Some(&gateway), "token=x")),
        ),
        (
            "Basic and client_secret",
            post(introspect, Some(&gateway), "token=x&client_secret=y"),
        ),
        ("no credentials", post(introspect, None, "token=x")),
        (
            "unknown client",
            post(introspect, Some(&Client::unknown()), "token=x"),
        ),
        (
            "no introspect permission",
            post(introspect, Some(&client), "token=x"),
        ),
        ("body too large", too_large(introspect, &gateway)),
        (
            "body timed out",
            with_body(introspect, &gateway, Body::TimedOut),
        ),
        (
            "body unreadable",
            with_body(introspect, &gateway, Body::Unreadable),
        ),
    ] {
        c.check(label, &req, &world.handle(&req));
    }

    // --- revoke --------------------------------------------------------
    let victim = issue(&mut c, &client, "");
    let req = post(revoke, Some(&gateway), &format!("token={victim}"));
    let body = c.check("revoke another client's token", &req, &world.handle(&req));
    assert_eq!(body["error"], "unauthorized_client");
    let req = post(
        revoke,
        Some(&client),
        &format!("token={victim}&token_type_hint=access_token"),
    );
    let body = c.check("revoke own token", &req, &world.handle(&req));
    assert_eq!(body, json!({}));
    // Again: read, nothing written.
    let writes = world.store.writes();
    let req = post(revoke, Some(&client), &format!("token={victim}"));
    let out = world.handle(&req);
    c.check("revoke an already revoked token", &req, &out);
    assert_eq!(
        (out.response.status, out.audit.outcome.as_str()),
        (200, "noop")
    );
    assert_eq!(world.store.writes(), writes);
    let req = post(introspect, Some(&gateway), &format!("token={victim}"));
    let body = c.check("inactive revoked", &req, &world.handle(&req));
    assert_eq!(body, json!({"active": false}));
    for (label, req) in [
        (
            "revoke garbage",
            post(revoke, Some(&client), "token=garbage"),
        ),
        ("no token", post(revoke, Some(&client), "")),
        (
            "plain HTTP",
            plain_http(post(revoke, Some(&client), "token=x")),
        ),
        (
            "repeated token",
            post(revoke, Some(&client), "token=x&token=y"),
        ),
        ("no credentials", post(revoke, None, "token=x")),
        (
            "unknown client",
            post(revoke, Some(&Client::unknown()), "token=x"),
        ),
        ("body too large", too_large(revoke, &client)),
        ("body timed out", with_body(revoke, &client, Body::TimedOut)),
        (
            "body unreadable",
            with_body(revoke, &client, Body::Unreadable),
        ),
    ] {
        c.check(label, &req, &world.handle(&req));
    }

    // --- metadata ------------------------------------------------------
    for method in ["GET", "HEAD"] {
        let req = request(method, metadata, &[], "");
        let outcome = world.handle(&req);
        let body = c.check("metadata", &req, &outcome);
        if method == "GET" {
            assert!(body.get("scopes_supported").is_none(), "{body}");
            assert_eq!(body["token_endpoint"], format!("{ISSUER}{token}"));
            assert_eq!(
                body["introspection_endpoint"],
                format!("{ISSUER}{introspect}")
            );
            assert_eq!(body["revocation_endpoint"], format!("{ISSUER}{revoke}"));
            assert_eq!(body["jwks_uri"], format!("{ISSUER}{}", routes::JWKS));
        }
    }

    // --- JWKS: HS256 only (empty), and with asymmetric keys ----------------
    for method in ["GET", "HEAD"] {
        let req = request(method, routes::JWKS, &[], "");
        let body = c.check("jwks, HS256 only", &req, &world.handle(&req));
        if method == "GET" {
            assert_eq!(body, json!({"keys": []}));
        }
    }
    let asymmetric = World::with_config(config_from(&[(
        "SIGNING_KEYS",
        edge_token_testkit::ASYMMETRIC_SIGNING_KEYS,
    )]));
    let req = request("GET", routes::JWKS, &[], "");
    let body = c.check("jwks, ES256 and EdDSA", &req, &asymmetric.handle(&req));
    assert_eq!(body["keys"].as_array().map(Vec::len), Some(2), "{body}");
    let with_scopes = World::with_config(config_from(&[("SCOPES_SUPPORTED", "read write")]));
    let req = request("GET", metadata, &[], "");
    let body = c.check("metadata with scopes", &req, &with_scopes.handle(&req));
    assert_eq!(body["scopes_supported"], json!(["read", "write"]));

    // --- faults: configuration, records, store, rate limits --------------
    let broken = World::misconfigured();
    let anyone = broken.client(|r| r.introspect = true);
    for (label, req) in [
        ("token", post(token, Some(&anyone), GRANT)),
        ("introspect", post(introspect, Some(&anyone), "token=x")),
        ("revoke", post(revoke, Some(&anyone), "token=x")),
        ("metadata", request("GET", metadata, &[], "")),
        ("metadata", request("HEAD", metadata, &[], "")),
        ("jwks", request("GET", routes::JWKS, &[], "")),
        ("jwks", request("HEAD", routes::JWKS, &[], "")),
    ] {
        c.check(&format!("bad config: {label}"), &req, &broken.handle(&req));
    }

    let corrupt = World::new();
    let victim = corrupt.client(|r| r.introspect = true);
    corrupt.store.put(&victim.id, "{not json".to_owned());
    let oversized = corrupt.client(|r| {
        r.introspect = true;
        r.allowed_scopes = (0..65).map(|i| format!("s{i}")).collect();
        r.default_scopes.clear();
    });
    for path in [token, introspect, revoke] {
        let req = post(path, Some(&victim), &format!("{GRANT}&token=x"));
        c.check("corrupt record", &req, &corrupt.handle(&req));
        let req = post(path, Some(&oversized), &format!("{GRANT}&token=x"));
        let out = corrupt.handle(&req);
        c.check("record beyond the bounds", &req, &out);
        assert_eq!(out.response.status, 500);
    }

    for hanging in [false, true] {
        let down = World::new();
        let caller = down.client(|r| r.introspect = true);
        if hanging {
            down.store.set_hanging(true);
        } else {
            down.store.set_unavailable(true);
        }
        for path in [token, introspect, revoke] {
            let req = post(path, Some(&caller), &format!("{GRANT}&token=x"));
            let label = if hanging { "store hangs" } else { "store down" };
            c.check(label, &req, &down.handle(&req));
        }
    }

    for path in [token, introspect, revoke] {
        // Over the limit for the client id.
        let limited = World::rate_limited(false);
        let real = limited.client(|r| r.introspect = true);
        let wrong = Client {
            id: real.id.clone(),
            secret: "ets_wrong".to_owned(),
        };
        let body = format!("{GRANT}&token=x");
        let req = post(path, Some(&wrong), &body);
        let out = limited.handle(&req);
        c.check("client id over its limit", &req, &out);
        assert_eq!(out.response.status, 429);
        assert_eq!(out.response.get_header("retry-after"), Some("60"));
        // The holder of the real secret still gets through.
        let req = post(path, Some(&real), &body);
        let out = limited.handle(&req);
        c.check("real secret despite the limit", &req, &out);
        assert_eq!(out.response.status, 200, "{:?}", out.response);

        // Over the limit for the address: further failures from it get
        // 429; valid credentials from it are still served (shared NAT).
        let blocking = World::rate_limited(true);
        let real = blocking.client(|r| r.introspect = true);
        let req = from_address(post(path, Some(&Client::unknown()), &body), "192.0.2.7");
        c.check("address over its limit", &req, &blocking.handle(&req));
        let wrong = Client {
            id: real.id.clone(),
            secret: "ets_wrong".to_owned(),
        };
        let req = from_address(post(path, Some(&wrong), &body), "192.0.2.7");
        let out = blocking.handle(&req);
        c.check("failure from a blocked address", &req, &out);
        assert_eq!(out.response.status, 429);
        let req = from_address(post(path, Some(&real), &body), "192.0.2.7");
        let out = blocking.handle(&req);
        c.check("valid credentials from a blocked address", &req, &out);
        assert_eq!(out.response.status, 200, "{:?}", out.response);
    }

    // Over the per-client revocation limit: 429, nothing written.
    let limited = World::rate_limited(false);
    let owner = limited.client(|_| {});
    let req = post(token, Some(&owner), GRANT);
    let body = c.check("issue (revocation limit)", &req, &limited.handle(&req));
    let issued = body["access_token"].as_str().unwrap().to_owned();
    let req = post(revoke, Some(&owner), &format!("token={issued}"));
    let out = limited.handle(&req);
    let body = c.check("revocation over the client's limit", &req, &out);
    assert_eq!(out.response.status, 429, "{:?}", out.response);
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(out.response.get_header("retry-after"), Some("60"));
    assert_eq!(limited.store.writes(), 0);
    assert_eq!(limited.limiter.count(LimitKind::Revocation, &owner.id), 1);

    // A failed denylist write that a re-read shows landed (a concurrent
    // revocation of the same token): 200.
    let racing = World::new();
    let owner = racing.client(|_| {});
    let req = post(token, Some(&owner), GRANT);
    let body = c.check("issue (write conflict)", &req, &racing.handle(&req));
    let issued = body["access_token"].as_str().unwrap().to_owned();
    racing.store.set_write_conflicts(1);
    let req = post(revoke, Some(&owner), &format!("token={issued}"));
    let out = racing.handle(&req);
    c.check("revocation whose write lost a race", &req, &out);
    assert_eq!(out.response.status, 200, "{:?}", out.response);

    c.assert_complete();
}

/// The names of the form parameters the service reads (every field of
/// `Params`: the destructuring stops compiling when one is added).
fn params_read() -> BTreeSet<&'static str> {
    let Params {
        grant_type: _,
        scope: _,
        client_id: _,
        client_secret: _,
        client_assertion: _,
        client_assertion_type: _,
        resource: _,
        audience: _,
        token: _,
        token_type_hint: _,
    } = Params::default();
    [
        "grant_type",
        "scope",
        "client_id",
        "client_secret",
        "client_assertion",
        "client_assertion_type",
        "resource",
        "audience",
        "token",
        "token_type_hint",
    ]
    .into()
}

#[test]
fn documented_form_parameters_are_the_ones_the_service_reads() {
    let spec = Spec::load();
    let mut documented = BTreeSet::new();
    for path in [routes::TOKEN, routes::INTROSPECT, routes::REVOKE] {
        let body = &spec.operation(path, "POST")["requestBody"];
        assert_eq!(body["required"], true, "{path}: the body is required");
        let content = body["content"].as_object().unwrap();
        assert_eq!(
            content.keys().collect::<Vec<_>>(),
            [FORM],
            "{path}: only form bodies"
        );
        let media = &content[FORM];
        let schema = spec.deref(&media["schema"]);
        assert_ne!(
            schema.get("additionalProperties"),
            Some(&Value::Bool(false)),
            "{path}: unknown parameters are ignored (RFC 6749 §3.2), not refused"
        );
        for (name, property) in schema["properties"].as_object().unwrap() {
            documented.insert(name.clone());
            let property = spec.deref(property);
            // Repeatable exactly when documented as an array.
            let pairs = vec![
                (name.clone(), "a".to_owned()),
                (name.clone(), "b".to_owned()),
            ];
            let parsed = Params::from_pairs(&pairs);
            if property["type"] == "array" {
                assert_eq!(
                    media["encoding"][name]["explode"], true,
                    "{path}: {name} is sent as repeated parameters"
                );
                let params = parsed.unwrap_or_else(|e| panic!("{name} may repeat: {e:?}"));
                assert_eq!(params.resource.len(), 2, "{name}");
            } else {
                assert_eq!(property["type"], "string", "{path}: {name}");
                match parsed {
                    Err(OAuthError::InvalidRequest(d)) => {
                        assert!(d.starts_with(name.as_str()), "{name}: {d}")
                    }
                    other => panic!("{name} given twice must be refused: {other:?}"),
                }
            }
        }
        for name in schema["required"].as_array().unwrap() {
            assert!(schema["properties"].get(name.as_str().unwrap()).is_some());
        }
        // Every example is valid against the schema.
        for (example, value) in media["examples"].as_object().into_iter().flatten() {
            let errors = spec.validate(schema, &value["value"], example);
            assert!(errors.is_empty(), "{path} example {example}: {errors:?}");
        }
    }
    let documented: BTreeSet<&str> = documented.iter().map(String::as_str).collect();
    assert_eq!(documented, params_read());
}

#[test]
fn documented_error_codes_are_oauth_errors() {
    let spec = Spec::load();
    let every = [
        OAuthError::InvalidRequest("x"),
        OAuthError::InvalidClient,
        OAuthError::UnauthorizedClient("x"),
        OAuthError::UnsupportedGrantType,
        OAuthError::InvalidScope("x"),
        OAuthError::InvalidTarget("x"),
        OAuthError::ServerError,
        OAuthError::TemporarilyUnavailable,
        OAuthError::RateLimited { retry_after: 1 },
    ];
    // Exhaustive: a new variant stops this compiling until it is listed above.
    for e in &every {
        match e {
            OAuthError::InvalidRequest(_)
            | OAuthError::InvalidClient
            | OAuthError::UnauthorizedClient(_)
            | OAuthError::UnsupportedGrantType
            | OAuthError::InvalidScope(_)
            | OAuthError::InvalidTarget(_)
            | OAuthError::ServerError
            | OAuthError::TemporarilyUnavailable
            | OAuthError::RateLimited { .. } => {}
        }
    }
    let codes: BTreeSet<String> = every.iter().map(|e| e.code().to_owned()).collect();
    let documented: BTreeSet<String> = every_error_code(&spec).into_iter().collect();
    assert_eq!(documented, codes);
    // Each rendered error is a valid OAuthError body with its documented headers.
    let schema = &spec.root["components"]["schemas"]["OAuthError"];
    for e in every {
        let r = e.render();
        let body: Value = serde_json::from_str(&r.body).unwrap();
        assert!(spec.is_valid(schema, &body), "{e:?}: {body}");
    }
}

#[test]
fn the_validator_rejects_what_it_should() {
    let spec = Spec::load();
    let schema = |name: &str| spec.root["components"]["schemas"][name].clone();
    let token = schema("TokenResponse");
    let good = json!({"access_token": "a.b.c", "token_type": "Bearer", "expires_in": 300});
    assert!(spec.is_valid(&token, &good));
    for bad in [
        json!({"access_token": "a.b.c", "token_type": "Bearer", "expires_in": 300, "extra": 1}),
        json!({"access_token": "a.b.c", "token_type": "Bearer"}),
        json!({"access_token": "a.b.c", "token_type": "bearer", "expires_in": 300}),
        json!({"access_token": "a.b.c", "token_type": "Bearer", "expires_in": 1.5}),
        json!({"access_token": "a.b.c", "token_type": "Bearer", "expires_in": 0}),
        json!({"access_token": "", "token_type": "Bearer", "expires_in": 300}),
        json!({"access_token": "a.b.c", "token_type": "Bearer", "expires_in": 300, "scope": ""}),
        json!([good]),
    ] {
        assert!(!spec.is_valid(&token, &bad), "{bad}");
    }
    let introspection = schema("IntrospectionResponse");
    assert!(spec.is_valid(&introspection, &json!({"active": false})));
    for bad in [
        json!({"active": false, "scope": "read"}),
        json!({"active": true}),
        json!({"active": true, "client_id": "c", "token_type": "Bearer", "exp": 2, "iat": 1,
               "sub": "c", "aud": [], "iss": "https://a", "jti": "j"}),
    ] {
        assert!(!spec.is_valid(&introspection, &bad), "{bad}");
    }
    assert!(!spec.is_valid(&schema("RevocationResponse"), &json!({"x": 1})));
    let error = schema("InvalidClientError");
    assert!(spec.is_valid(
        &error,
        &json!({"error": "invalid_client", "error_description": "d"})
    ));
    assert!(!spec.is_valid(
        &error,
        &json!({"error": "invalid_request", "error_description": "d"})
    ));
    assert!(!spec.is_valid(&error, &json!({"error": "invalid_client"})));
    let metadata = schema("AuthorizationServerMetadata");
    assert!(!spec.is_valid(&metadata, &json!({"issuer": "not a uri"})));
    let methods = schema("AuthMethods");
    assert!(!spec.is_valid(
        &methods,
        &json!(["client_secret_basic", "client_secret_basic"])
    ));
    // A `oneOf` matched by both branches is invalid.
    let both = json!({"oneOf": [{"type": "object"}, {"required": []}]});
    assert!(!spec.is_valid(&both, &json!({})));
}
