//! Whether a token is valid: the one decision the issuer's introspection,
//! its revocation endpoint and every API's [`Verifier`](crate::bearer::Verifier)
//! share. [`validate`] checks the signed structure ([`token::verify`]: size,
//! `alg`, `typ`, `crit`, `kid`, signature, claims), then the lifetime with a
//! leeway, the issuer, and, when one is given, the audience.

use crate::token::{self, AccessTokenClaims, KeySet, VerifyError};

/// What a token must satisfy besides its signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validation<'a> {
    /// The issuer identifier `iss` must equal exactly.
    pub issuer: &'a str,
    /// An audience `aud` must contain, or `None` for any (the issuer itself,
    /// which serves every audience).
    pub audience: Option<&'a str>,
    /// Clock-skew allowance, in seconds, for `exp`, `iat` and `nbf`.
    pub leeway_secs: u64,
    /// The time to judge by, in Unix seconds.
    pub now: u64,
}

/// Why a token is not valid. [`Invalid::description`] is fixed text that
/// never repeats any part of the token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Invalid {
    /// The signed structure failed [`token::verify`] (an `nbf` that is not a
    /// non-negative integer counts as malformed).
    Token(VerifyError),
    /// `now >= exp + leeway`.
    Expired,
    /// `iat > now + leeway`.
    IssuedInFuture,
    /// `nbf > now + leeway`.
    NotYetValid,
    /// `iss` is not the expected issuer.
    OtherIssuer,
    /// `aud` does not contain the expected audience.
    OtherAudience,
}

impl Invalid {
    /// A short, fixed description (the `error_description` of a `401
    /// invalid_token`, and the log's `cause`).
    pub fn description(&self) -> &'static str {
        match self {
            Invalid::Token(VerifyError::Malformed) => "malformed token",
            Invalid::Token(VerifyError::Algorithm) => "token type or algorithm not accepted",
            Invalid::Token(VerifyError::Critical) => "token has critical header parameters",
            Invalid::Token(VerifyError::UnknownKey) => "unknown signing key",
            Invalid::Token(VerifyError::Signature) => "invalid signature",
            Invalid::Expired => "token expired",
            Invalid::IssuedInFuture => "token issued in the future",
            Invalid::NotYetValid => "token not yet valid",
            Invalid::OtherIssuer => "token is from another issuer",
            Invalid::OtherAudience => "token is not for this audience",
        }
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.description())
    }
}

impl std::error::Error for Invalid {}

/// Checks `token` against `keys` and `v` and returns its claims: in order,
/// [`token::verify`], then `exp`, `iat` and `nbf` (RFC 7519 §4.1.4-6) with
/// `v.leeway_secs`, then `iss`, then `aud` if `v.audience` is set.
pub fn validate(
    keys: &KeySet,
    token: &str,
    v: &Validation<'_>,
) -> Result<AccessTokenClaims, Invalid> {
    let claims = token::verify(keys, token).map_err(Invalid::Token)?;
    check_claims(&claims, v)?;
    Ok(claims)
}

/// The checks of [`validate`] after the signature: lifetime with leeway,
/// issuer, audience. For a caller that needs the verified claims even when
/// they are not valid (to log which token it was).
pub fn check_claims(claims: &AccessTokenClaims, v: &Validation<'_>) -> Result<(), Invalid> {
    let latest = v.now.saturating_add(v.leeway_secs);
    if v.now >= claims.exp.saturating_add(v.leeway_secs) {
        return Err(Invalid::Expired);
    }
    if claims.iat > latest {
        return Err(Invalid::IssuedInFuture);
    }
    // Unregistered claims, `nbf` among them, land in `extra`.
    if let Some(nbf) = claims.extra.get("nbf") {
        let nbf = nbf.as_u64().ok_or(Invalid::Token(VerifyError::Malformed))?;
        if nbf > latest {
            return Err(Invalid::NotYetValid);
        }
    }
    if claims.iss != v.issuer {
        return Err(Invalid::OtherIssuer);
    }
    if let Some(audience) = v.audience {
        if !claims.aud.contains(audience) {
            return Err(Invalid::OtherAudience);
        }
    }
    Ok(())
}
