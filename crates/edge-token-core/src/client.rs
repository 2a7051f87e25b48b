//! Registered clients: the KV record shared by the Worker and the admin CLI,
//! secret generation, digests and constant-time verification.
//!
//! A client secret carries 256 random bits, so a single SHA-256 (bound to the
//! client id and a domain separator) is enough to store it: there is nothing
//! for a slow password hash to protect against, and verification stays far
//! below a microsecond.

use std::collections::BTreeMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

use crate::client_key::{check_client_keys, ClientKey, MAX_CLIENT_KEYS};
use crate::credentials::ClientSecret;
use crate::random::{Random, RandomError};
use crate::scope::{
    check_audiences, check_scopes, is_absolute_uri, MAX_AUDIENCES, MAX_AUDIENCE_BYTES,
    MAX_SCOPE_BYTES,
};

/// Version of the record layout this build reads and writes.
pub const RECORD_VERSION: u32 = 1;
/// The version of a record with `introspect_audiences`, written so that an
/// older Worker (which knows only version 1 and would ignore the field,
/// widening the client's reach) refuses the record instead.
pub const RECORD_VERSION_INTROSPECT_AUDIENCES: u32 = 2;
/// The version of a record with `keys` (a `private_key_jwt` client), so an
/// older Worker refuses it instead of treating it as a client without secrets.
pub const RECORD_VERSION_CLIENT_KEYS: u32 = 3;
/// KV key prefix for client records.
pub const KEY_PREFIX: &str = "client:";
/// Prefix of generated client ids.
pub const CLIENT_ID_PREFIX: &str = "etc_";
/// Prefix of generated client secrets, so secret scanners can spot leaks.
pub const CLIENT_SECRET_PREFIX: &str = "ets_";
/// Most secrets a client holds at once (current + the one being rotated out).
pub const MAX_SECRETS: usize = 2;

/// The KV key of a client's record.
pub fn record_key(client_id: &str) -> String {
    format!("{KEY_PREFIX}{client_id}")
}

/// A new client id: prefix + 128 random bits, base64url (unchanged by form-urlencoding).
pub fn generate_client_id(random: &impl Random) -> Result<String, RandomError> {
    Ok(format!("{CLIENT_ID_PREFIX}{}", random.token::<16>()?))
}

/// A new client secret: prefix + 256 random bits, base64url.
pub fn generate_client_secret(random: &impl Random) -> Result<ClientSecret, RandomError> {
    Ok(ClientSecret::new(format!(
        "{CLIENT_SECRET_PREFIX}{}",
        random.token::<32>()?
    )))
}

/// SHA-256 digest of a secret, bound to its client id. Stored base64url.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    /// Digest of `secret` for `client_id`.
    pub fn compute(client_id: &str, secret: &ClientSecret) -> Self {
        let mut h = Sha256::new();
        h.update(b"edge-token/client-secret/v1\0");
        h.update(client_id.as_bytes());
        h.update(b"\0");
        h.update(secret.expose().as_bytes());
        SecretHash(h.finalize().into())
    }

    fn ct_eq(&self, other: &SecretHash) -> Choice {
        self.0.ct_eq(&other.0)
    }
}

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHash(<redacted>)")
    }
}

impl Serialize for SecretHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl<'de> Deserialize<'de> for SecretHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let bytes = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(serde::de::Error::custom)?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| serde::de::Error::custom("secret digest must be 32 bytes"))?;
        Ok(SecretHash(arr))
    }
}

/// A digest compared against on a store miss, so an unknown client costs the
/// same as a known one with a wrong secret.
const DUMMY_HASH: SecretHash = SecretHash([0x5a; 32]);

/// One stored secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SecretEntry {
    /// Digest of the secret.
    pub digest: SecretHash,
    /// Unix seconds when it was created.
    pub created_at: u64,
    /// Unix seconds after which it no longer authenticates; `None` = never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

impl SecretEntry {
    /// Whether the secret authenticates at `now`.
    pub fn is_active(&self, now: u64) -> bool {
        self.expires_at.is_none_or(|exp| now < exp)
    }
}

/// A registered client, as stored in KV under `client:<client_id>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientRecord {
    /// Layout version; this build reads [`RECORD_VERSION`] and
    /// [`RECORD_VERSION_INTROSPECT_AUDIENCES`]. In memory it is always
    /// [`RECORD_VERSION`] (one layout, whatever was read);
    /// [`ClientRecord::to_json`] writes the lowest version that holds the
    /// record.
    pub version: u32,
    /// The client id (also in the key).
    pub client_id: String,
    /// Human-readable name.
    pub name: String,
    /// At most [`MAX_SECRETS`] secret digests (`client_secret_basic` and
    /// `client_secret_post`). Empty for a `private_key_jwt` client.
    #[serde(default)]
    pub secrets: Vec<SecretEntry>,
    /// The public keys of a `private_key_jwt` client (RFC 7523 §2.2), at
    /// most [`MAX_CLIENT_KEYS`]; such a client has no secrets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keys: Vec<ClientKey>,
    /// Scopes the client may request.
    #[serde(default)]
    pub allowed_scopes: Vec<String>,
    /// Scopes granted when the request names none.
    #[serde(default)]
    pub default_scopes: Vec<String>,
    /// Audiences (`resource` / `audience`) the client may request.
    #[serde(default)]
    pub allowed_audiences: Vec<String>,
    /// Audiences used when the request names none.
    #[serde(default)]
    pub default_audiences: Vec<String>,
    /// Token lifetime for this client in seconds (capped by `MAX_TOKEN_TTL`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_ttl: Option<u64>,
    /// A disabled client cannot authenticate.
    #[serde(default)]
    pub disabled: bool,
    /// May call the introspection endpoint (RFC 7662).
    #[serde(default)]
    pub introspect: bool,
    /// When not empty, the only tokens this client may introspect: those
    /// with at least one of these audiences. Any other token introspects as
    /// `{"active":false}` (RFC 7662 §2.2, RFC 9700 §4.10). Empty: every
    /// token of this issuer.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub introspect_audiences: Vec<String>,
    /// Static extra claims put in every token of this client. Names are
    /// checked by [`is_extra_claim_name`]: registered claims can never be
    /// overridden.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra_claims: BTreeMap<String, serde_json::Value>,
    /// Unix seconds of creation.
    pub created_at: u64,
    /// Unix seconds of the last change.
    #[serde(default)]
    pub updated_at: u64,
}

pub use edge_token_verify::grammar::{is_extra_claim_name, MAX_EXTRA_CLAIM_NAME, RESERVED_CLAIMS};

/// Longest serialised `extra_claims` object, in bytes (every token carries it).
pub const MAX_EXTRA_CLAIMS_BYTES: usize = 2048;

/// Checks that `claims`, serialised, fit in [`MAX_EXTRA_CLAIMS_BYTES`].
pub fn check_extra_claims_size(claims: &BTreeMap<String, serde_json::Value>) -> Result<(), String> {
    let size = serde_json::to_string(claims)
        .map_err(|e| e.to_string())?
        .len();
    if size > MAX_EXTRA_CLAIMS_BYTES {
        return Err(format!(
            "the extra claims take {size} bytes as JSON; at most {MAX_EXTRA_CLAIMS_BYTES} are allowed"
        ));
    }
    Ok(())
}

/// Longest client id a record may have (and a request may present).
pub const MAX_CLIENT_ID_LEN: usize = crate::credentials::MAX_CREDENTIAL_LEN;

/// Whether `id` may be a record's client id: 1 to [`MAX_CLIENT_ID_LEN`]
/// visible ASCII characters other than `"` and `\` (it appears unescaped
/// in tokens, twice).
pub fn is_record_client_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_CLIENT_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
}

/// Longest `ISSUER` accepted by the configuration.
pub const MAX_ISSUER_LEN: usize = 256;

/// The token budget: the largest claims JSON any record that passes
/// [`ClientRecord::validate`] can produce, with the longest issuer. Made of
/// the fixed claims (names, punctuation, two 20-digit times, a 22-character
/// `jti`), the issuer, the client id twice (`sub`, `client_id`), the
/// audiences (with quotes and commas), the scopes and the extra claims.
pub const MAX_CLAIMS_JSON_BYTES: usize = 160
    + MAX_ISSUER_LEN
    + 2 * MAX_CLIENT_ID_LEN
    + (MAX_AUDIENCE_BYTES + 3 * MAX_AUDIENCES + 2)
    + MAX_SCOPE_BYTES
    + MAX_EXTRA_CLAIMS_BYTES;

/// The largest token the issuer can mint: header with the longest `alg`
/// name and `kid`, the budgeted claims, a 64-byte (ES256/EdDSA) signature,
/// all base64url.
pub const MAX_MINTED_TOKEN_LEN: usize = (4 * (HEADER_JSON_BYTES + crate::token::MAX_KID_LEN))
    .div_ceil(3)
    + 1
    + (4 * MAX_CLAIMS_JSON_BYTES).div_ceil(3)
    + 1
    + 86;

/// The JOSE header `{"alg":"Ed25519","kid":"","typ":"at+jwt"}` without its kid.
const HEADER_JSON_BYTES: usize = 41;

// The issuer never mints a token its own verifier rejects as too large.
const _: () = assert!(MAX_MINTED_TOKEN_LEN <= crate::token::MAX_TOKEN_LEN);

/// Why a stored record cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordError {
    /// Not valid JSON for a record.
    Malformed(String),
    /// A version this build does not understand.
    UnsupportedVersion(u32),
    /// The record's `client_id` is not the one in its key.
    IdMismatch,
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordError::Malformed(e) => write!(f, "malformed client record: {e}"),
            RecordError::UnsupportedVersion(v) => {
                write!(f, "unsupported client record version {v}")
            }
            RecordError::IdMismatch => f.write_str("client record id does not match its key"),
        }
    }
}

impl ClientRecord {
    /// An enabled record with no secrets, scopes, audiences or claims,
    /// created at `now`: the starting point for building one.
    pub fn new(client_id: &str, name: &str, now: u64) -> Self {
        ClientRecord {
            version: RECORD_VERSION,
            client_id: client_id.to_owned(),
            name: name.to_owned(),
            secrets: Vec::new(),
            keys: Vec::new(),
            allowed_scopes: Vec::new(),
            default_scopes: Vec::new(),
            allowed_audiences: Vec::new(),
            default_audiences: Vec::new(),
            token_ttl: None,
            disabled: false,
            introspect: false,
            introspect_audiences: Vec::new(),
            extra_claims: BTreeMap::new(),
            created_at: now,
            updated_at: now,
        }
    }

    /// Parses and validates a stored record for `client_id`.
    pub fn from_json(client_id: &str, json: &str) -> Result<Self, RecordError> {
        let mut record: ClientRecord =
            serde_json::from_str(json).map_err(|e| RecordError::Malformed(e.to_string()))?;
        if !(RECORD_VERSION..=RECORD_VERSION_CLIENT_KEYS).contains(&record.version) {
            return Err(RecordError::UnsupportedVersion(record.version));
        }
        record.version = RECORD_VERSION;
        if record.client_id != client_id {
            return Err(RecordError::IdMismatch);
        }
        record.validate().map_err(RecordError::Malformed)?;
        Ok(record)
    }

    /// The rules every record obeys, checked by the CLI before it writes one
    /// and by the Worker when it reads one: a client id of at most
    /// [`MAX_CLIENT_ID_LEN`] visible ASCII characters, scope and audience
    /// lists within [`check_scopes`] / [`check_audiences`] (audiences each an
    /// absolute URI, [`is_absolute_uri`]), defaults among
    /// the allowed values, a positive lifetime, and extra claims within
    /// [`MAX_EXTRA_CLAIMS_BYTES`]. Together these bound the largest token
    /// the client can get below what verifiers accept (see
    /// [`MAX_CLAIMS_JSON_BYTES`]).
    pub fn validate(&self) -> Result<(), String> {
        if !is_record_client_id(&self.client_id) {
            return Err(format!(
                "client_id must be 1-{MAX_CLIENT_ID_LEN} visible ASCII characters without '\"' or '\\'"
            ));
        }
        if self.token_ttl == Some(0) {
            return Err("token_ttl must be positive".to_owned());
        }
        if !self.keys.is_empty() && !self.secrets.is_empty() {
            return Err(
                "a client authenticates with secrets or with keys (private_key_jwt), not both"
                    .to_owned(),
            );
        }
        check_client_keys(&self.keys)?;
        for (what, list) in [
            ("allowed scopes", &self.allowed_scopes),
            ("default scopes", &self.default_scopes),
        ] {
            check_scopes(list.iter().map(String::as_str))
                .map_err(|e| format!("{what}: {}", e.scope_message()))?;
        }
        if let Some(extra) = self
            .default_scopes
            .iter()
            .find(|s| !self.allowed_scopes.contains(s))
        {
            return Err(format!(
                "default scope {extra:?} is not among the allowed scopes"
            ));
        }
        for (what, list) in [
            ("allowed audiences", &self.allowed_audiences),
            ("default audiences", &self.default_audiences),
            ("introspection audiences", &self.introspect_audiences),
        ] {
            check_audiences(list.iter().map(String::as_str))
                .map_err(|e| format!("{what}: {}", e.audience_message()))?;
            if let Some(bad) = list.iter().find(|a| !is_absolute_uri(a)) {
                return Err(format!(
                    "{what}: {bad:?} is not an absolute URI without a fragment"
                ));
            }
        }
        if let Some(extra) = self
            .default_audiences
            .iter()
            .find(|a| !self.allowed_audiences.contains(a))
        {
            return Err(format!(
                "default audience {extra:?} is not among the allowed audiences"
            ));
        }
        if let Some(bad) = self.extra_claims.keys().find(|k| !is_extra_claim_name(k)) {
            return Err(format!("extra claim name {bad:?} is not allowed"));
        }
        check_extra_claims_size(&self.extra_claims)
    }

    /// Whether this client may learn about a token with audiences `aud`
    /// through introspection: always when it has no introspection
    /// audiences, else when `aud` names at least one of them.
    pub fn may_introspect(&self, aud: &crate::token::Audience) -> bool {
        self.introspect_audiences.is_empty()
            || self.introspect_audiences.iter().any(|i| aud.contains(i))
    }

    /// Serialises the record for storage, as the lowest version that holds
    /// it: [`RECORD_VERSION_CLIENT_KEYS`] once it has keys,
    /// [`RECORD_VERSION_INTROSPECT_AUDIENCES`] once it has introspection
    /// audiences, so no older reader can ignore them.
    pub fn to_json(&self) -> String {
        let version = if !self.keys.is_empty() {
            RECORD_VERSION_CLIENT_KEYS
        } else if !self.introspect_audiences.is_empty() {
            RECORD_VERSION_INTROSPECT_AUDIENCES
        } else {
            RECORD_VERSION
        };
        let stored;
        let record = if version == self.version {
            self
        } else {
            stored = ClientRecord {
                version,
                ..self.clone()
            };
            &stored
        };
        // A record holds only strings, numbers and bools: serialisation cannot fail.
        serde_json::to_string(record).unwrap_or_default()
    }

    /// The record without secret digests, for display.
    pub fn public_view(&self) -> serde_json::Value {
        serde_json::json!({
            "client_id": self.client_id,
            "name": self.name,
            "disabled": self.disabled,
            "allowed_scopes": self.allowed_scopes,
            "default_scopes": self.default_scopes,
            "allowed_audiences": self.allowed_audiences,
            "default_audiences": self.default_audiences,
            "token_ttl": self.token_ttl,
            "introspect": self.introspect,
            "introspect_audiences": self.introspect_audiences,
            "introspect_reach": if !self.introspect {
                "none (introspection not allowed)"
            } else if self.introspect_audiences.is_empty() {
                "every token of this issuer (no --introspect-audience)"
            } else {
                "tokens with one of introspect_audiences"
            },
            "extra_claims": self.extra_claims,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "token_endpoint_auth_method": self.auth_method_name(),
            "secrets": self.secrets.iter().map(|s| serde_json::json!({
                "created_at": s.created_at,
                "expires_at": s.expires_at,
            })).collect::<Vec<_>>(),
            "keys": self.keys.iter().map(|k| serde_json::json!({
                "kid": k.kid,
                "alg": k.alg,
                "created_at": k.created_at,
            })).collect::<Vec<_>>(),
        })
    }

    /// Whether the client authenticates with `private_key_jwt`.
    pub fn uses_keys(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The RFC 7591 name of how this client authenticates.
    pub fn auth_method_name(&self) -> &'static str {
        if self.uses_keys() {
            "private_key_jwt"
        } else {
            "client_secret_basic"
        }
    }

    /// Adds a public key (rotation: the old one stays until removed). Fails
    /// on a duplicate kid or when the client already holds
    /// [`MAX_CLIENT_KEYS`].
    pub fn add_key(&mut self, key: ClientKey, now: u64) -> Result<(), String> {
        if !self.secrets.is_empty() {
            return Err("this client authenticates with a secret, not with keys".to_owned());
        }
        if self.keys.iter().any(|k| k.kid == key.kid) {
            return Err(format!(
                "the client already has a key with kid {:?}",
                key.kid
            ));
        }
        if self.keys.len() >= MAX_CLIENT_KEYS {
            return Err(format!(
                "the client already holds {MAX_CLIENT_KEYS} keys: remove one first"
            ));
        }
        key.validate()?;
        self.keys.push(key);
        self.updated_at = now;
        Ok(())
    }

    /// Removes the key `kid`; the last key cannot be removed (the client
    /// could never authenticate again: delete or disable it instead).
    pub fn remove_key(&mut self, kid: &str, now: u64) -> Result<(), String> {
        let Some(i) = self.keys.iter().position(|k| k.kid == kid) else {
            return Err(format!("the client has no key with kid {kid:?}"));
        };
        if self.keys.len() == 1 {
            return Err(
                "this is the client's only key: add its successor first (or disable the client)"
                    .to_owned(),
            );
        }
        self.keys.remove(i);
        self.updated_at = now;
        Ok(())
    }

    /// Replaces the client's secrets for rotation: the newest current secret
    /// stays valid until `now + grace`, `new_digest` becomes current, and
    /// expired secrets are dropped. If that would leave more than
    /// [`MAX_SECRETS`] active secrets, fails unless `force`, which drops the
    /// oldest.
    pub fn rotate_secret(
        &mut self,
        new_digest: SecretHash,
        now: u64,
        grace: u64,
        force: bool,
    ) -> Result<(), RotateError> {
        let mut kept: Vec<SecretEntry> = self
            .secrets
            .iter()
            .filter(|s| s.is_active(now))
            .cloned()
            .collect();
        kept.sort_by_key(|s| std::cmp::Reverse(s.created_at));
        if kept.len() >= MAX_SECRETS && !force {
            return Err(RotateError::TooManyActive);
        }
        kept.truncate(MAX_SECRETS - 1);
        for s in &mut kept {
            let until = now.saturating_add(grace);
            s.expires_at = Some(s.expires_at.map_or(until, |e| e.min(until)));
        }
        kept.retain(|s| s.is_active(now));
        kept.insert(
            0,
            SecretEntry {
                digest: new_digest,
                created_at: now,
                expires_at: None,
            },
        );
        self.secrets = kept;
        self.updated_at = now;
        Ok(())
    }
}

/// Why a rotation was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotateError {
    /// Two secrets are already active; another rotation would cut one off early.
    TooManyActive,
}

/// Checks a presented secret in constant time.
///
/// The digest is computed and compared against every stored secret (or a
/// dummy on a miss) whatever the outcome, so an unknown client, a wrong
/// secret, an expired secret and a disabled client take the same path and
/// return the same `false`.
pub fn authenticate(
    record: Option<&ClientRecord>,
    client_id: &str,
    secret: &ClientSecret,
    now: u64,
) -> bool {
    let presented = SecretHash::compute(client_id, secret);
    let Some(record) = record else {
        let _ = presented.ct_eq(&DUMMY_HASH);
        return false;
    };
    let mut matched = Choice::from(0);
    for entry in &record.secrets {
        let active = Choice::from(u8::from(entry.is_active(now)));
        matched |= presented.ct_eq(&entry.digest) & active;
    }
    bool::from(matched) && !record.disabled
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::OsRandom;

    fn record_with(secret: &ClientSecret) -> ClientRecord {
        ClientRecord {
            secrets: vec![SecretEntry {
                digest: SecretHash::compute("etc_x", secret),
                created_at: 10,
                expires_at: None,
            }],
            allowed_scopes: vec!["read".into()],
            default_scopes: vec!["read".into()],
            ..ClientRecord::new("etc_x", "test", 10)
        }
    }

    #[test]
    fn generated_ids_and_secrets_are_urlencode_invariant() {
        let id = generate_client_id(&OsRandom).unwrap();
        let secret = generate_client_secret(&OsRandom).unwrap();
        assert!(id.starts_with(CLIENT_ID_PREFIX) && id.len() == 4 + 22);
        assert!(
            secret.expose().starts_with(CLIENT_SECRET_PREFIX) && secret.expose().len() == 4 + 43
        );
        for s in [id.as_str(), secret.expose()] {
            assert_eq!(crate::form::encode_component(s), s);
        }
    }

    #[test]
    fn authenticate_right_secret_succeeds() {
        let s = generate_client_secret(&OsRandom).unwrap();
        assert!(authenticate(Some(&record_with(&s)), "etc_x", &s, 100));
    }

    #[test]
    fn authenticate_wrong_secret_or_unknown_client_fails() {
        let s = generate_client_secret(&OsRandom).unwrap();
        let other = generate_client_secret(&OsRandom).unwrap();
        assert!(!authenticate(Some(&record_with(&s)), "etc_x", &other, 100));
        assert!(!authenticate(None, "etc_x", &s, 100));
    }

    #[test]
    fn authenticate_digest_is_bound_to_client_id() {
        let s = generate_client_secret(&OsRandom).unwrap();
        let mut r = record_with(&s);
        r.client_id = "etc_y".into();
        assert!(!authenticate(Some(&r), "etc_y", &s, 100));
    }

    #[test]
    fn authenticate_disabled_or_expired_fails() {
        let s = generate_client_secret(&OsRandom).unwrap();
        let mut r = record_with(&s);
        r.disabled = true;
        assert!(!authenticate(Some(&r), "etc_x", &s, 100));
        let mut r = record_with(&s);
        r.secrets[0].expires_at = Some(100);
        assert!(authenticate(Some(&r), "etc_x", &s, 99));
        assert!(!authenticate(Some(&r), "etc_x", &s, 100));
    }

    #[test]
    fn rotate_keeps_old_secret_for_grace_then_drops_it() {
        let old = generate_client_secret(&OsRandom).unwrap();
        let new = generate_client_secret(&OsRandom).unwrap();
        let mut r = record_with(&old);
        r.rotate_secret(SecretHash::compute("etc_x", &new), 1000, 60, false)
            .unwrap();
        assert_eq!(r.secrets.len(), 2);
        assert!(authenticate(Some(&r), "etc_x", &old, 1059));
        assert!(!authenticate(Some(&r), "etc_x", &old, 1060));
        assert!(authenticate(Some(&r), "etc_x", &new, 5000));
        // A second rotation while two are active is refused without force.
        let third = generate_client_secret(&OsRandom).unwrap();
        let third_hash = SecretHash::compute("etc_x", &third);
        assert_eq!(
            r.rotate_secret(third_hash, 1010, 60, false),
            Err(RotateError::TooManyActive)
        );
        r.rotate_secret(third_hash, 1010, 60, true).unwrap();
        assert_eq!(r.secrets.len(), 2);
        assert!(!authenticate(Some(&r), "etc_x", &old, 1011));
        assert!(authenticate(Some(&r), "etc_x", &new, 1069));
        assert!(authenticate(Some(&r), "etc_x", &third, 1011));
    }

    #[test]
    fn rotate_with_zero_grace_revokes_old_at_once() {
        let old = generate_client_secret(&OsRandom).unwrap();
        let new = generate_client_secret(&OsRandom).unwrap();
        let mut r = record_with(&old);
        r.rotate_secret(SecretHash::compute("etc_x", &new), 1000, 0, false)
            .unwrap();
        assert_eq!(r.secrets.len(), 1);
        assert!(!authenticate(Some(&r), "etc_x", &old, 1000));
    }

    #[test]
    fn record_round_trips_and_rejects_corruption() {
        let s = generate_client_secret(&OsRandom).unwrap();
        let r = record_with(&s);
        assert_eq!(ClientRecord::from_json("etc_x", &r.to_json()).unwrap(), r);
        assert!(matches!(
            ClientRecord::from_json("etc_x", "{"),
            Err(RecordError::Malformed(_))
        ));
        assert_eq!(
            ClientRecord::from_json("etc_other", &r.to_json()),
            Err(RecordError::IdMismatch)
        );
        let v99 = r.to_json().replace("\"version\":1", "\"version\":99");
        assert_eq!(
            ClientRecord::from_json("etc_x", &v99),
            Err(RecordError::UnsupportedVersion(99))
        );
        let bad_digest = r
            .to_json()
            .replace(&URL_SAFE_NO_PAD.encode(r.secrets[0].digest.0), "AAAA");
        assert!(matches!(
            ClientRecord::from_json("etc_x", &bad_digest),
            Err(RecordError::Malformed(_))
        ));
    }

    #[test]
    fn introspect_audiences_are_written_as_version_2_and_read_back() {
        let mut r = ClientRecord::new("etc_x", "x", 1);
        r.introspect = true;
        let v: serde_json::Value = serde_json::from_str(&r.to_json()).unwrap();
        assert_eq!(v["version"], RECORD_VERSION);
        r.introspect_audiences = vec!["https://api.example".into()];
        let json = r.to_json();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["version"], RECORD_VERSION_INTROSPECT_AUDIENCES);
        let back = ClientRecord::from_json("etc_x", &json).unwrap();
        assert_eq!(back.introspect_audiences, r.introspect_audiences);
        let v4 = json.replace("\"version\":2", "\"version\":4");
        assert_eq!(
            ClientRecord::from_json("etc_x", &v4),
            Err(RecordError::UnsupportedVersion(4))
        );
    }

    fn ec_key(kid: &str) -> ClientKey {
        ClientKey::from_jwk(
            &serde_json::json!({
                "kty": "EC", "crv": "P-256", "kid": kid,
                "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
            }),
            None,
            1,
        )
        .unwrap()
    }

    #[test]
    fn key_clients_are_version_3_and_rotate_with_overlap() {
        let mut r = ClientRecord::new("etc_x", "x", 1);
        r.add_key(ec_key("k1"), 2).unwrap();
        assert!(r.uses_keys());
        assert_eq!(r.auth_method_name(), "private_key_jwt");
        let json = r.to_json();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["version"], RECORD_VERSION_CLIENT_KEYS);
        assert_eq!(
            ClientRecord::from_json("etc_x", &json).unwrap().keys,
            r.keys
        );
        assert!(r.add_key(ec_key("k1"), 3).unwrap_err().contains("already"));
        r.add_key(ec_key("k2"), 3).unwrap();
        r.add_key(ec_key("k3"), 3).unwrap();
        assert!(r
            .add_key(ec_key("k4"), 3)
            .unwrap_err()
            .contains("remove one"));
        r.remove_key("k1", 4).unwrap();
        r.remove_key("k2", 4).unwrap();
        assert!(r.remove_key("k3", 4).unwrap_err().contains("only key"));
        assert!(r.remove_key("nope", 4).unwrap_err().contains("no key"));
        let view = r.public_view();
        assert_eq!(view["keys"][0]["kid"], "k3");
        assert_eq!(view["token_endpoint_auth_method"], "private_key_jwt");
        assert!(view["keys"][0].get("x").is_none());
    }

    #[test]
    fn a_client_has_secrets_or_keys_never_both() {
        let secret = generate_client_secret(&OsRandom).unwrap();
        let mut r = record_with(&secret);
        assert!(r.add_key(ec_key("k1"), 2).is_err());
        r.keys.push(ec_key("k1"));
        assert!(r.validate().unwrap_err().contains("not both"));
        let json = serde_json::to_string(&r).unwrap();
        assert!(ClientRecord::from_json("etc_x", &json).is_err());
    }

    #[test]
    fn header_budget_matches_the_minted_header() {
        // The longest algorithm name sets the budget.
        let longest = crate::token::Algorithm::ALL
            .iter()
            .map(|alg| {
                let header = serde_json::json!({"alg": alg.name(), "typ": "at+jwt", "kid": ""});
                header.to_string().len()
            })
            .max();
        assert_eq!(longest, Some(HEADER_JSON_BYTES));
    }

    #[test]
    fn public_view_has_no_digest() {
        let s = generate_client_secret(&OsRandom).unwrap();
        let r = record_with(&s);
        let view = r.public_view().to_string();
        assert!(!view.contains(&URL_SAFE_NO_PAD.encode(r.secrets[0].digest.0)));
        assert!(!view.contains("digest"));
    }
}
