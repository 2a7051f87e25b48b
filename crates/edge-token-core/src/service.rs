//! The whole application: `HttpRequest` in, `HttpResponse` (and one audit
//! record) out. Infallible: every failure becomes an RFC 6749 §5.2 error.
//!
//! Endpoints: token ([RFC 6749 §4.4]), introspection ([RFC 7662]),
//! revocation ([RFC 7009]) and server metadata ([RFC 8414]).
//!
//! [RFC 6749 §4.4]: https://www.rfc-editor.org/rfc/rfc6749#section-4.4
//! [RFC 7662]: https://www.rfc-editor.org/rfc/rfc7662
//! [RFC 7009]: https://www.rfc-editor.org/rfc/rfc7009
//! [RFC 8414]: https://www.rfc-editor.org/rfc/rfc8414

use std::rc::Rc;

use crate::assertion::{
    replay_key, signature_len_ok, Assertion, AssertionError, CheckSignature, ReplayCache,
    JWT_BEARER,
};
use crate::audit::{AuditRecord, Verdict};
use crate::cache::{Cached, RecordCache};
use crate::client::{authenticate, is_extra_claim_name, ClientRecord};
use crate::config::{Config, ConfigError};
use crate::credentials::{self, Credentials};
use crate::error::OAuthError;
use crate::form;
use crate::http::{Body, HttpRequest, HttpResponse};
use crate::limit::{address_key, limit_key, Blocklist, LimitKind, Limiter};
use crate::metadata;
use crate::random::Random;
use crate::routes::{route, Route};
use crate::scope::{grant_audiences, grant_scopes};
use crate::signing::Sign;
use crate::store::{ClientStore, StoreError};
use crate::timer::{with_timeout, Timer};
use crate::token::{self, AccessTokenClaims, Audience, VerifyError};
use edge_token_verify::json;
use edge_token_verify::validation::{check_claims, Invalid, Validation};

/// The shortest expiration Workers KV accepts for a key, in seconds from now.
pub const MIN_KV_EXPIRATION_SECS: u64 = 60;
pub use edge_token_verify::revocation::REVOCATION_MARGIN_SECS;

/// How long revocation waits before it writes again after KV refused a
/// write as too many: past KV's one write per key per second.
pub const KV_WRITE_RETRY_MS: u64 = 1_100;

/// The response to send and the line to log.
#[derive(Debug)]
pub struct Outcome {
    /// What goes on the wire.
    pub response: HttpResponse,
    /// What goes in the log.
    pub audit: AuditRecord,
}

/// What the service needs: configuration (or why there is none), the
/// client store, a random source, a failure limiter and a timer.
pub struct Service<'a, S, R, L, T, G> {
    /// Parsed once per isolate; an error makes every endpoint but 404 a 500.
    pub config: Result<&'a Config, &'a ConfigError>,
    /// Client records and the revocation denylist.
    pub store: &'a S,
    /// Randomness for `jti`.
    pub random: &'a R,
    /// Per-isolate cache of client records (`None`: every lookup reads the store).
    pub cache: Option<&'a RecordCache>,
    /// Counts failed client authentications and revocations (a limiter that
    /// always says "within" turns rate limiting off).
    pub limiter: &'a L,
    /// Addresses over their failure limit, remembered per isolate (`None`:
    /// not remembered; the limiter is asked on every failure).
    pub blocklist: Option<&'a Blocklist>,
    /// Bounds every store and limiter call to `STORE_TIMEOUT_MS`.
    pub timer: &'a T,
    /// Makes ES256 and EdDSA signatures (HS256 is signed in the core) and
    /// checks the signatures of client assertions (`private_key_jwt`).
    pub signer: &'a G,
    /// Client assertions used at this isolate (`None`: only the store
    /// remembers them).
    pub replay: Option<&'a ReplayCache>,
}

/// The form parameters any endpoint reads
/// ([RFC 6749 §4.4.2](https://www.rfc-editor.org/rfc/rfc6749#section-4.4.2),
/// [RFC 7662 §2.1](https://www.rfc-editor.org/rfc/rfc7662#section-2.1),
/// [RFC 7009 §2.1](https://www.rfc-editor.org/rfc/rfc7009#section-2.1)).
/// Its `Debug` redacts `client_secret` and `token`.
#[derive(Default)]
pub struct Params<'a> {
    /// `grant_type`.
    pub grant_type: Option<&'a str>,
    /// `scope`.
    pub scope: Option<&'a str>,
    /// `client_id` (for `client_secret_post`).
    pub client_id: Option<&'a str>,
    /// `client_secret` (for `client_secret_post`).
    pub client_secret: Option<&'a str>,
    /// `client_assertion` (for `private_key_jwt`, RFC 7521 §4.2).
    pub client_assertion: Option<&'a str>,
    /// `client_assertion_type`.
    pub client_assertion_type: Option<&'a str>,
    /// Every `resource` (RFC 8707).
    pub resource: Vec<&'a str>,
    /// `audience` (space-delimited).
    pub audience: Option<&'a str>,
    /// `token` (introspection, revocation).
    pub token: Option<&'a str>,
    /// `token_type_hint` (accepted and ignored: there is one token type).
    pub token_type_hint: Option<&'a str>,
}

impl std::fmt::Debug for Params<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let redacted = |v: Option<&str>| v.map(|_| crate::http::REDACTED);
        f.debug_struct("Params")
            .field("grant_type", &self.grant_type)
            .field("scope", &self.scope)
            .field("client_id", &self.client_id.map(loggable_client_id))
            .field("client_secret", &redacted(self.client_secret))
            .field("client_assertion", &redacted(self.client_assertion))
            .field("client_assertion_type", &self.client_assertion_type)
            .field("resource", &self.resource)
            .field("audience", &self.audience)
            .field("token", &redacted(self.token))
            .field("token_type_hint", &self.token_type_hint)
            .finish()
    }
}

impl<'a> Params<'a> {
    /// Collects the known parameters; a single-valued one given twice is
    /// `invalid_request`, unknown ones are ignored (RFC 6749 §3.2).
    pub fn from_pairs(pairs: &'a [(String, String)]) -> Result<Self, OAuthError> {
        let mut p = Params::default();
        for (name, value) in pairs {
            let (slot, duplicate) = match name.as_str() {
                "grant_type" => (&mut p.grant_type, "grant_type given more than once"),
                "scope" => (&mut p.scope, "scope given more than once"),
                "client_id" => (&mut p.client_id, "client_id given more than once"),
                "client_secret" => (&mut p.client_secret, "client_secret given more than once"),
                "client_assertion" => (
                    &mut p.client_assertion,
                    "client_assertion given more than once",
                ),
                "client_assertion_type" => (
                    &mut p.client_assertion_type,
                    "client_assertion_type given more than once",
                ),
                "audience" => (&mut p.audience, "audience given more than once"),
                "token" => (&mut p.token, "token given more than once"),
                "token_type_hint" => (
                    &mut p.token_type_hint,
                    "token_type_hint given more than once",
                ),
                "resource" => {
                    p.resource.push(value);
                    continue;
                }
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(OAuthError::InvalidRequest(duplicate));
            }
        }
        Ok(p)
    }
}

/// Decoded form parameters, in arrival order.
type FormPairs = Vec<(String, String)>;

/// The RFC 6749 §5.1 success body (no `Debug`: it holds the token).
#[cfg_attr(test, derive(serde::Serialize))]
struct TokenResponse<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: u64,
    #[cfg_attr(test, serde(skip_serializing_if = "str::is_empty"))]
    scope: &'a str,
}

impl TokenResponse<'_> {
    /// The body, written by hand (see [`json`]; the same bytes as its
    /// `Serialize` in the tests).
    fn to_json(&self) -> String {
        let mut out = String::with_capacity(64 + self.access_token.len() + self.scope.len());
        let mut map = json::Object::new(&mut out);
        map.str("access_token", self.access_token)
            .str("token_type", self.token_type)
            .u64("expires_in", self.expires_in);
        if !self.scope.is_empty() {
            map.str("scope", self.scope);
        }
        map.end();
        out
    }
}

/// The RFC 7662 §2.2 answer for an active token: the token's claims plus
/// `active` and `token_type`. Extra claims never shadow these fields.
struct ActiveIntrospection<'a>(&'a AccessTokenClaims);

impl ActiveIntrospection<'_> {
    /// The answer, written by hand (see [`json`]; the same bytes as its
    /// `Serialize` in the tests).
    fn to_json(&self) -> String {
        let c = self.0;
        let mut out = String::with_capacity(256);
        let mut map = json::Object::new(&mut out);
        map.bool("active", true);
        if !c.scope.is_empty() {
            map.str("scope", &c.scope);
        }
        map.str("client_id", &c.client_id)
            .str("token_type", "Bearer")
            .u64("exp", c.exp)
            .u64("iat", c.iat)
            .str("sub", &c.sub)
            .audience("aud", &c.aud)
            .str("iss", &c.iss)
            .str("jti", &c.jti);
        for (name, value) in &c.extra {
            if is_extra_claim_name(name) || name == "nbf" {
                map.value(name, value);
            }
        }
        map.end();
        out
    }
}

#[cfg(test)]
impl serde::Serialize for ActiveIntrospection<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let c = self.0;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("active", &true)?;
        if !c.scope.is_empty() {
            map.serialize_entry("scope", &c.scope)?;
        }
        map.serialize_entry("client_id", &c.client_id)?;
        map.serialize_entry("token_type", "Bearer")?;
        map.serialize_entry("exp", &c.exp)?;
        map.serialize_entry("iat", &c.iat)?;
        map.serialize_entry("sub", &c.sub)?;
        map.serialize_entry("aud", &c.aud)?;
        map.serialize_entry("iss", &c.iss)?;
        map.serialize_entry("jti", &c.jti)?;
        for (name, value) in &c.extra {
            if is_extra_claim_name(name) || name == "nbf" {
                map.serialize_entry(name, value)?;
            }
        }
        map.end()
    }
}

/// Whether a `Content-Type` value is `application/x-www-form-urlencoded`
/// (parameters such as `charset` allowed).
fn is_form_content_type(value: Option<&str>) -> bool {
    value
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| {
            media
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

/// A cacheable public JSON document (metadata, JWKS); empty for HEAD.
fn public_document(req: &HttpRequest, body: String, max_age: u64) -> HttpResponse {
    HttpResponse {
        status: 200,
        headers: vec![
            ("Content-Type", "application/json".to_owned()),
            ("Cache-Control", format!("public, max-age={max_age}")),
        ],
        body: if req.method == "HEAD" {
            String::new()
        } else {
            body
        },
    }
}

impl<S: ClientStore, R: Random, L: Limiter, T: Timer, G: Sign + CheckSignature>
    Service<'_, S, R, L, T, G>
{
    /// Answers one request at time `now` (Unix seconds).
    pub async fn handle(&self, req: &HttpRequest, now: u64) -> Outcome {
        let route = route(&req.path);
        let mut audit = AuditRecord {
            event: route.event(),
            ..AuditRecord::default()
        };
        let result = match route {
            Route::Token => self.token(req, now, &mut audit).await,
            Route::Introspect => self.introspect(req, now, &mut audit).await,
            Route::Revoke => self.revoke(req, now, &mut audit).await,
            Route::Metadata => self.metadata(req),
            Route::Jwks => self.jwks(req),
            Route::NotFound => Err(Failure::status(
                OAuthError::InvalidRequest("unknown endpoint"),
                404,
            )),
        };
        let response = result.unwrap_or_else(|failure| failure.render(&mut audit));
        audit.status = response.status;
        // An endpoint's own verdict stands for a 200 it produced; any other
        // status (and a plain 200) says what it is.
        if audit.outcome == Verdict::Ok || response.status != 200 {
            audit.outcome = Verdict::from_status(response.status);
        }
        Outcome { response, audit }
    }

    /// The common front of every POST endpoint: method, configuration,
    /// HTTPS, body size, media type and form parsing.
    fn read_form(&self, req: &HttpRequest) -> Result<(&Config, FormPairs), Failure> {
        if req.method != "POST" {
            return Err(Failure::method_not_allowed("POST"));
        }
        let config = self.config()?;
        if config.require_https && !req.https {
            return Err(OAuthError::InvalidRequest("HTTPS is required").into());
        }
        let body = match &req.body {
            Body::Bytes(bytes) => bytes,
            Body::TooLarge => {
                return Err(Failure::status(
                    OAuthError::InvalidRequest("request body too large"),
                    413,
                ))
            }
            Body::TimedOut => {
                return Err(Failure::status(
                    OAuthError::InvalidRequest("request body not received in time"),
                    408,
                ))
            }
            Body::Unreadable => {
                return Err(OAuthError::InvalidRequest("request body could not be read").into())
            }
        };
        if !is_form_content_type(req.header("content-type")) {
            return Err(OAuthError::InvalidRequest(
                "Content-Type must be application/x-www-form-urlencoded",
            )
            .into());
        }
        let pairs =
            form::parse(body).map_err(|_| OAuthError::InvalidRequest("malformed form body"))?;
        Ok((config, pairs))
    }

    /// Client authentication for any POST endpoint: a secret (RFC 6749
    /// §2.3.1) or a client assertion (`private_key_jwt`, RFC 7523 §2.2),
    /// exactly one method per request.
    async fn authenticate_caller(
        &self,
        req: &HttpRequest,
        config: &Config,
        params: &Params<'_>,
        now: u64,
        audit: &mut AuditRecord,
    ) -> Result<Rc<ClientRecord>, Failure> {
        // Repeated headers arrive joined by ", "; a Basic credential never has a comma.
        if req.header_count("authorization") > 1
            || req.header("authorization").is_some_and(|v| v.contains(','))
        {
            return Err(OAuthError::InvalidRequest("more than one Authorization header").into());
        }
        let presented = if params.client_assertion.is_some()
            || params.client_assertion_type.is_some()
        {
            if req.header("authorization").is_some() || params.client_secret.is_some() {
                return Err(OAuthError::InvalidRequest(
                    "more than one client authentication method",
                )
                .into());
            }
            let (Some(kind), Some(raw)) = (params.client_assertion_type, params.client_assertion)
            else {
                return Err(OAuthError::InvalidRequest(
                    "client_assertion and client_assertion_type go together",
                )
                .into());
            };
            audit.auth_method = Some(crate::metadata::PRIVATE_KEY_JWT);
            let parsed = if kind != JWT_BEARER {
                Err("unsupported client_assertion_type".to_owned())
            } else {
                Assertion::parse(raw)
                    .map(Box::new)
                    .map_err(|e| e.to_string())
            };
            // RFC 7521 §4.2: a client_id beside the assertion names the same client.
            let claimed = parsed
                .as_ref()
                .ok()
                .map(|a| a.client_id().to_owned())
                .or_else(|| params.client_id.map(str::to_owned));
            Presented::Assertion { parsed, claimed }
        } else {
            let creds = credentials::extract(
                req.header("authorization"),
                params.client_id,
                params.client_secret,
            )?;
            audit.auth_method = Some(creds.method.name());
            Presented::Secret(creds)
        };
        let claimed_id = presented.client_id().map(str::to_owned);
        audit.client_id = claimed_id.as_deref().map(loggable_client_id);
        // Set by Cloudflare's edge (callers cannot forge it there). Bounded
        // in length like every limiter key, so the blocklist stays small;
        // IPv6 by its /64.
        let address = address_key(req.header("cf-connecting-ip"));
        let address = address.as_deref();
        let blocked = match (address, self.blocklist) {
            (Some(address), Some(blocklist)) => blocklist.blocked_for(address, now),
            _ => None,
        };
        let over_address = |retry_after: u64, cause: &str| {
            Failure::internal(
                OAuthError::RateLimited { retry_after },
                format!("{cause}; address over its failed-authentication limit"),
            )
        };
        // A blocked address still gets tokens for valid credentials; only
        // failures (and ids this isolate knows to be unknown, without a
        // store read) are refused.
        if let (Some(left), Some(cache), Some(id)) = (blocked, self.cache, claimed_id.as_deref()) {
            if let Some(Cached::Missing) = cache.get(id, now) {
                return Err(over_address(left, "unknown client (cached)"));
            }
        }
        let result = match &presented {
            Presented::Secret(creds) => self.authenticate_client(config, creds, now).await,
            Presented::Assertion { parsed, .. } => match parsed {
                Ok(assertion) => {
                    self.authenticate_assertion(config, req, params, assertion, now)
                        .await
                }
                Err(cause) => Err(Failure::internal(OAuthError::InvalidClient, cause.clone())),
            },
        };
        match result {
            Err(failure) if failure.error == OAuthError::InvalidClient => {
                // An address already blocked is not counted again: its
                // block ends when the period that tripped it ends.
                let counted_address = if blocked.is_some() { None } else { address };
                let failure = self
                    .count_failure(config, counted_address, claimed_id.as_deref(), now, failure)
                    .await;
                match blocked {
                    Some(left) => Err(over_address(left, failure.cause.as_deref().unwrap_or(""))),
                    None => Err(failure),
                }
            }
            other => other,
        }
    }

    /// `private_key_jwt`: the assertion's claims (RFC 7523 §3), then the
    /// client's record and its registered keys, the signature, and last
    /// the replay check (a `jti` is remembered only once the assertion is
    /// known to be the client's). Every failure is `invalid_client`.
    async fn authenticate_assertion(
        &self,
        config: &Config,
        req: &HttpRequest,
        params: &Params<'_>,
        assertion: &Assertion,
        now: u64,
    ) -> Result<Rc<ClientRecord>, Failure> {
        let refuse =
            |e: AssertionError| Failure::internal(OAuthError::InvalidClient, e.to_string());
        let client_id = assertion.client_id();
        if params.client_id.is_some_and(|id| id != client_id) {
            return Err(Failure::internal(
                OAuthError::InvalidClient,
                "client_id does not match the client assertion's iss".to_owned(),
            ));
        }
        // RFC 7523 §3: the token endpoint URL or the issuer identifier;
        // and, for introspection and revocation, the endpoint called.
        let base = config.issuer.trim_end_matches('/');
        let token_endpoint = format!("{base}{}", crate::routes::TOKEN);
        let this_endpoint = format!("{base}{}", req.path);
        let audiences = [config.issuer.as_str(), &token_endpoint, &this_endpoint];
        assertion
            .check_claims(&audiences, now, crate::bearer::DEFAULT_LEEWAY_SECS)
            .map_err(refuse)?;
        let record = self.load_client(config, client_id, now).await?;
        let record = match record {
            None => {
                return Err(Failure::internal(
                    OAuthError::InvalidClient,
                    "unknown client".to_owned(),
                ))
            }
            Some(r) if r.disabled => {
                return Err(Failure::internal(
                    OAuthError::InvalidClient,
                    "client disabled".to_owned(),
                ))
            }
            Some(r) if !r.uses_keys() => {
                return Err(Failure::internal(
                    OAuthError::InvalidClient,
                    "client has no registered keys (it authenticates with a secret)".to_owned(),
                ))
            }
            Some(r) => r,
        };
        let mut verified = false;
        for key in assertion.candidates(&record.keys).map_err(refuse)? {
            if !signature_len_ok(key, assertion.signature()) {
                continue;
            }
            let ok = self
                .signer
                .check_signature(key, assertion.signing_input(), assertion.signature())
                .await
                .map_err(|e| Failure::internal(OAuthError::ServerError, e))?;
            if ok {
                verified = true;
                break;
            }
        }
        if !verified {
            return Err(refuse(AssertionError::Signature));
        }
        self.spend_assertion(config, client_id, assertion, now)
            .await?;
        Ok(record)
    }

    /// Refuses a `jti` this client already used, then remembers it (here
    /// and in the store) for as long as the assertion is accepted.
    async fn spend_assertion(
        &self,
        config: &Config,
        client_id: &str,
        assertion: &Assertion,
        now: u64,
    ) -> Result<(), Failure> {
        let key = replay_key(client_id, assertion.jti());
        let replayed = |where_| {
            Failure::internal(
                OAuthError::InvalidClient,
                AssertionError::Replayed(where_).to_string(),
            )
        };
        if self.replay.is_some_and(|r| r.seen(&key, now)) {
            return Err(replayed("seen by this isolate"));
        }
        if self
            .bounded(config, self.store.assertion_used(&key))
            .await?
        {
            return Err(replayed("seen in the store"));
        }
        // Accepted until exp plus the leeway; KV keeps a key at least a minute.
        let until = assertion
            .exp()
            .saturating_add(crate::bearer::DEFAULT_LEEWAY_SECS);
        if let Some(replay) = self.replay {
            replay.remember(&key, until, now);
        }
        let keep_until = until.max(now.saturating_add(MIN_KV_EXPIRATION_SECS));
        let written = with_timeout(
            self.store.use_assertion(&key, keep_until),
            self.timer.sleep(config.store_timeout_ms),
        )
        .await;
        match written {
            Some(Ok(())) => Ok(()),
            // KV refused a second write to this key within a second: the
            // same assertion, presented twice at once.
            Some(Err(StoreError::WriteConflict(_))) => Err(replayed("written concurrently")),
            // Not remembered everywhere: refuse rather than let a replay
            // pass at another location (the client retries with a new one).
            Some(Err(e)) => Err(store_failure(e)),
            None => Err(store_timed_out(config)),
        }
    }

    /// Counts a failed authentication by address (already a limiter key)
    /// and by client id; turns
    /// the `401` into a `429` when either is over its limit. A limiter that
    /// fails or times out is logged and ignored (fail open).
    async fn count_failure(
        &self,
        config: &Config,
        address: Option<&str>,
        client_id: Option<&str>,
        now: u64,
        mut failure: Failure,
    ) -> Failure {
        let period = config.rate_limit_period;
        let mut notes: Vec<String> = Vec::new();
        let mut over = false;
        let keys = [
            address.map(|a| (LimitKind::Address, a.to_owned())),
            client_id.map(|id| (LimitKind::Client, limit_key(id))),
        ];
        for (kind, key) in keys.into_iter().flatten() {
            let counted = with_timeout(
                self.limiter.hit(kind, &key),
                self.timer.sleep(config.store_timeout_ms),
            )
            .await
            .unwrap_or_else(|| Err("timed out".to_owned()));
            let what = match kind {
                LimitKind::Address => "address",
                LimitKind::Client | LimitKind::Revocation => "client id",
            };
            match counted {
                Ok(true) => {}
                Ok(false) => {
                    over = true;
                    notes.push(format!("{what} over its failed-authentication limit"));
                    if let (LimitKind::Address, Some(blocklist)) = (kind, self.blocklist) {
                        blocklist.block(&key, now, now.saturating_add(period));
                    }
                }
                Err(e) => notes.push(format!("rate limiter ({what}) failed: {e}")),
            }
        }
        if over {
            failure.error = OAuthError::RateLimited {
                retry_after: period,
            };
        }
        if !notes.is_empty() {
            let cause = failure.cause.take().unwrap_or_default();
            failure.cause = Some(format!("{cause}; {}", notes.join("; ")));
        }
        failure
    }

    fn config(&self) -> Result<&Config, Failure> {
        self.config
            .map_err(|e| Failure::internal(OAuthError::ServerError, e.to_string()))
    }

    async fn token(
        &self,
        req: &HttpRequest,
        now: u64,
        audit: &mut AuditRecord,
    ) -> Result<HttpResponse, Failure> {
        let (config, pairs) = self.read_form(req)?;
        let params = Params::from_pairs(&pairs)?;
        match params.grant_type {
            None | Some("") => {
                return Err(OAuthError::InvalidRequest("grant_type is required").into())
            }
            Some("client_credentials") => {}
            Some(_) => return Err(OAuthError::UnsupportedGrantType.into()),
        }
        let client = self
            .authenticate_caller(req, config, &params, now, audit)
            .await?;
        let scopes = grant_scopes(params.scope, &client)?;
        let audiences = grant_audiences(
            &params.resource,
            params.audience,
            &client,
            &config.default_audiences,
        )?;
        let ttl = client
            .token_ttl
            .unwrap_or(config.token_ttl)
            .min(config.max_token_ttl);
        let jti = self
            .random
            .token::<16>()
            .map_err(|e| Failure::internal(OAuthError::ServerError, e.to_string()))?;
        let claims = AccessTokenClaims {
            iss: config.issuer.clone(),
            sub: client.client_id.clone(),
            aud: Audience::from_list(audiences.clone()),
            exp: now.saturating_add(ttl),
            iat: now,
            jti,
            client_id: client.client_id.clone(),
            scope: scopes.join(" "),
            // Checked when the record is read; filtered again so a registered
            // claim can never be overridden.
            extra: client
                .extra_claims
                .iter()
                .filter(|(name, _)| is_extra_claim_name(name))
                .map(|(name, value)| (name.clone(), value.clone()))
                .collect(),
        };
        let access_token = config
            .keys
            .mint(&claims, self.signer)
            .await
            .map_err(|e| Failure::internal(OAuthError::ServerError, e))?;
        let body = TokenResponse {
            access_token: &access_token,
            token_type: "Bearer",
            expires_in: ttl,
            scope: &claims.scope,
        }
        .to_json();

        audit.outcome = Verdict::Issued;
        audit.jti = Some(claims.jti);
        audit.scope = (!claims.scope.is_empty()).then_some(claims.scope);
        audit.aud = Some(audiences);
        audit.exp = Some(claims.exp);
        Ok(HttpResponse::json(200, body))
    }

    /// RFC 7662: tells an authorised client whether a token is active.
    async fn introspect(
        &self,
        req: &HttpRequest,
        now: u64,
        audit: &mut AuditRecord,
    ) -> Result<HttpResponse, Failure> {
        let (config, pairs) = self.read_form(req)?;
        let params = Params::from_pairs(&pairs)?;
        let caller = self
            .authenticate_caller(req, config, &params, now, audit)
            .await?;
        if !caller.introspect {
            return Err(Failure::status(
                OAuthError::UnauthorizedClient("this client may not use introspection"),
                403,
            ));
        }
        let token = params
            .token
            .ok_or(OAuthError::InvalidRequest("token is required"))?;
        let Some(claims) = self
            .active_claims(config, &caller, token, now, audit)
            .await?
        else {
            audit.outcome = Verdict::Inactive;
            return Ok(HttpResponse::json(200, r#"{"active":false}"#.to_owned()));
        };
        let body = ActiveIntrospection(&claims).to_json();
        audit.outcome = Verdict::Active;
        Ok(HttpResponse::json(200, body))
    }

    /// The claims of `token` if `caller` may learn about it and it is
    /// active now: valid signature and type, one of the caller's
    /// introspection audiences (if it has any), our issuer, unexpired, not
    /// revoked, and its client still exists and is enabled. `Ok(None)` for
    /// any inactive token.
    async fn active_claims(
        &self,
        config: &Config,
        caller: &ClientRecord,
        token: &str,
        now: u64,
        audit: &mut AuditRecord,
    ) -> Result<Option<AccessTokenClaims>, Failure> {
        // Valid as an API verifying it locally (default leeway) would find
        // it: the one rule of the verify crate.
        let validation = Validation {
            issuer: &config.issuer,
            audience: None,
            leeway_secs: crate::bearer::DEFAULT_LEEWAY_SECS,
            now,
        };
        let checked = self
            .verify_own(config, token)
            .await?
            .and_then(|claims| check_claims(&claims, &validation).map(|()| claims));
        let claims = match checked {
            Ok(claims) => claims,
            Err(e) => {
                audit.cause = Some(e.to_string());
                return Ok(None);
            }
        };
        // RFC 7662 §2.2: a protected resource learns only about tokens meant
        // for it. Checked before any store read, so a hidden token costs and
        // answers exactly what garbage does, whatever the store does.
        if !caller.may_introspect(&claims.aud) {
            audit.cause =
                Some("token audience outside this client's introspection audiences".to_owned());
            return Ok(None);
        }
        audit.jti = Some(claims.jti.clone());
        if self
            .bounded(config, self.store.is_revoked(&claims.jti))
            .await?
        {
            audit.cause = Some("revoked".to_owned());
            return Ok(None);
        }
        let Some(owner) = self.load_client(config, &claims.client_id, now).await? else {
            audit.cause = Some("client deleted".to_owned());
            return Ok(None);
        };
        if owner.disabled {
            audit.cause = Some("client disabled".to_owned());
            return Ok(None);
        }
        Ok(Some(claims))
    }

    /// The claims of `token` if it is one of ours, by its signature alone
    /// (the claims are the caller's to check): HS256 checked here, ES256 and
    /// EdDSA by the signer's [`CheckSignature`] (in the Worker, Web Crypto).
    /// `Err` only when the check itself failed (the log says why).
    async fn verify_own(
        &self,
        config: &Config,
        token: &str,
    ) -> Result<Result<AccessTokenClaims, Invalid>, Failure> {
        let unverified = match token::parse_unverified(config.keys.verify_keys(), token) {
            Ok(t) => t,
            Err(e) => return Ok(Err(Invalid::Token(e))),
        };
        let good = match config.keys.public_key(unverified.key().kid()) {
            Some(public) => {
                signature_len_ok(public, unverified.signature())
                    && self
                        .signer
                        .check_signature(public, unverified.signed(), unverified.signature())
                        .await
                        .map_err(|e| Failure::internal(OAuthError::ServerError, e))?
            }
            None => unverified
                .key()
                .check(unverified.signed(), unverified.signature()),
        };
        if !good {
            return Ok(Err(Invalid::Token(VerifyError::Signature)));
        }
        Ok(unverified.into_claims().map_err(Invalid::Token))
    }

    /// RFC 7009: a client revokes one of its own tokens.
    async fn revoke(
        &self,
        req: &HttpRequest,
        now: u64,
        audit: &mut AuditRecord,
    ) -> Result<HttpResponse, Failure> {
        let (config, pairs) = self.read_form(req)?;
        let params = Params::from_pairs(&pairs)?;
        let client = self
            .authenticate_caller(req, config, &params, now, audit)
            .await?;
        let token = params
            .token
            .ok_or(OAuthError::InvalidRequest("token is required"))?;
        // RFC 7009 §2.2: an invalid or expired token is not an error. A
        // token is still revoked while any API may accept it: valid by the
        // verify crate's rule with the largest leeway a verifier takes.
        let validation = Validation {
            issuer: &config.issuer,
            audience: None,
            leeway_secs: crate::bearer::MAX_LEEWAY_SECS,
            now,
        };
        // Signature first (once), then the claims: a signed but invalid
        // token is logged by its jti.
        let checked = self.verify_own(config, token).await?.and_then(|claims| {
            match check_claims(&claims, &validation) {
                Ok(()) => Ok(claims),
                Err(e) => {
                    audit.jti = Some(claims.jti);
                    Err(e)
                }
            }
        });
        let claims = match checked {
            Ok(claims) => claims,
            Err(e) => {
                audit.outcome = Verdict::Noop;
                audit.cause = Some(e.to_string());
                return Ok(HttpResponse::json(200, "{}".to_owned()));
            }
        };
        audit.jti = Some(claims.jti.clone());
        audit.exp = Some(claims.exp);
        if claims.client_id != client.client_id {
            return Err(Failure::status(
                OAuthError::UnauthorizedClient("a client may revoke only its own tokens"),
                403,
            ));
        }
        // Read first: revoking a revoked token writes nothing (no KV write
        // loop, and no second write to one key within KV's one per second).
        if self
            .bounded(config, self.store.is_revoked(&claims.jti))
            .await?
        {
            audit.outcome = Verdict::Noop;
            audit.cause = Some("already revoked".to_owned());
            return Ok(HttpResponse::json(200, "{}".to_owned()));
        }
        if let Some(note) = self.count_revocation(config, &client.client_id).await? {
            audit.cause = Some(note);
        }
        let keep_until = claims
            .exp
            .saturating_add(REVOCATION_MARGIN_SECS)
            .max(now.saturating_add(MIN_KV_EXPIRATION_SECS));
        let write = || async {
            with_timeout(
                self.store
                    .revoke(&claims.jti, &claims.client_id, keep_until),
                self.timer.sleep(config.store_timeout_ms),
            )
            .await
            .unwrap_or_else(|| {
                Err(StoreError::Unavailable(format!(
                    "timed out after {} ms",
                    config.store_timeout_ms
                )))
            })
        };
        match write().await {
            Ok(()) => {}
            // KV refused the write as too many: most likely a concurrent
            // revocation of this token (perhaps at another location, not
            // yet visible to our read) wrote the key within the last
            // second. Once that second has passed, write again: the same
            // value, so harmless if it did land. A second refusal (an
            // exhausted write limit) is 503, never a false 200.
            Err(StoreError::WriteConflict(first)) => {
                self.timer.sleep(KV_WRITE_RETRY_MS).await;
                write().await.map_err(store_failure)?;
                audit.cause = Some(format!("written on the second try: {first}"));
            }
            Err(e) => return Err(store_failure(e)),
        }
        audit.outcome = Verdict::Revoked;
        Ok(HttpResponse::json(200, "{}".to_owned()))
    }

    /// Counts one denylist write for `client_id` (`REVOCATIONS_BY_CLIENT`):
    /// over the limit is `429`. A limiter that fails or times out is logged
    /// and ignored (fail open: revoking is a security action); its note is
    /// returned for the log.
    async fn count_revocation(
        &self,
        config: &Config,
        client_id: &str,
    ) -> Result<Option<String>, Failure> {
        let counted = with_timeout(
            self.limiter
                .hit(LimitKind::Revocation, &limit_key(client_id)),
            self.timer.sleep(config.store_timeout_ms),
        )
        .await
        .unwrap_or_else(|| Err("timed out".to_owned()));
        match counted {
            Ok(true) => Ok(None),
            Err(e) => Ok(Some(format!("rate limiter (revocations) failed: {e}"))),
            Ok(false) => Err(Failure::internal(
                OAuthError::RateLimited {
                    retry_after: config.rate_limit_period,
                },
                "client over its revocation limit".to_owned(),
            )),
        }
    }

    /// RFC 8414 metadata: public and cacheable.
    fn metadata(&self, req: &HttpRequest) -> Result<HttpResponse, Failure> {
        let config = self.config_for_get(req)?;
        Ok(public_document(
            req,
            metadata::document(config),
            metadata::MAX_AGE_SECS.into(),
        ))
    }

    /// The JWK Set (RFC 7517 §5): prepared when the keys were parsed, so a
    /// valid configuration always has it.
    fn jwks(&self, req: &HttpRequest) -> Result<HttpResponse, Failure> {
        let config = self.config_for_get(req)?;
        Ok(public_document(
            req,
            config.keys.jwks_json().to_owned(),
            config.jwks_max_age,
        ))
    }

    /// The front of the GET endpoints: method, then configuration.
    fn config_for_get(&self, req: &HttpRequest) -> Result<&Config, Failure> {
        if req.method != "GET" && req.method != "HEAD" {
            return Err(Failure::method_not_allowed("GET, HEAD"));
        }
        self.config()
    }

    /// Looks the client up and checks its secret. Unknown, wrong secret,
    /// expired secret and disabled all fail the same way.
    async fn authenticate_client(
        &self,
        config: &Config,
        creds: &Credentials,
        now: u64,
    ) -> Result<Rc<ClientRecord>, Failure> {
        let record = self.load_client(config, &creds.client_id, now).await?;
        let authenticated = authenticate(record.as_deref(), &creds.client_id, &creds.secret, now);
        match record {
            Some(record) if authenticated => Ok(record),
            record => {
                let cause = match &record {
                    None => "unknown client",
                    Some(r) if r.disabled => "client disabled",
                    Some(_) => "secret mismatch or expired",
                };
                Err(Failure::internal(
                    OAuthError::InvalidClient,
                    cause.to_owned(),
                ))
            }
        }
    }
}

impl<S: ClientStore, R: Random, L: Limiter, T: Timer, G: Sign + CheckSignature>
    Service<'_, S, R, L, T, G>
{
    /// One store call, bounded by `STORE_TIMEOUT_MS`: an error or a timeout
    /// becomes the failure to send (no answer is ever guessed).
    async fn bounded<V>(
        &self,
        config: &Config,
        call: impl std::future::Future<Output = Result<V, StoreError>>,
    ) -> Result<V, Failure> {
        match with_timeout(call, self.timer.sleep(config.store_timeout_ms)).await {
            Some(result) => result.map_err(store_failure),
            None => Err(store_timed_out(config)),
        }
    }

    /// A client's record: from the isolate cache if fresh, else from the
    /// store (parsed, validated, then cached; misses too, briefly).
    async fn load_client(
        &self,
        config: &Config,
        client_id: &str,
        now: u64,
    ) -> Result<Option<Rc<ClientRecord>>, Failure> {
        if let Some(cached) = self.cache.and_then(|c| c.get(client_id, now)) {
            return Ok(match cached {
                Cached::Found(record) => Some(record),
                Cached::Missing => None,
            });
        }
        let stored = self
            .bounded(
                config,
                self.store.get_record(client_id, config.kv_cache_ttl),
            )
            .await?;
        let record = match stored {
            Some(json) => Some(Rc::new(
                ClientRecord::from_json(client_id, &json)
                    .map_err(|e| Failure::internal(OAuthError::ServerError, e.to_string()))?,
            )),
            None => None,
        };
        if let Some(cache) = self.cache {
            let value = match &record {
                Some(r) => Cached::Found(Rc::clone(r)),
                None => Cached::Missing,
            };
            cache.insert(client_id, now, value);
        }
        Ok(record)
    }
}

/// A store call that did not answer within `STORE_TIMEOUT_MS`: `503`.
fn store_timed_out(config: &Config) -> Failure {
    Failure::internal(
        OAuthError::TemporarilyUnavailable,
        format!(
            "client store timed out after {} ms",
            config.store_timeout_ms
        ),
    )
}

fn store_failure(e: StoreError) -> Failure {
    let error = match e {
        StoreError::Unavailable(_) | StoreError::WriteConflict(_) => {
            OAuthError::TemporarilyUnavailable
        }
        StoreError::Misconfigured(_) => OAuthError::ServerError,
    };
    Failure::internal(error, e.to_string())
}

/// How the caller authenticated, before verification.
enum Presented {
    /// `client_secret_basic` or `client_secret_post`.
    Secret(Credentials),
    /// `private_key_jwt`: the parsed assertion (or why it could not be
    /// parsed) and the client id it or the body claims.
    Assertion {
        parsed: Result<Box<Assertion>, String>,
        claimed: Option<String>,
    },
}

impl Presented {
    fn client_id(&self) -> Option<&str> {
        match self {
            Presented::Secret(creds) => Some(&creds.client_id),
            Presented::Assertion { claimed, .. } => claimed.as_deref(),
        }
    }
}

/// The presented client id as it may be logged: if it holds a secret (a
/// caller swapped id and secret, perhaps with a stray space, quote or
/// prefix), it is replaced.
fn loggable_client_id(id: &str) -> String {
    if id.contains(crate::client::CLIENT_SECRET_PREFIX) {
        "<redacted: looks like a client secret>".to_owned()
    } else {
        id.to_owned()
    }
}

/// An error on its way to the wire: the OAuth error, an optional status
/// override, an `Allow` header for 405, and the cause to log.
#[derive(Debug)]
struct Failure {
    error: OAuthError,
    status: Option<u16>,
    allow: Option<&'static str>,
    cause: Option<String>,
}

impl Failure {
    fn internal(error: OAuthError, cause: String) -> Self {
        Failure {
            error,
            status: None,
            allow: None,
            cause: Some(cause),
        }
    }

    fn status(error: OAuthError, status: u16) -> Self {
        Failure {
            error,
            status: Some(status),
            allow: None,
            cause: None,
        }
    }

    fn method_not_allowed(allow: &'static str) -> Self {
        Failure {
            error: OAuthError::InvalidRequest("method not allowed"),
            status: Some(405),
            allow: Some(allow),
            cause: None,
        }
    }

    fn render(self, audit: &mut AuditRecord) -> HttpResponse {
        let mut response = self
            .error
            .render_with_status(self.status.unwrap_or(self.error.status()));
        if let Some(allow) = self.allow {
            response.header("Allow", allow.to_owned());
        }
        audit.error = Some(self.error.code());
        if self.cause.is_some() {
            audit.cause = self.cause;
        }
        response
    }
}

impl From<OAuthError> for Failure {
    fn from(error: OAuthError) -> Self {
        Failure {
            error,
            status: None,
            allow: None,
            cause: None,
        }
    }
}

#[cfg(test)]
mod json_tests {
    use super::*;
    use std::collections::BTreeMap;

    fn claims() -> AccessTokenClaims {
        AccessTokenClaims {
            iss: "https://issuer.example".into(),
            sub: "etc_a".into(),
            aud: Audience::One("https://api.example".into()),
            exp: 2000,
            iat: 1000,
            jti: "j\u{1}\"".into(),
            client_id: "etc_a".into(),
            scope: "read write".into(),
            extra: BTreeMap::new(),
        }
    }

    #[test]
    fn the_token_response_is_what_serde_json_writes() {
        for scope in ["read write", "", "a\"\\\n"] {
            let body = TokenResponse {
                access_token: "h.p.s",
                token_type: "Bearer",
                expires_in: 300,
                scope,
            };
            assert_eq!(body.to_json(), serde_json::to_string(&body).unwrap());
        }
    }

    #[test]
    fn the_introspection_answer_is_what_serde_json_writes() {
        let mut c = claims();
        assert_eq!(
            ActiveIntrospection(&c).to_json(),
            serde_json::to_string(&ActiveIntrospection(&c)).unwrap()
        );
        c.scope = String::new();
        c.aud = Audience::Many(vec!["a".into(), "b\u{7}".into()]);
        c.extra
            .insert("tenant".into(), serde_json::json!({"id": [1, "x"]}));
        c.extra.insert("nbf".into(), serde_json::json!(900));
        // Not an extra claim name: never shown.
        c.extra.insert("active".into(), serde_json::json!(false));
        assert_eq!(
            ActiveIntrospection(&c).to_json(),
            serde_json::to_string(&ActiveIntrospection(&c)).unwrap()
        );
    }
}
