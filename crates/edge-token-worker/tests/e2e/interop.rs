//! Interop: a third-party OAuth client (the `oauth2` crate, 5.x) gets tokens
//! from the Worker with both client authentication styles, and understands
//! its errors.

use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{AuthType, ClientId, ClientSecret, RequestTokenError, Scope, TokenResponse, TokenUrl};

use crate::harness::verify_jwt;
use crate::{standard_client, worker};

/// The crate's HTTP transport: ureq over real HTTP. (oauth2's built-in ureq
/// adapter drops 4xx bodies, since ureq 2 turns them into errors; this one
/// hands them to oauth2 so it can parse the RFC 6749 error JSON.)
fn agent() -> impl Fn(oauth2::HttpRequest) -> Result<oauth2::HttpResponse, std::io::Error> {
    |req: oauth2::HttpRequest| {
        let agent = ureq::AgentBuilder::new().redirects(0).build();
        let mut call = agent.request(req.method().as_str(), &req.uri().to_string());
        for (name, value) in req.headers() {
            call = call.set(
                name.as_str(),
                value.to_str().map_err(std::io::Error::other)?,
            );
        }
        let resp = match call.send_bytes(req.body()) {
            Ok(resp) | Err(ureq::Error::Status(_, resp)) => resp,
            Err(e) => return Err(std::io::Error::other(e)),
        };
        let mut builder = oauth2::http::Response::builder().status(resp.status());
        if let Some(ct) = resp.header("content-type") {
            builder = builder.header("content-type", ct);
        }
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut resp.into_reader(), &mut body)?;
        builder.body(body).map_err(std::io::Error::other)
    }
}

fn client(
    id: &str,
    secret: &str,
    auth: AuthType,
) -> BasicClient<
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointNotSet,
    oauth2::EndpointSet,
> {
    BasicClient::new(ClientId::new(id.to_owned()))
        .set_client_secret(ClientSecret::new(secret.to_owned()))
        .set_token_uri(TokenUrl::new(worker().url("/oauth2/token")).expect("token url"))
        .set_auth_type(auth)
}

#[test]
fn oauth2_crate_gets_token_with_both_auth_styles() {
    let w = worker();
    let (id, secret) = standard_client();
    for auth in [AuthType::BasicAuth, AuthType::RequestBody] {
        let token = client(id, secret, auth.clone())
            .exchange_client_credentials()
            .add_scope(Scope::new("write".to_owned()))
            .add_extra_param("resource", "urn:two")
            .request(&agent())
            .unwrap_or_else(|e| panic!("{auth:?}: {e:?}"));
        assert_eq!(token.token_type(), &oauth2::basic::BasicTokenType::Bearer);
        assert!(token.refresh_token().is_none());
        let expires = token.expires_in().expect("expires_in").as_secs();
        assert_eq!(expires, 300);
        let scopes: Vec<String> = token
            .scopes()
            .expect("scope")
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(scopes, vec!["write"]);
        let (_, claims) = verify_jwt(token.access_token().secret(), &w.key);
        assert_eq!(claims["client_id"], id.as_str());
        assert_eq!(claims["aud"], "urn:two");
    }
}

#[test]
fn oauth2_crate_sees_invalid_client_and_extension_errors() {
    let (id, secret) = standard_client();
    let err = client(id, "ets_wrong", AuthType::BasicAuth)
        .exchange_client_credentials()
        .request(&agent())
        .expect_err("wrong secret must fail");
    match err {
        RequestTokenError::ServerResponse(r) => {
            assert_eq!(*r.error(), BasicErrorResponseType::InvalidClient)
        }
        other => panic!("expected invalid_client, got {other:?}"),
    }
    let err = client(id, secret, AuthType::RequestBody)
        .exchange_client_credentials()
        .add_extra_param("resource", "https://not-allowed.example")
        .request(&agent())
        .expect_err("disallowed resource must fail");
    match err {
        RequestTokenError::ServerResponse(r) => {
            assert_eq!(
                *r.error(),
                BasicErrorResponseType::Extension("invalid_target".to_owned())
            )
        }
        other => panic!("expected invalid_target, got {other:?}"),
    }
}
