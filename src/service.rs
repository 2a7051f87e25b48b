//! The whole application: `HttpRequest` in, `HttpResponse` (and one audit
//! record) out. Infallible: every failure becomes an RFC 6749 §5.2 error.

use crate::audit::AuditRecord;
use crate::client::{authenticate, ClientRecord};
use crate::config::{Config, ConfigError};
use crate::credentials::{self, Credentials};
use crate::error::OAuthError;
use crate::form;
use crate::http::{Body, HttpRequest, HttpResponse};
use crate::random::Random;
use crate::routes::{route, Route};
use crate::scope::{grant_audiences, grant_scopes};
use crate::store::{ClientStore, StoreError};
use crate::token::{mint, AccessTokenClaims, Audience};

/// The response to send and the line to log.
#[derive(Debug)]
pub struct Outcome {
    /// What goes on the wire.
    pub response: HttpResponse,
    /// What goes in the log.
    pub audit: AuditRecord,
}

/// What the service needs: configuration (or why there is none), the
/// client store and a random source.
pub struct Service<'a, S, R> {
    /// Parsed once per isolate; an error makes every token request a 500.
    pub config: Result<&'a Config, &'a ConfigError>,
    /// Where client records are read.
    pub store: &'a S,
    /// Randomness for `jti`.
    pub random: &'a R,
}

/// The parameters of a token request ([RFC 6749 §4.4.2](https://www.rfc-editor.org/rfc/rfc6749#section-4.4.2)).
#[derive(Debug, Default)]
pub struct TokenRequest<'a> {
    /// `grant_type`.
    pub grant_type: Option<&'a str>,
    /// `scope`.
    pub scope: Option<&'a str>,
    /// `client_id` (for `client_secret_post`).
    pub client_id: Option<&'a str>,
    /// `client_secret` (for `client_secret_post`).
    pub client_secret: Option<&'a str>,
    /// Every `resource` (RFC 8707).
    pub resource: Vec<&'a str>,
    /// `audience` (space-delimited).
    pub audience: Option<&'a str>,
}

impl<'a> TokenRequest<'a> {
    /// Collects the known parameters; a single-valued one given twice is
    /// `invalid_request`, unknown ones are ignored (RFC 6749 §3.2).
    pub fn from_params(params: &'a [(String, String)]) -> Result<Self, OAuthError> {
        let mut req = TokenRequest::default();
        for (name, value) in params {
            let slot = match name.as_str() {
                "grant_type" => &mut req.grant_type,
                "scope" => &mut req.scope,
                "client_id" => &mut req.client_id,
                "client_secret" => &mut req.client_secret,
                "audience" => &mut req.audience,
                "resource" => {
                    req.resource.push(value);
                    continue;
                }
                _ => continue,
            };
            if slot.replace(value).is_some() {
                return Err(OAuthError::InvalidRequest(duplicate_description(name)));
            }
        }
        Ok(req)
    }
}

fn duplicate_description(name: &str) -> &'static str {
    match name {
        "grant_type" => "grant_type given more than once",
        "scope" => "scope given more than once",
        "client_id" => "client_id given more than once",
        "client_secret" => "client_secret given more than once",
        _ => "audience given more than once",
    }
}

/// The RFC 6749 §5.1 success body.
#[derive(Debug, serde::Serialize)]
struct TokenResponse<'a> {
    access_token: &'a str,
    token_type: &'static str,
    expires_in: u64,
    #[serde(skip_serializing_if = "str::is_empty")]
    scope: &'a str,
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

impl<S: ClientStore, R: Random> Service<'_, S, R> {
    /// Answers one request at time `now` (Unix seconds).
    pub async fn handle(&self, req: &HttpRequest, now: u64) -> Outcome {
        match route(&req.path) {
            Route::Token => {
                let mut audit = AuditRecord {
                    event: "token",
                    ..AuditRecord::default()
                };
                let response = match self.token(req, now, &mut audit).await {
                    Ok(response) => response,
                    Err(failure) => failure.render(&mut audit),
                };
                audit.status = response.status;
                audit.outcome = match response.status {
                    200 => "issued",
                    500.. => "error",
                    _ => "rejected",
                };
                Outcome { response, audit }
            }
            Route::NotFound => {
                let error = OAuthError::InvalidRequest("unknown endpoint");
                let response = error.render_with_status(404);
                let audit = AuditRecord {
                    event: "not_found",
                    status: 404,
                    outcome: "rejected",
                    error: Some(error.code()),
                    ..AuditRecord::default()
                };
                Outcome { response, audit }
            }
        }
    }

    async fn token(
        &self,
        req: &HttpRequest,
        now: u64,
        audit: &mut AuditRecord,
    ) -> Result<HttpResponse, Failure> {
        if req.method != "POST" {
            return Err(Failure::method_not_allowed());
        }
        let config = self
            .config
            .map_err(|e| Failure::internal(OAuthError::ServerError, e.to_string()))?;
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
        };
        if !is_form_content_type(req.header("content-type")) {
            return Err(OAuthError::InvalidRequest(
                "Content-Type must be application/x-www-form-urlencoded",
            )
            .into());
        }
        let params =
            form::parse(body).map_err(|_| OAuthError::InvalidRequest("malformed form body"))?;
        let params = TokenRequest::from_params(&params)?;
        match params.grant_type {
            None | Some("") => {
                return Err(OAuthError::InvalidRequest("grant_type is required").into())
            }
            Some("client_credentials") => {}
            Some(_) => return Err(OAuthError::UnsupportedGrantType.into()),
        }
        // Repeated headers arrive joined by ", "; a Basic credential never has a comma.
        if req.header_count("authorization") > 1
            || req.header("authorization").is_some_and(|v| v.contains(','))
        {
            return Err(OAuthError::InvalidRequest("more than one Authorization header").into());
        }
        let creds = credentials::extract(
            req.header("authorization"),
            params.client_id,
            params.client_secret,
        )?;
        audit.client_id = Some(loggable_client_id(&creds.client_id));
        audit.auth_method = Some(creds.method.name());

        let client = self.authenticate_client(config, &creds, now).await?;

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
        };
        let access_token = mint(&config.keys, &claims);
        let body = TokenResponse {
            access_token: &access_token,
            token_type: "Bearer",
            expires_in: ttl,
            scope: &claims.scope,
        };
        let body = serde_json::to_string(&body)
            .map_err(|e| Failure::internal(OAuthError::ServerError, e.to_string()))?;

        audit.jti = Some(claims.jti);
        audit.scope = Some(claims.scope);
        audit.aud = Some(audiences);
        audit.exp = Some(claims.exp);
        Ok(HttpResponse::json(200, body))
    }

    /// Looks the client up and checks its secret. Unknown, wrong secret,
    /// expired secret and disabled all fail the same way.
    async fn authenticate_client(
        &self,
        config: &Config,
        creds: &Credentials,
        now: u64,
    ) -> Result<ClientRecord, Failure> {
        let stored = self
            .store
            .get_record(&creds.client_id, config.kv_cache_ttl)
            .await
            .map_err(|e| {
                let error = match e {
                    StoreError::Unavailable(_) => OAuthError::TemporarilyUnavailable,
                    StoreError::Misconfigured(_) => OAuthError::ServerError,
                };
                Failure::internal(error, e.to_string())
            })?;
        let record = match stored {
            Some(json) => Some(
                ClientRecord::from_json(&creds.client_id, &json)
                    .map_err(|e| Failure::internal(OAuthError::ServerError, e.to_string()))?,
            ),
            None => None,
        };
        if !authenticate(record.as_ref(), &creds.client_id, &creds.secret, now) {
            let cause = match &record {
                None => "unknown client",
                Some(r) if r.disabled => "client disabled",
                Some(_) => "secret mismatch or expired",
            };
            return Err(Failure::internal(
                OAuthError::InvalidClient,
                cause.to_owned(),
            ));
        }
        record.ok_or(Failure::internal(
            OAuthError::InvalidClient,
            "unknown client".to_owned(),
        ))
    }
}

/// The presented client id as it may be logged: if a caller swapped id and
/// secret, the "id" is a secret and is replaced.
fn loggable_client_id(id: &str) -> String {
    if id.starts_with(crate::client::CLIENT_SECRET_PREFIX) {
        "<redacted: looks like a client secret>".to_owned()
    } else {
        id.to_owned()
    }
}

/// An error on its way to the wire: the OAuth error, an optional status
/// override, and the cause to log.
#[derive(Debug)]
struct Failure {
    error: OAuthError,
    status: Option<u16>,
    allow: bool,
    cause: Option<String>,
}

impl Failure {
    fn internal(error: OAuthError, cause: String) -> Self {
        Failure {
            error,
            status: None,
            allow: false,
            cause: Some(cause),
        }
    }

    fn status(error: OAuthError, status: u16) -> Self {
        Failure {
            error,
            status: Some(status),
            allow: false,
            cause: None,
        }
    }

    fn method_not_allowed() -> Self {
        Failure {
            error: OAuthError::InvalidRequest("method not allowed; use POST"),
            status: Some(405),
            allow: true,
            cause: None,
        }
    }

    fn render(self, audit: &mut AuditRecord) -> HttpResponse {
        let mut response = self
            .error
            .render_with_status(self.status.unwrap_or(self.error.status()));
        if self.allow {
            response.header("Allow", "POST".to_owned());
        }
        audit.error = Some(self.error.code());
        audit.cause = self.cause;
        response
    }
}

impl From<OAuthError> for Failure {
    fn from(error: OAuthError) -> Self {
        Failure {
            error,
            status: None,
            allow: false,
            cause: None,
        }
    }
}
