//! Client commands: records from options, validated by the Worker's own
//! rules ([`ClientRecord::validate`]), read and written through wrangler.

use std::collections::BTreeMap;

use edge_token_core::client::{
    check_extra_claims_size, generate_client_id, generate_client_secret, is_extra_claim_name,
    record_key, ClientRecord, RotateError, SecretEntry, SecretHash, KEY_PREFIX,
    MAX_EXTRA_CLAIM_NAME, RECORD_VERSION, RESERVED_CLAIMS,
};
use edge_token_core::client_key::{ClientKey, ClientKeyAlg, MAX_CLIENT_KEYS};
use edge_token_core::config::{
    DEFAULT_CLIENT_CACHE_TTL, DEFAULT_KV_CACHE_TTL, DEFAULT_MAX_TOKEN_TTL,
};
use edge_token_core::credentials::ClientSecret;
use edge_token_core::random::OsRandom;
use edge_token_core::scope::{
    is_absolute_uri, is_audience, is_scope_token, split_list, MAX_AUDIENCE_LEN,
};
use serde_json::Value;

use crate::args::{
    AddKeyArgs, AuthMethod, ClientCommand, CreateArgs, DeleteArgs, RemoveKeyArgs, StoreArgs,
    UpdateArgs,
};
use crate::wrangler::Store;
use crate::{note, now, pretty};

/// `30`, `30s`, `15m`, `24h`, `7d` to seconds.
pub(crate) fn parse_duration(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&text[..i], c),
        _ => (text, 's'),
    };
    let multiplier = match unit {
        's' => 1,
        'm' => 60,
        'h' => 3600,
        'd' => 86400,
        _ => {
            return Err(format!(
                "bad duration {text:?}: use seconds or a number with s, m, h or d"
            ))
        }
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(multiplier))
        .ok_or_else(|| format!("bad duration {text:?}: use seconds or a number with s, m, h or d"))
}

// ---------------------------------------------------------------------------
// Client records: option parsing and validation (no store involved).
// ---------------------------------------------------------------------------

fn split_scopes(values: Vec<String>) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for token in values.iter().flat_map(|v| split_list(v)) {
        if !is_scope_token(token) {
            return Err(format!(
                "invalid scope {token:?}: printable ASCII without spaces, quotes or backslashes"
            ));
        }
        if !out.iter().any(|s| s == token) {
            out.push(token.to_owned());
        }
    }
    Ok(out)
}

/// Audience option values of `flag`: each an audience as the Worker accepts
/// it ([`is_audience`], at most [`MAX_AUDIENCE_LEN`] bytes) and, as every
/// registered audience, an absolute URI; `""` stands for
/// none. Repeats are dropped. How many a list may hold is [`check_record`]'s.
fn parse_audiences(flag: &str, values: Vec<String>) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for aud in values.into_iter().filter(|a| !a.is_empty()) {
        if aud.len() > MAX_AUDIENCE_LEN {
            return Err(format!(
                "{flag} value of {} bytes is too long: an audience takes at most {MAX_AUDIENCE_LEN} bytes",
                aud.len()
            ));
        }
        if !is_absolute_uri(&aud) || !is_audience(&aud) {
            return Err(format!("{flag} {aud:?} must be an absolute URI without a fragment, quotes or backslashes (e.g. https://api.example.com)"));
        }
        if !out.contains(&aud) {
            out.push(aud);
        }
    }
    Ok(out)
}

fn parse_name(name: &str) -> Result<String, String> {
    let name = name.trim();
    if name.is_empty() || name.len() > 200 {
        return Err("--name must be 1-200 bytes".to_owned());
    }
    Ok(name.to_owned())
}

/// What a DURATION is, for the messages of every option that takes one.
const DURATION_FORMAT: &str = "seconds or a number with s, m, h or d (90, 15m, 24h, 7d)";

/// `--ttl` of `client create`: a DURATION greater than 0.
fn parse_ttl(text: &str) -> Result<u64, String> {
    parse_duration(text)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("bad --ttl {text:?}: a DURATION greater than 0, {DURATION_FORMAT}"))
}

/// `--ttl` of `client update`: a DURATION greater than 0, or `default`
/// (`None`: back to `TOKEN_TTL`).
fn parse_update_ttl(text: &str) -> Result<Option<u64>, String> {
    if text == "default" {
        return Ok(None);
    }
    parse_ttl(text)
        .map(Some)
        .map_err(|e| format!("{e}; or `default` for TOKEN_TTL"))
}

/// `--grace`: a DURATION (0 ends the previous secret at once).
fn parse_grace(text: &str) -> Result<u64, String> {
    parse_duration(text).map_err(|_| format!("bad --grace {text:?}: a DURATION, {DURATION_FORMAT}"))
}

/// The warning for a `--ttl` the Worker will not honour in full: every
/// lifetime is capped at `MAX_TOKEN_TTL` when a token is issued.
fn ttl_warning(ttl: Option<u64>, max_token_ttl: u64) -> Option<String> {
    ttl.filter(|t| *t > max_token_ttl).map(|t| {
        format!(
            "warning: --ttl {t} s is above MAX_TOKEN_TTL ({max_token_ttl} s): tokens are capped at MAX_TOKEN_TTL; the record keeps {t} s"
        )
    })
}

fn check_claim_name(name: &str) -> Result<(), String> {
    if is_extra_claim_name(name) {
        return Ok(());
    }
    if RESERVED_CLAIMS.iter().any(|r| r.eq_ignore_ascii_case(name)) {
        Err(format!(
            "claim name {name:?} is reserved: registered claims like iss, sub, aud, exp, scope and client_id cannot be overridden"
        ))
    } else {
        Err(format!(
            "claim name {name:?} is not allowed: use 1-{MAX_EXTRA_CLAIM_NAME} characters of A-Z a-z 0-9 _ - . : not starting with a digit (registered claims like iss, sub, aud, exp, scope and client_id cannot be overridden)"
        ))
    }
}

/// A `--claim` value: JSON when it is a number, bool, array, object or quoted
/// string; anything else (including `null`) is taken as a plain string.
fn parse_claim_value(raw: &str) -> Value {
    match serde_json::from_str::<Value>(raw) {
        Ok(v) if !v.is_null() => v,
        _ => Value::String(raw.to_owned()),
    }
}

/// `--claim NAME=VALUE` options; a name may be given once.
fn parse_claims(values: Vec<String>) -> Result<BTreeMap<String, Value>, String> {
    let mut out = BTreeMap::new();
    for arg in values {
        let (name, raw) = arg
            .split_once('=')
            .ok_or_else(|| format!("--claim {arg:?} must be NAME=VALUE"))?;
        check_claim_name(name)?;
        if out
            .insert(name.to_owned(), parse_claim_value(raw))
            .is_some()
        {
            return Err(format!("--claim {name} given more than once"));
        }
    }
    check_extra_claims_size(&out)?;
    Ok(out)
}

/// The rules every record the CLI writes must meet: exactly the Worker's,
/// [`ClientRecord::validate`] (which it applies to every record it reads),
/// so the CLI never writes a record the Worker refuses, and no rule is
/// written twice. A refusal names the options to change
/// ([`validate_hint`]). Single values (scope syntax, audience syntax and
/// length, `--ttl`, claim names, `--name`) are refused earlier, when the
/// options are parsed.
fn check_record(r: &ClientRecord) -> Result<(), String> {
    parse_name(&r.name)?;
    r.validate().map_err(|e| {
        let hint = validate_hint(&e)
            .map(|flags| format!(" (change {flags})"))
            .unwrap_or_default();
        format!("refusing a client record the Worker would reject: {e}{hint}")
    })
}

/// The options behind a [`ClientRecord::validate`] message, by the record
/// field it starts with; `None` when it names none the CLI sets.
fn validate_hint(message: &str) -> Option<&'static str> {
    const HINTS: &[(&str, &str)] = &[
        ("allowed scope", "--scope"),
        ("default scope", "--default-scope"),
        ("allowed audience", "--audience"),
        ("default audience", "--default-audience"),
        ("introspection audience", "--introspect-audience"),
        ("token_ttl", "--ttl"),
        ("extra claim", "--claim, --remove-claim or --clear-claims"),
        (
            "the extra claims",
            "--claim, --remove-claim or --clear-claims",
        ),
        ("a client holds at most", "--jwk"),
        ("two keys have the kid", "--jwk"),
    ];
    HINTS
        .iter()
        .find(|(start, _)| message.starts_with(start))
        .map(|(_, flags)| *flags)
}

/// The most bytes a `--jwk` file may hold (three 4096-bit RSA keys in a
/// JWK Set take about 2.5 KB).
const MAX_JWK_FILE: u64 = 64 * 1024;

/// The public keys of the `--jwk` FILE. An error names the file and the
/// rule broken, never what the file holds (it may be a private key).
fn read_jwk_file(
    path: &str,
    alg: Option<ClientKeyAlg>,
    now: u64,
) -> Result<Vec<ClientKey>, String> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read --jwk {path}: {e}"))?;
    let mut bytes = Vec::new();
    file.take(MAX_JWK_FILE + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read --jwk {path}: {e}"))?;
    if bytes.len() as u64 > MAX_JWK_FILE {
        return Err(format!(
            "--jwk {path} is larger than {MAX_JWK_FILE} bytes: give one public JWK or a JWK Set"
        ));
    }
    let text = String::from_utf8(bytes).map_err(|_| {
        format!("--jwk {path} is not UTF-8 text: give a public JWK or a JWK Set (JSON)")
    })?;
    parse_jwks(path, &text, alg, now)
}

/// The public keys of a `--jwk` file's `text`. `--alg` is only for an RSA
/// key whose JWK has no `alg`: given for a file that needs none, it is
/// refused (it would be ignored).
fn parse_jwks(
    path: &str,
    text: &str,
    alg: Option<ClientKeyAlg>,
    now: u64,
) -> Result<Vec<ClientKey>, String> {
    let context = |e: String| format!("--jwk {path}: {e}");
    match (ClientKey::parse_jwk_or_set(text, None, now), alg) {
        (Ok(keys), None) => Ok(keys),
        (Ok(_), Some(alg)) => Err(format!(
            "--alg {alg} applies only to an RSA key whose JWK has no \"alg\", and {path} has none: drop --alg"
        )),
        (Err(e), None) if e.contains("RSA key has no \"alg\"") => {
            Err(context(format!("{e}: pass --alg RS256 or --alg PS256")))
        }
        (Err(e), None) => Err(context(e)),
        (Err(_), Some(alg)) => ClientKey::parse_jwk_or_set(text, Some(alg), now).map_err(context),
    }
}

/// How a new client authenticates.
enum Credential {
    /// The digest of its generated secret.
    Secret(SecretHash),
    /// Its public keys (private_key_jwt).
    Keys(Vec<ClientKey>),
}

/// The credential `client create` registers: a new secret (returned too,
/// to be printed once) or the keys of `--jwk`. Checked before wrangler is
/// looked for.
fn new_credential(
    args: &CreateArgs,
    client_id: &str,
    now: u64,
) -> Result<(Credential, Option<ClientSecret>), String> {
    match (args.auth, args.keys.jwk.as_deref()) {
        (AuthMethod::ClientSecret, Some(_)) => Err(
            "--jwk needs --auth private_key_jwt: a client authenticates with a secret or with keys, not both"
                .to_owned(),
        ),
        (AuthMethod::ClientSecret, None) => {
            let secret = generate_client_secret(&OsRandom).map_err(|e| e.to_string())?;
            let digest = SecretHash::compute(client_id, &secret);
            Ok((Credential::Secret(digest), Some(secret)))
        }
        (AuthMethod::PrivateKeyJwt, None) => Err(
            "--auth private_key_jwt needs --jwk FILE: the client's public JWK or JWK Set"
                .to_owned(),
        ),
        (AuthMethod::PrivateKeyJwt, Some(path)) => {
            let keys = read_jwk_file(path, args.keys.alg, now)?;
            Ok((Credential::Keys(keys), None))
        }
    }
}

/// A new record from `client create` options.
fn new_record(
    args: &CreateArgs,
    client_id: &str,
    credential: Credential,
    now: u64,
) -> Result<ClientRecord, String> {
    let a = &args.record;
    let name = a.name.as_deref().ok_or("client create needs --name NAME")?;
    let name = parse_name(name)?;
    let allowed_scopes = split_scopes(a.scope.clone())?;
    let default_scopes = match &a.default_scope {
        Some(d) => split_scopes(vec![d.clone()])?,
        None => allowed_scopes.clone(),
    };
    let allowed_audiences = parse_audiences("--audience", a.audience.clone())?;
    let mut default_audiences = parse_audiences("--default-audience", a.default_audience.clone())?;
    // One --audience is also the default unless --default-audience is
    // given at all: `--default-audience ""` means no default, as at update.
    if a.default_audience.is_empty() && allowed_audiences.len() == 1 {
        default_audiences = allowed_audiences.clone();
    }
    let introspect = a.introspect;
    let introspect_audiences =
        parse_audiences("--introspect-audience", a.introspect_audience.clone())?;
    if !a.introspect_audience.is_empty() && !introspect {
        return Err("--introspect-audience needs --introspect: it narrows which tokens the client may introspect, and without --introspect it may introspect none".to_owned());
    }
    let token_ttl = a.ttl.as_deref().map(parse_ttl).transpose()?;
    let extra_claims = parse_claims(a.claim.clone())?;
    let (secrets, keys) = match credential {
        Credential::Secret(digest) => (
            vec![SecretEntry {
                digest,
                created_at: now,
                expires_at: None,
            }],
            Vec::new(),
        ),
        Credential::Keys(keys) => (Vec::new(), keys),
    };
    let record = ClientRecord {
        version: RECORD_VERSION,
        client_id: client_id.to_owned(),
        name,
        secrets,
        keys,
        allowed_scopes,
        default_scopes,
        allowed_audiences,
        default_audiences,
        token_ttl,
        disabled: false,
        introspect,
        introspect_audiences,
        extra_claims,
        created_at: now,
        updated_at: now,
    };
    check_record(&record)?;
    Ok(record)
}

/// What `client create` prints: the record as `client show` prints it
/// ([`ClientRecord::public_view`], one schema everywhere) and the secret,
/// shown this once.
fn create_output(record: &ClientRecord, secret: &str) -> Result<Value, String> {
    let mut view = record.public_view();
    view.as_object_mut()
        .ok_or("the public view of a record is not a JSON object")?
        .insert("client_secret".to_owned(), Value::String(secret.to_owned()));
    Ok(view)
}

/// `client create`: the options (and the `--jwk` file) are checked before
/// wrangler is looked for. A key client's output is its record as `client
/// show` prints it: it has no secret.
fn client_create(args: &CreateArgs) -> Result<String, String> {
    let now = now();
    let client_id = generate_client_id(&OsRandom).map_err(|e| e.to_string())?;
    let (credential, secret) = new_credential(args, &client_id, now)?;
    let record = new_record(args, &client_id, credential, now)?;
    let store = Store::from_args(&args.store)?;
    let max_token_ttl = store.seconds("MAX_TOKEN_TTL", DEFAULT_MAX_TOKEN_TTL);
    if let Some(warning) = ttl_warning(record.token_ttl, max_token_ttl) {
        note(&warning);
    }
    store.save(&record)?;
    match secret {
        Some(secret) => pretty(&create_output(&record, secret.expose())?),
        None => pretty(&record.public_view()),
    }
}

/// What `client rotate-secret` says to a key client.
fn no_secret_to_rotate(id: &str) -> String {
    format!(
        "client {id} authenticates with private_key_jwt and has no secret to rotate: rotate its keys with client add-key {id} --jwk FILE, then client remove-key {id} OLD_KID"
    )
}

/// `client add-key`: the record with every key of `keys` added, checked
/// as the Worker checks it. A secret client is refused (a client has a
/// secret or keys), and so is a key already registered under another kid.
fn with_keys(
    record: &ClientRecord,
    keys: Vec<ClientKey>,
    now: u64,
) -> Result<ClientRecord, String> {
    let id = &record.client_id;
    if !record.uses_keys() {
        return Err(format!(
            "client {id} authenticates with a client secret, and a client has a secret or keys, never both: create a new client with --auth private_key_jwt"
        ));
    }
    let total = record.keys.len().saturating_add(keys.len());
    if total > MAX_CLIENT_KEYS {
        return Err(format!(
            "client {id} holds {} key(s); adding {} would make {total}, and a client holds at most {MAX_CLIENT_KEYS}: client remove-key {id} KID first",
            record.keys.len(),
            keys.len()
        ));
    }
    let mut r = record.clone();
    for key in keys {
        if let Some(same) = r.keys.iter().find(|k| k.thumbprint() == key.thumbprint()) {
            return Err(format!(
                "client {id} already has this public key, as kid {:?}",
                same.kid
            ));
        }
        r.add_key(key, now)
            .map_err(|e| format!("client {id}: {e}"))?;
    }
    check_record(&r)?;
    Ok(r)
}

/// `client remove-key`: the record without the key `kid` (never its last).
fn without_key(record: &ClientRecord, kid: &str, now: u64) -> Result<ClientRecord, String> {
    let id = &record.client_id;
    if !record.uses_keys() {
        return Err(format!(
            "client {id} has no keys: it authenticates with a client secret"
        ));
    }
    let mut r = record.clone();
    r.remove_key(kid, now)
        .map_err(|e| format!("client {id}: {e}"))?;
    check_record(&r)?;
    Ok(r)
}

/// `client add-key`: the `--jwk` file is read before wrangler is looked for.
fn client_add_key(args: &AddKeyArgs) -> Result<String, String> {
    let now = now();
    let keys = read_jwk_file(&args.jwk, args.alg, now)?;
    let kids: Vec<String> = keys.iter().map(|k| format!("{:?}", k.kid)).collect();
    let store = Store::from_args(&args.store)?;
    let id = &args.id;
    let record = with_keys(&store.load(id)?, keys, now)?;
    store.save(&record)?;
    note(&format!(
        "client {id}: key {} added; {}. To rotate: then switch the client to the new key, and remove the old one (client remove-key {id} OLD_KID)",
        kids.join(", "),
        consistency_window(&store)
    ));
    pretty(&record.public_view())
}

/// `client remove-key`.
fn client_remove_key(args: &RemoveKeyArgs) -> Result<String, String> {
    let store = Store::from_args(&args.store)?;
    let id = &args.id;
    let record = without_key(&store.load(id)?, &args.kid, now())?;
    store.save(&record)?;
    note(&format!(
        "client {id}: key {:?} removed; {}",
        args.kid,
        consistency_window(&store)
    ));
    pretty(&record.public_view())
}

/// The options of `client update` that change the record, as `--a, --b or
/// --c` (from the declaration in [`crate::args`], so the list cannot drift).
fn change_flags() -> String {
    use clap::Args as _;
    let store = StoreArgs::augment_args(clap::Command::new("store"));
    let update = UpdateArgs::augment_args(clap::Command::new("update"));
    let flags: Vec<String> = update
        .get_arguments()
        .filter(|a| !a.is_positional())
        .filter(|a| !store.get_arguments().any(|s| s.get_id() == a.get_id()))
        .filter_map(|a| a.get_long())
        .map(|long| format!("--{long}"))
        .collect();
    match flags.split_last() {
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// The changes `client update` makes; `None` fields are left as they are.
#[derive(Debug, Default)]
struct ClientUpdate {
    name: Option<String>,
    allowed_scopes: Option<Vec<String>>,
    default_scopes: Option<Vec<String>>,
    allowed_audiences: Option<Vec<String>>,
    default_audiences: Option<Vec<String>>,
    /// `Some(None)`: back to the configured `TOKEN_TTL`.
    token_ttl: Option<Option<u64>>,
    introspect: Option<bool>,
    introspect_audiences: Option<Vec<String>>,
    set_claims: BTreeMap<String, Value>,
    remove_claims: Vec<String>,
    clear_claims: bool,
}

impl ClientUpdate {
    fn from_args(args: &UpdateArgs) -> Result<Self, String> {
        let a = &args.record;
        let update = ClientUpdate {
            name: a.name.as_deref().map(parse_name).transpose()?,
            allowed_scopes: if a.scope.is_empty() {
                None
            } else {
                Some(split_scopes(a.scope.clone())?)
            },
            default_scopes: a
                .default_scope
                .as_ref()
                .map(|d| split_scopes(vec![d.clone()]))
                .transpose()?,
            allowed_audiences: if a.audience.is_empty() {
                None
            } else {
                Some(parse_audiences("--audience", a.audience.clone())?)
            },
            default_audiences: if a.default_audience.is_empty() {
                None
            } else {
                Some(parse_audiences(
                    "--default-audience",
                    a.default_audience.clone(),
                )?)
            },
            token_ttl: a.ttl.as_deref().map(parse_update_ttl).transpose()?,
            introspect: match (a.introspect, args.no_introspect) {
                (true, true) => {
                    return Err("choose one of --introspect and --no-introspect".to_owned())
                }
                (true, false) => Some(true),
                (false, true) => Some(false),
                (false, false) => None,
            },
            introspect_audiences: if a.introspect_audience.is_empty() {
                None
            } else {
                Some(parse_audiences(
                    "--introspect-audience",
                    a.introspect_audience.clone(),
                )?)
            },
            set_claims: parse_claims(a.claim.clone())?,
            remove_claims: {
                let mut names = args.remove_claim.clone();
                names.sort();
                names.dedup();
                names
            },
            clear_claims: args.clear_claims,
        };
        if update.clear_claims && !update.remove_claims.is_empty() {
            return Err(
                "--clear-claims already removes every claim; drop --remove-claim".to_owned(),
            );
        }
        if let Some(name) = update
            .remove_claims
            .iter()
            .find(|n| update.set_claims.contains_key(*n))
        {
            return Err(format!(
                "claim {name:?} is both set (--claim) and removed (--remove-claim)"
            ));
        }
        if update.is_empty() {
            return Err(format!(
                "client update needs at least one change: {}",
                change_flags()
            ));
        }
        Ok(update)
    }

    fn is_empty(&self) -> bool {
        self.name.is_none()
            && self.allowed_scopes.is_none()
            && self.default_scopes.is_none()
            && self.allowed_audiences.is_none()
            && self.default_audiences.is_none()
            && self.token_ttl.is_none()
            && self.introspect.is_none()
            && self.introspect_audiences.is_none()
            && self.set_claims.is_empty()
            && self.remove_claims.is_empty()
            && !self.clear_claims
    }

    /// The updated record, checked by the same rules as `client create`;
    /// `None` if the update changes nothing. Secrets are never touched.
    fn apply(&self, record: &ClientRecord, now: u64) -> Result<Option<ClientRecord>, String> {
        let mut r = record.clone();
        if let Some(name) = &self.name {
            r.name = name.clone();
        }
        if let Some(scopes) = &self.allowed_scopes {
            r.allowed_scopes = scopes.clone();
        }
        if let Some(scopes) = &self.default_scopes {
            r.default_scopes = scopes.clone();
        }
        if let Some(auds) = &self.allowed_audiences {
            r.allowed_audiences = auds.clone();
        }
        if let Some(auds) = &self.default_audiences {
            r.default_audiences = auds.clone();
        }
        if let Some(ttl) = self.token_ttl {
            r.token_ttl = ttl;
        }
        if let Some(introspect) = self.introspect {
            r.introspect = introspect;
        }
        if let Some(auds) = &self.introspect_audiences {
            // Clearing ("") is fine either way; a list only means something
            // for a client that may introspect.
            if !auds.is_empty() && !r.introspect {
                return Err(format!(
                    "--introspect-audience needs --introspect: client {} may not introspect (add --introspect)",
                    r.client_id
                ));
            }
            r.introspect_audiences = auds.clone();
        }
        if self.clear_claims {
            r.extra_claims.clear();
        }
        for name in &self.remove_claims {
            if r.extra_claims.remove(name).is_none() {
                return Err(format!(
                    "client {} has no claim {name:?} to remove",
                    r.client_id
                ));
            }
        }
        for (name, value) in &self.set_claims {
            r.extra_claims.insert(name.clone(), value.clone());
        }
        check_record(&r)?;
        if r == *record {
            return Ok(None);
        }
        r.updated_at = now;
        Ok(Some(r))
    }
}

/// `client rotate-secret` on `record`: the new secret, with the record
/// updated. A key client has no secret and is refused.
fn rotate(
    record: &mut ClientRecord,
    now: u64,
    grace: u64,
    force: bool,
) -> Result<ClientSecret, String> {
    let id = record.client_id.clone();
    if record.uses_keys() {
        return Err(no_secret_to_rotate(&id));
    }
    let secret = generate_client_secret(&OsRandom).map_err(|e| e.to_string())?;
    record
        .rotate_secret(SecretHash::compute(&id, &secret), now, grace, force)
        .map_err(|RotateError::TooManyActive| {
            format!("client {id} already has two active secrets; wait for the older to expire or pass --force to cut it off now")
        })?;
    Ok(secret)
}

fn client_rotate(store: &Store, id: &str, grace: u64, force: bool) -> Result<String, String> {
    let mut record = store.load(id)?;
    let secret = rotate(&mut record, now(), grace, force)?;
    store.save(&record)?;
    note(&format!(
        "client {id}: new secret stored; {} (until then some locations may refuse it)",
        consistency_window(store)
    ));
    let old_until = record.secrets.get(1).and_then(|s| s.expires_at);
    pretty(&serde_json::json!({
        "client_id": id,
        "client_secret": secret.expose(),
        "previous_secret_expires_at": old_until,
    }))
}

fn client_list(store: &Store) -> Result<String, String> {
    let out = store.wrangler(&["kv", "key", "list", "--prefix", KEY_PREFIX])?;
    let keys: Vec<Value> = serde_json::from_str(out.trim())
        .map_err(|e| format!("unexpected output from wrangler kv key list: {e}"))?;
    let clients: Vec<Value> = keys
        .iter()
        .filter_map(|k| {
            let key = k.get("name")?.as_str()?;
            let id = key.strip_prefix(KEY_PREFIX)?;
            let meta = k.get("metadata");
            Some(serde_json::json!({
                "client_id": id,
                "name": meta.and_then(|m| m.get("name")).cloned().unwrap_or_default(),
                "disabled": meta.and_then(|m| m.get("disabled")).cloned().unwrap_or_default(),
                // null for a record last written before the CLI kept it.
                "token_endpoint_auth_method": meta
                    .and_then(|m| m.get("token_endpoint_auth_method"))
                    .cloned()
                    .unwrap_or_default(),
            }))
        })
        .collect();
    pretty(&Value::Array(clients))
}

/// How long KV takes to carry a write to every location, about.
const KV_PROPAGATION: u64 = 60;

/// The time a client change takes to reach every location, for stderr:
/// KV's propagation, plus KV_CACHE_TTL (the Worker's KV read cache), plus
/// CLIENT_CACHE_TTL (a warm isolate's copy), with the values configured for
/// the Worker (wrangler.toml vars), else the defaults. The one place this
/// number is made.
fn consistency_window(store: &Store) -> String {
    let kv = store.seconds("KV_CACHE_TTL", DEFAULT_KV_CACHE_TTL);
    let client = store.seconds("CLIENT_CACHE_TTL", DEFAULT_CLIENT_CACHE_TTL);
    format!(
        "takes effect everywhere within about {} s ({KV_PROPAGATION} s KV propagation + KV_CACHE_TTL {kv} s + CLIENT_CACHE_TTL {client} s)",
        KV_PROPAGATION.saturating_add(kv).saturating_add(client)
    )
}

/// Runs a `client` command; its stdout on success.
pub fn run(command: ClientCommand) -> Result<String, String> {
    match command {
        ClientCommand::Create(args) => client_create(&args),
        ClientCommand::Update(args) => {
            let update = ClientUpdate::from_args(&args)?;
            let store = Store::from_args(&args.store)?;
            let id = &args.id;
            let record = store.load(id)?;
            match update.apply(&record, now())? {
                Some(updated) => {
                    let max_token_ttl = store.seconds("MAX_TOKEN_TTL", DEFAULT_MAX_TOKEN_TTL);
                    if let Some(warning) = ttl_warning(update.token_ttl.flatten(), max_token_ttl) {
                        note(&warning);
                    }
                    store.save(&updated)?;
                    note(&format!(
                        "client {id} updated; {}",
                        consistency_window(&store)
                    ));
                    pretty(&updated.public_view())
                }
                None => {
                    note(&format!("client {id} already matches; nothing written"));
                    pretty(&record.public_view())
                }
            }
        }
        ClientCommand::List(args) => client_list(&Store::from_args(&args.store)?),
        ClientCommand::Show(args) => {
            let record = Store::from_args(&args.store)?.load(&args.id)?;
            pretty(&record.public_view())
        }
        ClientCommand::Disable(args) => set_disabled(&args.id, &args.store, true),
        ClientCommand::Enable(args) => set_disabled(&args.id, &args.store, false),
        ClientCommand::Delete(args) => client_delete(&args),
        ClientCommand::RotateSecret(args) => {
            let grace = parse_grace(&args.grace)?;
            client_rotate(&Store::from_args(&args.store)?, &args.id, grace, args.force)
        }
        ClientCommand::AddKey(args) => client_add_key(&args),
        ClientCommand::RemoveKey(args) => client_remove_key(&args),
    }
}

/// `client disable` / `client enable`: writes only a change, and prints
/// `{"client_id", "disabled", "changed"}`.
fn set_disabled(id: &str, store: &StoreArgs, disabled: bool) -> Result<String, String> {
    let store = Store::from_args(store)?;
    let mut record = store.load(id)?;
    let state = if disabled { "disabled" } else { "enabled" };
    let changed = record.disabled != disabled;
    if changed {
        record.disabled = disabled;
        record.updated_at = now();
        store.save(&record)?;
        note(&format!(
            "client {id} {state}; {}",
            consistency_window(&store)
        ));
    } else {
        note(&format!("client {id} is already {state}; nothing written"));
    }
    pretty(&serde_json::json!({
        "client_id": id,
        "disabled": disabled,
        "changed": changed,
    }))
}

/// `client delete`: only with `--yes`, or once confirmed on a terminal;
/// prints `{"client_id", "deleted": true}`.
fn client_delete(args: &DeleteArgs) -> Result<String, String> {
    use std::io::IsTerminal;
    let id = &args.id;
    let ask = !args.yes;
    if ask && !std::io::stdin().is_terminal() {
        return Err(format!(
            "client delete {id} needs --yes: there is no undo (stdin is not a terminal, so it cannot ask)"
        ));
    }
    let store = Store::from_args(&args.store)?;
    let record = store.load(id)?;
    if ask && !confirm_delete(&record)? {
        return Err(format!("client {id} not deleted"));
    }
    store.wrangler(&["kv", "key", "delete", &record_key(id)])?;
    note(&format!(
        "client {id} deleted; {}",
        consistency_window(&store)
    ));
    pretty(&serde_json::json!({"client_id": id, "deleted": true}))
}

/// Asks on the terminal; true only for `y` or `yes`.
fn confirm_delete(record: &ClientRecord) -> Result<bool, String> {
    use std::io::Write;
    let mut stderr = std::io::stderr().lock();
    let _ = write!(
        stderr,
        "Delete client {} ({:?})? There is no undo. [y/N] ",
        record.client_id, record.name
    );
    let _ = stderr.flush();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| format!("cannot read the answer: {e}"))?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Command;
    use crate::testutil::{fake_wrangler, parse, TempDir};
    use std::path::Path;

    fn create_args(list: &[&str]) -> Result<CreateArgs, String> {
        let mut all = vec!["client", "create"];
        all.extend_from_slice(list);
        match parse(&all)?.command {
            Command::Client(ClientCommand::Create(args)) => Ok(args),
            other => panic!("{other:?}"),
        }
    }

    fn digest() -> SecretHash {
        let secret = generate_client_secret(&OsRandom).unwrap();
        SecretHash::compute("etc_x", &secret)
    }

    /// `client create --name t <list>`.
    fn create(list: &[&str]) -> Result<ClientRecord, String> {
        let mut all = vec!["--name", "t"];
        all.extend_from_slice(list);
        new_record(
            &create_args(&all)?,
            "etc_x",
            Credential::Secret(digest()),
            1,
        )
    }

    /// `client create --name test <list>`, which must succeed.
    fn record(list: &[&str]) -> ClientRecord {
        let mut all = vec!["--name", "test"];
        all.extend_from_slice(list);
        new_record(
            &create_args(&all).unwrap(),
            "etc_x",
            Credential::Secret(digest()),
            100,
        )
        .unwrap()
    }

    fn update(list: &[&str]) -> Result<ClientUpdate, String> {
        let mut all = vec!["client", "update", "etc_x"];
        all.extend_from_slice(list);
        match parse(&all)?.command {
            Command::Client(ClientCommand::Update(args)) => ClientUpdate::from_args(&args),
            other => panic!("{other:?}"),
        }
    }

    fn try_create(list: &[String]) -> Result<ClientRecord, String> {
        create(&list.iter().map(String::as_str).collect::<Vec<_>>())
    }

    #[test]
    fn parse_duration_units() {
        assert_eq!(parse_duration("90").unwrap(), 90);
        assert_eq!(parse_duration("2m").unwrap(), 120);
        assert_eq!(parse_duration("24h").unwrap(), 86400);
        assert_eq!(parse_duration("1d").unwrap(), 86400);
        assert_eq!(parse_duration("0").unwrap(), 0);
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("-1").is_err());
    }

    #[test]
    fn claim_values_are_json_or_plain_strings() {
        assert_eq!(parse_claim_value("42"), serde_json::json!(42));
        assert_eq!(parse_claim_value("1.5"), serde_json::json!(1.5));
        assert_eq!(parse_claim_value("true"), serde_json::json!(true));
        assert_eq!(parse_claim_value("[\"a\",1]"), serde_json::json!(["a", 1]));
        assert_eq!(
            parse_claim_value("{\"a\":{\"b\":2}}"),
            serde_json::json!({"a": {"b": 2}})
        );
        assert_eq!(parse_claim_value("\"42\""), serde_json::json!("42"));
        assert_eq!(parse_claim_value("acme"), serde_json::json!("acme"));
        assert_eq!(parse_claim_value("null"), serde_json::json!("null"));
        assert_eq!(parse_claim_value(""), serde_json::json!(""));
        assert_eq!(parse_claim_value("a=b c"), serde_json::json!("a=b c"));
        assert_eq!(parse_claim_value("[1,"), serde_json::json!("[1,"));
        let claims =
            parse_claims(vec!["tenant=acme".into(), "tier=3".into(), "x=a=b".into()]).unwrap();
        assert_eq!(claims["tenant"], "acme");
        assert_eq!(claims["tier"], 3);
        assert_eq!(claims["x"], "a=b");
    }

    #[test]
    fn claim_names_reserved_or_malformed_are_refused() {
        for name in ["sub", "ISS", "aud", "exp", "scope", "client_id", "jti"] {
            let err = parse_claims(vec![format!("{name}=x")]).unwrap_err();
            assert!(err.contains(&format!("{name:?}")), "{err}");
            assert!(err.contains("cannot be overridden"), "{err}");
        }
        for bad in ["", "1st", "has space", &"n".repeat(65)] {
            let err = parse_claims(vec![format!("{bad}=x")]).unwrap_err();
            assert!(err.contains("cannot be overridden"), "{err}");
        }
        assert!(parse_claims(vec!["novalue".into()])
            .unwrap_err()
            .contains("NAME=VALUE"));
        assert!(parse_claims(vec!["a=1".into(), "a=2".into()]).is_err());
        assert!(parse_claims(vec!["urn:example:tenant=1".into(), "a.b-c_d=1".into()]).is_ok());
    }

    #[test]
    fn claims_are_limited_to_2048_bytes() {
        use edge_token_core::client::MAX_EXTRA_CLAIMS_BYTES;
        // {"big":"…"} is 10 bytes of framing.
        let fits = format!("big={}", "x".repeat(MAX_EXTRA_CLAIMS_BYTES - 10));
        assert!(parse_claims(vec![fits]).is_ok());
        let too_big = format!("big={}", "x".repeat(MAX_EXTRA_CLAIMS_BYTES - 9));
        let err = parse_claims(vec![too_big]).unwrap_err();
        assert!(err.contains("2048"), "{err}");
        // The limit applies to the record as a whole after an update.
        let half = "x".repeat(MAX_EXTRA_CLAIMS_BYTES / 2);
        let r = record(&["--claim", &format!("a={half}")]);
        let err = update(&["--claim", &format!("b={half}")])
            .unwrap()
            .apply(&r, 200)
            .unwrap_err();
        assert!(err.contains("2048"), "{err}");
    }

    #[test]
    fn create_records_introspect_and_claims() {
        let r = record(&[
            "--scope",
            "read write",
            "--introspect",
            "--claim",
            "tenant=acme",
            "--claim",
            "tier=3",
        ]);
        assert!(r.introspect);
        assert_eq!(r.extra_claims["tenant"], "acme");
        assert_eq!(r.extra_claims["tier"], 3);
        assert_eq!(r.default_scopes, vec!["read", "write"]);
        let out = create_output(&r, "ets_secret").unwrap();
        assert_eq!(out["introspect"], true);
        assert_eq!(
            out["extra_claims"],
            serde_json::json!({"tenant": "acme", "tier": 3})
        );
        assert_eq!(out["client_secret"], "ets_secret");
        assert_eq!(ClientRecord::from_json("etc_x", &r.to_json()).unwrap(), r);
        let plain = record(&[]);
        assert!(!plain.introspect && plain.extra_claims.is_empty());
        assert_eq!(
            create_output(&plain, "s").unwrap()["extra_claims"],
            serde_json::json!({})
        );
        assert!(create(&["--claim", "sub=x"]).is_err());
        assert!(create(&["--scope", "a", "--default-scope", "b"]).is_err());
        assert!(create(&["--audience", "urn:a", "--default-audience", "urn:b"]).is_err());
        assert!(create(&["--audience", "not a uri"])
            .unwrap_err()
            .contains("absolute URI"));
        assert!(create(&["--ttl", "0"]).is_err());
        assert_eq!(
            create(&["--audience", "urn:a"]).unwrap().default_audiences,
            vec!["urn:a"]
        );
    }

    #[test]
    fn an_empty_default_audience_means_no_default_at_create_and_update() {
        let r = create(&["--audience", "urn:a", "--default-audience", ""]).unwrap();
        assert_eq!(r.allowed_audiences, vec!["urn:a"]);
        assert!(r.default_audiences.is_empty(), "{:?}", r.default_audiences);
        // Without the option, one audience is also the default.
        let single = create(&["--audience", "urn:a"]).unwrap();
        assert_eq!(single.default_audiences, vec!["urn:a"]);
        // The same option at update leaves the same record.
        let cleared = update(&["--default-audience", ""])
            .unwrap()
            .apply(&single, 2)
            .unwrap()
            .unwrap();
        assert_eq!(cleared.default_audiences, r.default_audiences);
        // And --default-scope "" at create, as at update.
        let r = create(&["--scope", "a b", "--default-scope", ""]).unwrap();
        assert!(r.default_scopes.is_empty());
    }

    #[test]
    fn an_audience_without_a_host_is_refused() {
        for bad in ["http://", "https:///x", "https://?q"] {
            for flag in ["--audience", "--default-audience", "--introspect-audience"] {
                let err = create(&["--introspect", flag, bad]).unwrap_err();
                assert!(err.contains(flag) && err.contains("absolute URI"), "{err}");
            }
            assert!(update(&["--audience", bad]).is_err());
        }
        assert!(create(&["--audience", "http://a"]).is_ok());
    }

    #[test]
    fn a_bad_duration_explains_the_format() {
        for (err, flag) in [
            (create(&["--ttl", "forever"]).unwrap_err(), "--ttl"),
            (create(&["--ttl", "0"]).unwrap_err(), "--ttl"),
            (create(&["--ttl", "1w"]).unwrap_err(), "--ttl"),
            (update(&["--ttl", "forever"]).unwrap_err(), "--ttl"),
            (parse_grace("1w").unwrap_err(), "--grace"),
            (parse_grace("-1").unwrap_err(), "--grace"),
        ] {
            assert!(err.contains(flag), "{err}");
            assert!(
                err.contains("seconds or a number with s, m, h or d") && err.contains("15m"),
                "{err}"
            );
        }
        // --ttl default exists at update only, and the update message says so.
        assert!(update(&["--ttl", "x"]).unwrap_err().contains("default"));
        assert!(create(&["--ttl", "default"]).is_err());
        assert_eq!(parse_grace("0").unwrap(), 0);
        assert_eq!(parse_grace("10m").unwrap(), 600);
    }

    #[test]
    fn a_ttl_above_max_token_ttl_is_accepted_with_a_warning() {
        assert_eq!(DEFAULT_MAX_TOKEN_TTL, 3600);
        let r = create(&["--ttl", "2h"]).unwrap();
        assert_eq!(r.token_ttl, Some(7200));
        let warning = ttl_warning(r.token_ttl, DEFAULT_MAX_TOKEN_TTL).unwrap();
        assert!(
            warning.contains("7200")
                && warning.contains("MAX_TOKEN_TTL")
                && warning.contains("3600"),
            "{warning}"
        );
        assert_eq!(ttl_warning(Some(3600), DEFAULT_MAX_TOKEN_TTL), None);
        assert_eq!(ttl_warning(None, DEFAULT_MAX_TOKEN_TTL), None);
        assert!(ttl_warning(Some(3601), DEFAULT_MAX_TOKEN_TTL).is_some());
        assert!(ttl_warning(Some(3601), 7200).is_none());
    }

    #[test]
    fn create_prints_the_fields_of_show_and_the_secret() {
        let r = record(&[
            "--scope",
            "read write",
            "--default-scope",
            "read",
            "--audience",
            "https://a.example",
            "--claim",
            "tenant=acme",
            "--ttl",
            "10m",
        ]);
        let out = create_output(&r, "ets_secret").unwrap();
        let mut shown = r.public_view();
        let shown = shown.as_object_mut().unwrap();
        let out = out.as_object().unwrap();
        assert_eq!(out["client_secret"], "ets_secret");
        // Exactly show's fields, with show's values, plus the secret.
        let mut without_secret = out.clone();
        without_secret.remove("client_secret");
        assert_eq!(&without_secret, &*shown);
        assert_eq!(out["allowed_scopes"], serde_json::json!(["read", "write"]));
        assert_eq!(out["default_scopes"], serde_json::json!(["read"]));
        assert_eq!(
            out["allowed_audiences"],
            serde_json::json!(["https://a.example"])
        );
        assert_eq!(out["extra_claims"], serde_json::json!({"tenant": "acme"}));
        assert_eq!(out["token_ttl"], 600);
        for old in ["scope", "default_scope", "audiences", "claims"] {
            assert!(!out.contains_key(old), "{old}");
        }
        // No digest, only the secret itself.
        let text = pretty(&Value::Object(out.clone())).unwrap();
        assert!(!text.contains("digest"), "{text}");
    }

    #[test]
    fn the_consistency_window_is_one_sum_of_the_configured_values() {
        let store = |vars: &[(&str, &str)]| Store {
            wrangler: vec![],
            common: vec![],
            vars: vars
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        };
        let window = consistency_window(&store(&[]));
        assert!(
            window.contains(
                "about 150 s (60 s KV propagation + KV_CACHE_TTL 60 s + CLIENT_CACHE_TTL 30 s)"
            ),
            "{window}"
        );
        let window = consistency_window(&store(&[
            ("KV_CACHE_TTL", "300"),
            ("CLIENT_CACHE_TTL", "0"),
        ]));
        assert!(window.contains("about 360 s ("), "{window}");
        // A value the Worker would refuse counts as the default.
        let window = consistency_window(&store(&[("KV_CACHE_TTL", "soon")]));
        assert!(window.contains("about 150 s ("), "{window}");
        assert_eq!(
            store(&[("MAX_TOKEN_TTL", " 7200 ")]).seconds("MAX_TOKEN_TTL", 1),
            7200
        );
    }

    #[test]
    fn update_requires_a_change() {
        let err = update(&[]).unwrap_err();
        assert!(err.contains("at least one change"), "{err}");
        // Store options alone are no change.
        assert!(update(&["--remote", "--env", "prod"]).is_err());
        // A change that leaves the record as it is writes nothing.
        let r = record(&["--scope", "read"]);
        assert_eq!(
            update(&["--name", "test"]).unwrap().apply(&r, 200).unwrap(),
            None
        );
        assert_eq!(
            update(&["--no-introspect"])
                .unwrap()
                .apply(&r, 200)
                .unwrap(),
            None
        );
    }

    #[test]
    fn update_changes_only_what_is_given_and_never_secrets() {
        let r = record(&[
            "--scope",
            "read write",
            "--default-scope",
            "read",
            "--audience",
            "https://a.example",
            "--ttl",
            "60",
            "--claim",
            "tenant=acme",
        ]);
        let u = update(&[
            "--name",
            " renamed ",
            "--scope",
            "read write admin",
            "--introspect",
            "--ttl",
            "default",
            "--claim",
            "tier=[1,2]",
        ])
        .unwrap();
        let new = u.apply(&r, 500).unwrap().unwrap();
        assert_eq!(new.name, "renamed");
        assert_eq!(new.allowed_scopes, vec!["read", "write", "admin"]);
        assert_eq!(new.default_scopes, vec!["read"]);
        assert_eq!(new.allowed_audiences, r.allowed_audiences);
        assert_eq!(new.default_audiences, r.default_audiences);
        assert_eq!(new.token_ttl, None);
        assert!(new.introspect);
        assert_eq!(new.extra_claims["tenant"], "acme");
        assert_eq!(new.extra_claims["tier"], serde_json::json!([1, 2]));
        assert_eq!(new.secrets, r.secrets);
        assert_eq!(new.created_at, r.created_at);
        assert_eq!(new.updated_at, 500);
        assert_eq!(new.client_id, r.client_id);

        let back = update(&["--no-introspect", "--ttl", "2m"])
            .unwrap()
            .apply(&new, 600)
            .unwrap()
            .unwrap();
        assert!(!back.introspect);
        assert_eq!(back.token_ttl, Some(120));
        assert!(update(&["--introspect", "--no-introspect"]).is_err());
        assert!(update(&["--ttl", "0"]).is_err());
        assert!(update(&["--ttl", "forever"]).is_err());
    }

    #[test]
    fn update_refuses_defaults_outside_allowed() {
        let r = record(&[
            "--scope",
            "read write",
            "--default-scope",
            "write",
            "--audience",
            "https://a.example",
        ]);
        let err = update(&["--scope", "read"])
            .unwrap()
            .apply(&r, 2)
            .unwrap_err();
        assert!(
            err.contains("default scope \"write\"") && err.contains("--default-scope"),
            "{err}"
        );
        assert!(update(&["--scope", "read", "--default-scope", "read"])
            .unwrap()
            .apply(&r, 2)
            .unwrap()
            .is_some());
        assert!(update(&["--default-scope", "admin"])
            .unwrap()
            .apply(&r, 2)
            .is_err());

        let err = update(&["--audience", "https://b.example"])
            .unwrap()
            .apply(&r, 2)
            .unwrap_err();
        assert!(
            err.contains("default audience \"https://a.example\""),
            "{err}"
        );
        let moved = update(&[
            "--audience",
            "https://b.example",
            "--default-audience",
            "https://b.example",
        ])
        .unwrap()
        .apply(&r, 2)
        .unwrap()
        .unwrap();
        assert_eq!(moved.default_audiences, vec!["https://b.example"]);
        assert!(update(&["--default-audience", "https://c.example"])
            .unwrap()
            .apply(&r, 2)
            .is_err());
        // "" clears a list; clearing allowed audiences needs the defaults cleared too.
        assert!(update(&["--audience", ""]).unwrap().apply(&r, 2).is_err());
        let none = update(&["--audience", "", "--default-audience", ""])
            .unwrap()
            .apply(&r, 2)
            .unwrap()
            .unwrap();
        assert!(none.allowed_audiences.is_empty() && none.default_audiences.is_empty());
        assert!(update(&["--audience", "not a uri"])
            .unwrap_err()
            .contains("absolute URI"));
    }

    #[test]
    fn update_claims_add_remove_clear() {
        let r = record(&["--claim", "a=1", "--claim", "b=two"]);
        let new = update(&[
            "--claim",
            "a=\"one\"",
            "--remove-claim",
            "b",
            "--claim",
            "c=true",
        ])
        .unwrap()
        .apply(&r, 2)
        .unwrap()
        .unwrap();
        assert_eq!(
            serde_json::to_value(&new.extra_claims).unwrap(),
            serde_json::json!({"a": "one", "c": true})
        );
        let err = update(&["--remove-claim", "zzz"])
            .unwrap()
            .apply(&r, 2)
            .unwrap_err();
        assert!(err.contains("\"zzz\""), "{err}");
        let cleared = update(&["--clear-claims"])
            .unwrap()
            .apply(&r, 2)
            .unwrap()
            .unwrap();
        assert!(cleared.extra_claims.is_empty());
        let replaced = update(&["--clear-claims", "--claim", "d=4"])
            .unwrap()
            .apply(&r, 2)
            .unwrap()
            .unwrap();
        assert_eq!(replaced.extra_claims.len(), 1);
        assert!(update(&["--clear-claims", "--remove-claim", "a"]).is_err());
        assert!(update(&["--claim", "a=1", "--remove-claim", "a"]).is_err());
        assert!(update(&["--claim", "scope=admin"])
            .unwrap_err()
            .contains("cannot be overridden"));
    }

    /// `flag URI` `n` times, distinct URIs of exactly `len` bytes each.
    fn repeated(flag: &str, n: usize, len: usize) -> Vec<String> {
        (0..n)
            .flat_map(|i| {
                let base = format!("https://api{i:02}.example/");
                assert!(len >= base.len());
                [
                    flag.to_owned(),
                    format!("{base}{}", "x".repeat(len - base.len())),
                ]
            })
            .collect()
    }

    /// `--scope` values: `n` distinct scopes of exactly `len` bytes each.
    fn scopes(n: usize, len: usize) -> Vec<String> {
        (0..n)
            .flat_map(|i| {
                let base = format!("s{i:03}");
                [
                    "--scope".to_owned(),
                    format!("{base}{}", "x".repeat(len - base.len())),
                ]
            })
            .collect()
    }

    #[cfg(unix)]
    #[test]
    fn save_passes_the_record_in_a_private_file_never_on_argv() {
        let r = record(&["--scope", "read", "--claim", "tenant=acme"]);
        r.validate().unwrap();
        let json = r.to_json();
        let digests: Vec<String> = r
            .secrets
            .iter()
            .map(|s| serde_json::to_value(s.digest).unwrap())
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        assert!(!digests.is_empty() && json.contains(&digests[0]));
        for status in [0u8, 3] {
            let dir = TempDir::new("save");
            let store = Store {
                wrangler: fake_wrangler(&dir, status),
                common: vec!["--binding".into(), "CLIENTS".into(), "--local".into()],
                vars: BTreeMap::new(),
            };
            let result = store.save(&r);
            if status == 0 {
                result.unwrap();
            } else {
                let err = result.unwrap_err();
                assert!(err.contains("fake wrangler fails"), "{err}");
            }
            let argv = std::fs::read_to_string(dir.file("argv")).unwrap();
            let argv: Vec<&str> = argv.lines().collect();
            let path = std::fs::read_to_string(dir.file("path")).unwrap();
            assert_eq!(
                argv,
                vec![
                    "kv",
                    "key",
                    "put",
                    "client:etc_x",
                    "--path",
                    path.as_str(),
                    "--metadata",
                    r#"{"disabled":false,"name":"test","token_endpoint_auth_method":"client_secret_basic"}"#,
                    "--binding",
                    "CLIENTS",
                    "--local",
                ]
            );
            for arg in &argv {
                assert!(!arg.contains(&json) && !arg.contains("secrets"), "{arg}");
                for d in &digests {
                    assert!(!arg.contains(d.as_str()), "{arg}");
                }
            }
            assert_eq!(std::fs::read_to_string(dir.file("copy")).unwrap(), json);
            assert_eq!(
                std::fs::read_to_string(dir.file("mode")).unwrap().trim(),
                "600"
            );
            assert!(Path::new(&path).starts_with(std::env::temp_dir()), "{path}");
            assert!(!Path::new(&path).exists(), "{path} left behind");
        }
    }

    #[test]
    fn create_sets_introspect_audiences() {
        let r = record(&[
            "--introspect",
            "--introspect-audience",
            "https://a.example",
            "--introspect-audience",
            "https://b.example",
            "--introspect-audience",
            "https://a.example",
        ]);
        assert!(r.introspect);
        assert_eq!(
            r.introspect_audiences,
            vec!["https://a.example", "https://b.example"]
        );
        assert_eq!(ClientRecord::from_json("etc_x", &r.to_json()).unwrap(), r);
        let out = create_output(&r, "ets_s").unwrap();
        assert_eq!(
            out["introspect_audiences"],
            serde_json::json!(["https://a.example", "https://b.example"])
        );
        let plain = record(&["--introspect"]);
        assert!(plain.introspect_audiences.is_empty());
        assert_eq!(
            create_output(&plain, "s").unwrap()["introspect_audiences"],
            serde_json::json!([])
        );
        let err = try_create(&[
            "--introspect".into(),
            "--introspect-audience".into(),
            "not a uri".into(),
        ])
        .unwrap_err();
        assert!(
            err.contains("--introspect-audience") && err.contains("absolute URI"),
            "{err}"
        );
    }

    #[test]
    fn create_refuses_introspect_audience_without_introspect() {
        for value in ["https://a.example", ""] {
            let err = try_create(&["--introspect-audience".into(), value.into()]).unwrap_err();
            assert!(
                err.contains("--introspect-audience needs --introspect"),
                "{err}"
            );
        }
        let err = try_create(&repeated("--introspect-audience", 17, 30)).unwrap_err();
        assert!(
            err.contains("--introspect-audience needs --introspect"),
            "{err}"
        );
        let mut many = repeated("--introspect-audience", 17, 30);
        many.push("--introspect".into());
        let err = try_create(&many).unwrap_err();
        assert!(
            err.contains("--introspect-audience") && err.contains("more than 16"),
            "{err}"
        );
    }

    #[test]
    fn update_replaces_introspect_audiences() {
        let r = record(&["--introspect", "--introspect-audience", "https://a.example"]);
        let new = update(&[
            "--introspect-audience",
            "https://b.example",
            "--introspect-audience",
            "https://c.example",
        ])
        .unwrap()
        .apply(&r, 300)
        .unwrap()
        .unwrap();
        assert_eq!(
            new.introspect_audiences,
            vec!["https://b.example", "https://c.example"]
        );
        assert!(new.introspect);
        assert_eq!(new.updated_at, 300);
        assert_eq!(new.secrets, r.secrets);
        // The same list again changes nothing.
        assert_eq!(
            update(&["--introspect-audience", "https://a.example"])
                .unwrap()
                .apply(&r, 300)
                .unwrap(),
            None
        );
        // Other changes leave the list alone, --no-introspect included (so a
        // later --introspect does not silently widen the client's reach).
        let off = update(&["--no-introspect"])
            .unwrap()
            .apply(&r, 300)
            .unwrap()
            .unwrap();
        assert!(!off.introspect);
        assert_eq!(off.introspect_audiences, r.introspect_audiences);
        // Turning introspection on and narrowing it in one update.
        let plain = record(&[]);
        let on = update(&["--introspect", "--introspect-audience", "urn:api"])
            .unwrap()
            .apply(&plain, 300)
            .unwrap()
            .unwrap();
        assert!(on.introspect);
        assert_eq!(on.introspect_audiences, vec!["urn:api"]);
        assert!(update(&["--introspect-audience", "not a uri"])
            .unwrap_err()
            .contains("--introspect-audience"));
    }

    #[test]
    fn update_clears_introspect_audiences() {
        let r = record(&[
            "--introspect",
            "--introspect-audience",
            "https://a.example",
            "--introspect-audience",
            "https://b.example",
        ]);
        let u = update(&["--introspect-audience", ""]).unwrap();
        let cleared = u.apply(&r, 400).unwrap().unwrap();
        assert!(cleared.introspect_audiences.is_empty());
        assert!(cleared.introspect);
        // Clearing is allowed together with --no-introspect, and on a
        // client that has no list it changes nothing.
        let off = update(&["--no-introspect", "--introspect-audience", ""])
            .unwrap()
            .apply(&r, 400)
            .unwrap()
            .unwrap();
        assert!(!off.introspect && off.introspect_audiences.is_empty());
        assert_eq!(u.apply(&cleared, 500).unwrap(), None);
    }

    #[test]
    fn update_refuses_introspect_audience_without_introspect() {
        let plain = record(&[]);
        let err = update(&["--introspect-audience", "https://a.example"])
            .unwrap()
            .apply(&plain, 2)
            .unwrap_err();
        assert!(
            err.contains("--introspect-audience needs --introspect"),
            "{err}"
        );
        let r = record(&["--introspect"]);
        let err = update(&[
            "--no-introspect",
            "--introspect-audience",
            "https://a.example",
        ])
        .unwrap()
        .apply(&r, 2)
        .unwrap_err();
        assert!(
            err.contains("--introspect-audience needs --introspect"),
            "{err}"
        );
        assert!(update(&["--introspect-audience", "https://a.example"])
            .unwrap()
            .apply(&r, 2)
            .is_ok());
    }

    #[test]
    fn show_prints_introspect_audiences_and_reach() {
        let reach = |r: &ClientRecord| {
            let shown: Value = serde_json::from_str(&pretty(&r.public_view()).unwrap()).unwrap();
            assert!(shown.get("secrets").is_some());
            assert!(!pretty(&r.public_view()).unwrap().contains("digest"));
            (
                shown["introspect_audiences"].clone(),
                shown["introspect_reach"].as_str().unwrap().to_owned(),
            )
        };
        let narrow = record(&["--introspect", "--introspect-audience", "https://a.example"]);
        let (auds, narrow_reach) = reach(&narrow);
        assert_eq!(auds, serde_json::json!(["https://a.example"]));
        let (auds, wide_reach) = reach(&record(&["--introspect"]));
        assert_eq!(auds, serde_json::json!([]));
        let (_, no_reach) = reach(&record(&[]));
        assert!(
            narrow_reach.contains("introspect_audiences"),
            "{narrow_reach}"
        );
        assert_ne!(narrow_reach, wide_reach);
        assert_ne!(wide_reach, no_reach);
    }

    #[test]
    fn audience_lists_are_bounded_like_the_worker() {
        let err = try_create(&repeated("--audience", 17, 30)).unwrap_err();
        assert!(
            err.contains("--audience") && err.contains("more than 16"),
            "{err}"
        );

        let long = format!("https://api.example/{}", "x".repeat(2116 - 20));
        assert_eq!(long.len(), 2116);
        let err = try_create(&["--audience".into(), long.clone()]).unwrap_err();
        assert!(err.contains("--audience") && err.contains("512"), "{err}");
        assert!(!err.contains(&long[..100]), "quotes the value: {err}");

        let mut defaults = repeated("--audience", 16, 30);
        defaults.extend(repeated("--default-audience", 17, 30));
        let err = try_create(&defaults).unwrap_err();
        assert!(
            err.contains("--default-audience") && err.contains("more than 16"),
            "{err}"
        );

        // 16 of 96 bytes: exactly 1536 bytes together, the most that fits.
        let fits = try_create(&repeated("--audience", 16, 96)).unwrap();
        assert_eq!(fits.allowed_audiences.len(), 16);
        assert_eq!(
            fits.allowed_audiences
                .iter()
                .map(String::len)
                .sum::<usize>(),
            1536
        );
        fits.validate().unwrap();
        let mut all = repeated("--audience", 16, 96);
        all.extend(repeated("--default-audience", 16, 96));
        assert_eq!(try_create(&all).unwrap().default_audiences.len(), 16);
        // One byte more is refused.
        let mut over = repeated("--audience", 15, 96);
        over.extend([
            "--audience".to_owned(),
            format!("https://z.example/{}", "x".repeat(97 - 18)),
        ]);
        let err = try_create(&over).unwrap_err();
        assert!(err.contains("--audience") && err.contains("1536"), "{err}");

        // Updates are held to the same bound.
        let r = record(&[]);
        let err = update(
            &repeated("--audience", 17, 30)
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>(),
        )
        .unwrap()
        .apply(&r, 2)
        .unwrap_err();
        assert!(
            err.contains("--audience") && err.contains("more than 16"),
            "{err}"
        );

        for bad in ["https://a.example/\"x", "https://a.example/\\x"] {
            let err = try_create(&["--audience".into(), bad.into()]).unwrap_err();
            assert!(err.contains("quotes or backslashes"), "{err}");
        }
    }

    #[test]
    fn scope_lists_are_bounded_like_the_worker() {
        let err = try_create(&scopes(65, 8)).unwrap_err();
        assert!(
            err.contains("--scope") && err.contains("more than 64"),
            "{err}"
        );
        assert_eq!(try_create(&scopes(64, 8)).unwrap().allowed_scopes.len(), 64);
        // Repeats are dropped before the count.
        let mut same = scopes(64, 8);
        same.extend(scopes(1, 8));
        assert_eq!(try_create(&same).unwrap().allowed_scopes.len(), 64);
        let err = try_create(&scopes(1, 129)).unwrap_err();
        assert!(err.contains("--scope") && err.contains("128"), "{err}");
        assert!(try_create(&scopes(1, 128)).is_ok());
        // 64 * 16 + 63 spaces > 1024.
        let err = try_create(&scopes(64, 16)).unwrap_err();
        assert!(err.contains("--scope") && err.contains("1024"), "{err}");
        let r = record(&[]);
        let big: Vec<String> = scopes(65, 8);
        let err = update(&big.iter().map(String::as_str).collect::<Vec<_>>())
            .unwrap()
            .apply(&r, 2)
            .unwrap_err();
        assert!(
            err.contains("--scope") && err.contains("more than 64"),
            "{err}"
        );
    }

    #[test]
    fn check_record_agrees_with_validate() {
        let base = record(&[
            "--scope",
            "read write",
            "--default-scope",
            "read",
            "--audience",
            "https://a.example",
            "--audience",
            "https://b.example",
            "--introspect",
        ]);
        assert!(base.default_audiences.is_empty());
        let auds = |n: usize, len: usize| -> Vec<String> {
            repeated("--audience", n, len)
                .into_iter()
                .filter(|a| a != "--audience")
                .collect()
        };
        type Change = fn(&mut ClientRecord, &dyn Fn(usize, usize) -> Vec<String>);
        let cases: Vec<(&str, bool, Change)> = vec![
            ("unchanged", true, |_, _| {}),
            ("64 scopes", true, |r, _| {
                r.allowed_scopes = (0..64).map(|i| format!("s{i}")).collect();
                r.default_scopes = vec!["s0".into()];
            }),
            ("65 scopes", false, |r, _| {
                r.allowed_scopes = (0..65).map(|i| format!("s{i}")).collect();
                r.default_scopes = vec!["s0".into()];
            }),
            ("65 default scopes", false, |r, _| {
                r.default_scopes = (0..65).map(|i| format!("s{i}")).collect();
                r.allowed_scopes = r.default_scopes.clone();
            }),
            ("default scope not allowed", false, |r, _| {
                r.default_scopes = vec!["admin".into()];
            }),
            ("16 audiences that fit", true, |r, a| {
                r.allowed_audiences = a(16, 96)
            }),
            ("16 audiences too large", false, |r, a| {
                r.allowed_audiences = a(16, 97)
            }),
            ("17 audiences", false, |r, a| {
                r.allowed_audiences = a(17, 30)
            }),
            ("17 introspect audiences", false, |r, a| {
                r.introspect_audiences = a(17, 30)
            }),
            ("default audience not allowed", false, |r, _| {
                r.default_audiences = vec!["https://c.example".into()];
            }),
            ("audience with a quote", false, |r, _| {
                r.allowed_audiences = vec!["https://a.example/\"".into()];
            }),
            ("zero ttl", false, |r, _| r.token_ttl = Some(0)),
            ("reserved claim", false, |r, _| {
                r.extra_claims.insert("sub".into(), Value::Bool(true));
            }),
            ("claims too large", false, |r, _| {
                r.extra_claims
                    .insert("big".into(), Value::String("x".repeat(2048)));
            }),
            ("client id with a space", false, |r, _| {
                r.client_id = "etc x".into()
            }),
        ];
        for (what, ok, change) in cases {
            let mut r = base.clone();
            change(&mut r, &auds);
            assert_eq!(r.validate().is_ok(), ok, "validate: {what}");
            assert_eq!(check_record(&r).is_ok(), ok, "check_record: {what}");
        }
        // A refusal says which option to change.
        let mut r = base.clone();
        r.token_ttl = Some(0);
        let err = check_record(&r).unwrap_err();
        assert!(
            err.contains("Worker would reject") && err.contains("--ttl"),
            "{err}"
        );
        let mut r = base.clone();
        r.extra_claims.insert("1st".into(), Value::Bool(true));
        let err = check_record(&r).unwrap_err();
        assert!(err.contains("--claim"), "{err}");
        assert_eq!(validate_hint("client_id must be ..."), None);
        assert_eq!(
            validate_hint("default audiences: more than 16 audiences"),
            Some("--default-audience")
        );
    }

    // -----------------------------------------------------------------------
    // private_key_jwt clients: --auth, --jwk, add-key, remove-key.
    // -----------------------------------------------------------------------

    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use serde_json::json;

    /// A 2048-bit RSA modulus (openssl genrsa), base64url.
    const RSA_2048_N: &str = "kiUTGXXpVaTMUqch6m7_U36EAqpGnv6nySbogUaO2T_Gbi8x2x9DQMdCfYPwDqMfTMY1njDsGhUKeqL2QfuxhodJnS2Yy_VcjvIPkrh6MLjehA-WPGpnfzNwQnJfu809S-ljjNhmEDIHemem-BlLB1YGIlPhx78Jy6nroX7KNVXE4DHtHbUknqwy94eIRgHjloXz-s7cs-A5Lmo9qQMXnXpKsOoKfUOHe40rfLfr3Q2_gSUZBqVET3nEQniuRmAzn_fdXw8V_O4iqjF3hebDflaFMjgH_yU_VQGb7kdYoiupnqxIkGhBfj_ncGKx_npNmupx_R1GrxIPpQgSHBYflQ";
    /// A 1024-bit one: too short.
    const RSA_1024_N: &str = "z44KrGMg9oqrAYpP5F05ImtmnivX-VfZcw6i3ACmOR7UvumZ8l4pbd_ADU6Mt2ySIKf8bumJgeJhK3ul0meRGXxM9q1QoqEBPMJkMIwrNR9UPROr-SYUpZk-3LevvhoNEFOFg3w9xn2D94r_9bXFvnI364dmJYIhqqK1UaH-gPk";

    fn b64(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The public JWK of the P-256 key `[seed; 32]`, and its private `d`.
    fn ec_jwk(seed: u8) -> (Value, String) {
        let key = p256::ecdsa::SigningKey::from_bytes(&[seed; 32].into()).unwrap();
        let point = key.verifying_key().to_encoded_point(false);
        let jwk = json!({
            "kty": "EC",
            "crv": "P-256",
            "x": b64(point.x().unwrap()),
            "y": b64(point.y().unwrap()),
        });
        (jwk, b64(&key.to_bytes()))
    }

    /// The public JWK of the Ed25519 key with seed `[seed; 32]`, and the seed (`d`).
    fn okp_jwk(seed: u8) -> (Value, String) {
        let key = ed25519_dalek::SigningKey::from_bytes(&[seed; 32]);
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "x": b64(key.verifying_key().as_bytes())});
        (jwk, b64(&[seed; 32]))
    }

    fn rsa_jwk(n: &str) -> Value {
        json!({"kty": "RSA", "n": n, "e": "AQAB"})
    }

    /// `jwk` with `member` set to `value`.
    fn with(mut jwk: Value, member: &str, value: &str) -> Value {
        jwk[member] = Value::String(value.to_owned());
        jwk
    }

    /// Writes `jwk` to `name` in `dir`; its path.
    fn jwk_file(dir: &TempDir, name: &str, jwk: &Value) -> String {
        let path = dir.file(name);
        std::fs::write(&path, jwk.to_string()).unwrap();
        path.to_str().unwrap().to_owned()
    }

    /// `client create --name t <list>` as `client create` builds it (the
    /// credential, then the record), without wrangler; and the secret.
    fn create_client(list: &[&str]) -> Result<(ClientRecord, Option<ClientSecret>), String> {
        let mut all = vec!["--name", "t"];
        all.extend_from_slice(list);
        let args = create_args(&all)?;
        let (credential, secret) = new_credential(&args, "etc_x", 10)?;
        Ok((new_record(&args, "etc_x", credential, 10)?, secret))
    }

    /// `client create --name t --auth private_key_jwt --jwk <path> <list>`.
    fn key_client(path: &str, list: &[&str]) -> Result<ClientRecord, String> {
        let mut all = vec!["--auth", "private_key_jwt", "--jwk", path];
        all.extend_from_slice(list);
        let (record, secret) = create_client(&all)?;
        assert!(secret.is_none());
        Ok(record)
    }

    /// What `client create` prints for `record` (created without a secret).
    fn key_client_output(record: &ClientRecord) -> Value {
        serde_json::from_str(&pretty(&record.public_view()).unwrap()).unwrap()
    }

    #[test]
    fn create_registers_an_ec_okp_or_rsa_jwk_and_prints_no_secret() {
        let dir = TempDir::new("jwk-create");
        let (ec, _) = ec_jwk(1);
        let (okp, _) = okp_jwk(2);
        let cases = [
            ("ec.json", with(ec.clone(), "kid", "ec-1"), "ec-1", "ES256"),
            ("ec-nokid.json", ec.clone(), "", "ES256"),
            ("ec-alg.json", with(ec.clone(), "alg", "ES256"), "", "ES256"),
            ("okp.json", with(okp.clone(), "kid", "ed"), "ed", "EdDSA"),
            ("okp-alg.json", with(okp, "alg", "Ed25519"), "", "Ed25519"),
            (
                "rsa.json",
                with(with(rsa_jwk(RSA_2048_N), "alg", "RS256"), "kid", "r"),
                "r",
                "RS256",
            ),
            (
                "rsa-ps.json",
                with(rsa_jwk(RSA_2048_N), "alg", "PS256"),
                "",
                "PS256",
            ),
        ];
        for (name, jwk, kid, alg) in cases {
            let path = jwk_file(&dir, name, &jwk);
            let r =
                key_client(&path, &["--scope", "read"]).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(r.secrets.is_empty(), "{name}");
            assert_eq!(r.keys.len(), 1, "{name}");
            let key = &r.keys[0];
            assert_eq!(key.alg, alg, "{name}");
            if kid.is_empty() {
                // No kid: the RFC 7638 thumbprint.
                assert_eq!(key.kid, key.thumbprint(), "{name}");
            } else {
                assert_eq!(key.kid, kid, "{name}");
            }
            assert_eq!(key.created_at, 10);
            assert!(r.uses_keys());
            check_record(&r).unwrap();
            assert_eq!(ClientRecord::from_json("etc_x", &r.to_json()).unwrap(), r);
            let out = key_client_output(&r);
            assert!(out.get("client_secret").is_none(), "{name}: {out}");
            assert_eq!(out["token_endpoint_auth_method"], "private_key_jwt");
            assert_eq!(
                out["keys"],
                json!([{"kid": key.kid, "alg": alg, "created_at": 10}]),
                "{name}"
            );
            assert_eq!(out["secrets"], json!([]));
            assert_eq!(out["allowed_scopes"], json!(["read"]));
            // Only kids and algs: no key material.
            let text = out.to_string();
            for member in [&jwk["x"], &jwk["y"], &jwk["n"]] {
                if let Some(v) = member.as_str() {
                    assert!(!text.contains(v), "{name}: {text}");
                }
            }
        }
        // The default is a secret client, as before.
        let (r, secret) = create_client(&["--scope", "read"]).unwrap();
        assert!(secret.is_some() && r.keys.is_empty() && r.secrets.len() == 1);
        let (r, secret) = create_client(&["--auth", "client_secret"]).unwrap();
        assert!(secret.is_some() && !r.uses_keys());
        assert_eq!(
            r.public_view()["token_endpoint_auth_method"],
            "client_secret_basic"
        );
    }

    #[test]
    fn create_registers_every_key_of_a_jwk_set_up_to_three() {
        let dir = TempDir::new("jwk-set");
        let (ec, _) = ec_jwk(3);
        let (okp, _) = okp_jwk(4);
        let three = json!({"keys": [
            with(ec.clone(), "kid", "a"),
            with(okp.clone(), "kid", "b"),
            with(with(rsa_jwk(RSA_2048_N), "alg", "PS256"), "kid", "c"),
        ]});
        let r = key_client(&jwk_file(&dir, "set.json", &three), &[]).unwrap();
        let listed: Vec<(&str, &str)> = r
            .keys
            .iter()
            .map(|k| (k.kid.as_str(), k.alg.as_str()))
            .collect();
        assert_eq!(listed, vec![("a", "ES256"), ("b", "EdDSA"), ("c", "PS256")]);
        // Four keys are one too many, and nothing is built.
        let (ec2, _) = ec_jwk(5);
        let mut four = three.clone();
        four["keys"]
            .as_array_mut()
            .unwrap()
            .push(with(ec2, "kid", "d"));
        let err = key_client(&jwk_file(&dir, "four.json", &four), &[]).unwrap_err();
        assert!(err.contains("at most 3") && err.contains("--jwk"), "{err}");
        // Two keys with one kid, and an empty set, are refused.
        let twice = json!({"keys": [with(ec.clone(), "kid", "a"), with(okp, "kid", "a")]});
        let err = key_client(&jwk_file(&dir, "twice.json", &twice), &[]).unwrap_err();
        assert!(err.contains("two keys have the kid \"a\""), "{err}");
        let err = key_client(&jwk_file(&dir, "empty.json", &json!({"keys": []})), &[]).unwrap_err();
        assert!(err.contains("no keys"), "{err}");
        // Not JSON, or a file that is not there: named, not quoted.
        let path = dir.file("pem");
        std::fs::write(&path, "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49\n").unwrap();
        let err = key_client(path.to_str().unwrap(), &[]).unwrap_err();
        assert!(
            err.contains("not a JSON JWK") && !err.contains("MIGH"),
            "{err}"
        );
        let missing = dir.file("missing.json");
        let err = key_client(missing.to_str().unwrap(), &[]).unwrap_err();
        assert!(
            err.contains("cannot read --jwk") && err.contains("missing.json"),
            "{err}"
        );
        let big = dir.file("big.json");
        std::fs::write(&big, " ".repeat(70_000)).unwrap();
        assert!(key_client(big.to_str().unwrap(), &[])
            .unwrap_err()
            .contains("larger than"));
    }

    #[test]
    fn a_private_key_is_refused_and_never_echoed() {
        let dir = TempDir::new("jwk-private");
        let (ec, ec_d) = ec_jwk(6);
        let (okp, okp_d) = okp_jwk(7);
        let rsa = with(rsa_jwk(RSA_2048_N), "alg", "RS256");
        let private_rsa = ["d", "p", "q", "dp", "dq", "qi"]
            .iter()
            .fold(rsa.clone(), |jwk, m| {
                with(jwk, m, &format!("PRIVATE-{m}-VALUE"))
            });
        let mut with_oth = rsa.clone();
        with_oth["oth"] =
            json!([{"r": "PRIVATE-r-VALUE", "d": "PRIVATE-d2-VALUE", "t": "PRIVATE-t-VALUE"}]);
        let cases: Vec<(&str, Value, Vec<String>)> = vec![
            ("ec", with(ec.clone(), "d", &ec_d), vec![ec_d.clone()]),
            ("okp", with(okp, "d", &okp_d), vec![okp_d.clone()]),
            (
                "rsa",
                private_rsa.clone(),
                ["d", "p", "q", "dp", "dq", "qi"]
                    .iter()
                    .map(|m| format!("PRIVATE-{m}-VALUE"))
                    .collect(),
            ),
            (
                "oth",
                with_oth,
                vec![
                    "PRIVATE-r-VALUE".into(),
                    "PRIVATE-d2-VALUE".into(),
                    "PRIVATE-t-VALUE".into(),
                ],
            ),
            (
                "oct",
                json!({"kty": "oct", "k": "PRIVATE-k-VALUE"}),
                vec!["PRIVATE-k-VALUE".into()],
            ),
            ("oct-no-k", json!({"kty": "oct", "kid": "s"}), vec![]),
            (
                "in-a-set",
                json!({"keys": [with(ec.clone(), "kid", "pub"), with(with(ec, "kid", "priv"), "d", &ec_d)]}),
                vec![ec_d.clone()],
            ),
        ];
        for (name, jwk, secrets) in cases {
            let path = jwk_file(&dir, &format!("{name}.json"), &jwk);
            let client = key_client(&path, &[]);
            let err = client.unwrap_err();
            if name.starts_with("oct") {
                assert!(
                    err.contains("symmetric") || err.contains("private member"),
                    "{name}: {err}"
                );
            } else {
                assert!(err.contains("give only the public key"), "{name}: {err}");
            }
            assert!(err.contains(&path), "{name}: {err}");
            for secret in &secrets {
                assert!(
                    !err.contains(secret.as_str()),
                    "{name} echoes {secret}: {err}"
                );
            }
            // add-key reads the file the same way.
            let err = read_jwk_file(&path, None, 1).unwrap_err();
            for secret in &secrets {
                assert!(!err.contains(secret.as_str()), "{name}: {err}");
            }
            // --alg does not change that.
            let err = read_jwk_file(&path, Some(ClientKeyAlg::RS256), 1).unwrap_err();
            for secret in &secrets {
                assert!(!err.contains(secret.as_str()), "{name}: {err}");
            }
        }
    }

    #[test]
    fn an_rsa_key_needs_an_alg_and_2048_to_4096_bits() {
        let dir = TempDir::new("jwk-rsa");
        let bare = jwk_file(&dir, "rsa.json", &rsa_jwk(RSA_2048_N));
        let err = key_client(&bare, &[]).unwrap_err();
        assert!(
            err.contains("no \"alg\"") && err.contains("--alg RS256 or --alg PS256"),
            "{err}"
        );
        for alg in ["RS256", "PS256"] {
            let r = key_client(&bare, &["--alg", alg]).unwrap();
            assert_eq!(r.keys[0].alg, alg);
            assert_eq!(r.keys[0].bits(), 2048);
        }
        // --alg is only for that: a key that names its alg, or an EC/OKP
        // key, refuses it (it would be ignored).
        let named = jwk_file(
            &dir,
            "named.json",
            &with(rsa_jwk(RSA_2048_N), "alg", "RS256"),
        );
        let (ec, _) = ec_jwk(8);
        let ec = jwk_file(&dir, "ec.json", &ec);
        for path in [&named, &ec] {
            let err = key_client(path, &["--alg", "PS256"]).unwrap_err();
            assert!(err.contains("drop --alg"), "{err}");
        }
        // Only the RSA algorithms are --alg values, and --alg needs --jwk.
        let err = key_client(&bare, &["--alg", "ES256"]).unwrap_err();
        assert!(err.contains("--alg") && err.contains("RS256"), "{err}");
        assert!(create_client(&["--alg", "RS256"]).is_err());
        // Too short a modulus.
        let short = jwk_file(
            &dir,
            "short.json",
            &with(rsa_jwk(RSA_1024_N), "alg", "RS256"),
        );
        let err = key_client(&short, &[]).unwrap_err();
        assert!(
            err.contains("1024 bits") && err.contains("2048 to 4096"),
            "{err}"
        );
    }

    #[test]
    fn jwk_and_auth_go_together() {
        let dir = TempDir::new("jwk-auth");
        let (ec, _) = ec_jwk(9);
        let path = jwk_file(&dir, "ec.json", &ec);
        let err = create_client(&["--jwk", &path]).unwrap_err();
        assert!(err.contains("--jwk needs --auth private_key_jwt"), "{err}");
        let err = create_client(&["--auth", "client_secret", "--jwk", &path]).unwrap_err();
        assert!(err.contains("--jwk needs --auth private_key_jwt"), "{err}");
        let err = create_client(&["--auth", "private_key_jwt"]).unwrap_err();
        assert!(err.contains("needs --jwk FILE"), "{err}");
        let err = create_client(&["--auth", "client_secret_basic"]).unwrap_err();
        assert!(err.contains("private_key_jwt"), "{err}");
    }

    #[test]
    fn add_key_adds_up_to_three_keys_and_remove_key_keeps_the_last() {
        let dir = TempDir::new("jwk-add");
        let (ec, _) = ec_jwk(10);
        let r = key_client(
            &jwk_file(&dir, "old.json", &with(ec.clone(), "kid", "old")),
            &[],
        )
        .unwrap();
        let new =
            |name: &str, jwk: &Value| read_jwk_file(&jwk_file(&dir, name, jwk), None, 50).unwrap();
        let (okp, _) = okp_jwk(11);
        let two = with_keys(&r, new("new.json", &with(okp.clone(), "kid", "new")), 50).unwrap();
        assert_eq!(
            two.keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
            vec!["old", "new"]
        );
        assert_eq!(two.updated_at, 50);
        assert_eq!(two.created_at, r.created_at);
        assert_eq!(two.keys[1].created_at, 50);
        let shown = key_client_output(&two);
        assert_eq!(
            shown["keys"][1],
            json!({"kid": "new", "alg": "EdDSA", "created_at": 50})
        );
        // The same public key again, under another kid, is refused; so is a kid in use.
        let err = with_keys(&two, new("again.json", &with(okp, "kid", "other")), 60).unwrap_err();
        assert!(
            err.contains("already has this public key") && err.contains("\"new\""),
            "{err}"
        );
        let (ec2, _) = ec_jwk(12);
        let err =
            with_keys(&two, new("dup.json", &with(ec2.clone(), "kid", "old")), 60).unwrap_err();
        assert!(err.contains("\"old\""), "{err}");
        // A third key fits; a fourth does not, alone or in a set.
        let three = with_keys(&two, new("third.json", &with(ec2, "kid", "third")), 60).unwrap();
        assert_eq!(three.keys.len(), 3);
        check_record(&three).unwrap();
        let (ec3, _) = ec_jwk(13);
        let err = with_keys(
            &three,
            new("fourth.json", &with(ec3.clone(), "kid", "fourth")),
            70,
        )
        .unwrap_err();
        assert!(
            err.contains("at most 3") && err.contains("remove-key"),
            "{err}"
        );
        let (okp2, _) = okp_jwk(14);
        let set = json!({"keys": [with(ec3, "kid", "x"), with(okp2, "kid", "y")]});
        let err = with_keys(&two, new("set.json", &set), 70).unwrap_err();
        assert!(err.contains("adding 2 would make 4"), "{err}");
        // Nothing changed in the record the refusals started from.
        assert_eq!(three.keys.len(), 3);

        // remove-key: rotation's last step; never the last key.
        let one = without_key(&without_key(&three, "old", 80).unwrap(), "third", 81).unwrap();
        assert_eq!(
            one.keys.iter().map(|k| k.kid.as_str()).collect::<Vec<_>>(),
            vec!["new"]
        );
        assert_eq!(one.updated_at, 81);
        let err = without_key(&one, "new", 90).unwrap_err();
        assert!(err.contains("only key"), "{err}");
        let err = without_key(&one, "nope", 90).unwrap_err();
        assert!(err.contains("no key with kid \"nope\""), "{err}");
    }

    #[test]
    fn a_secret_client_cannot_get_keys_and_a_key_client_has_no_secret_to_rotate() {
        let dir = TempDir::new("jwk-secret");
        let (ec, _) = ec_jwk(15);
        let path = jwk_file(&dir, "ec.json", &ec);
        let secret_client = record(&["--scope", "read"]);
        let err = with_keys(&secret_client, read_jwk_file(&path, None, 5).unwrap(), 5).unwrap_err();
        assert!(
            err.contains("authenticates with a client secret")
                && err.contains("--auth private_key_jwt"),
            "{err}"
        );
        let err = without_key(&secret_client, "k", 5).unwrap_err();
        assert!(err.contains("has no keys"), "{err}");
        // The record's own rule agrees: secrets and keys never both.
        let mut both = secret_client.clone();
        both.keys = read_jwk_file(&path, None, 5).unwrap();
        assert!(check_record(&both).is_err());

        let mut key_client = key_client(&path, &[]).unwrap();
        let before = key_client.clone();
        let err = rotate(&mut key_client, 20, 3600, false)
            .map(|_| ())
            .unwrap_err();
        assert!(
            err.contains("no secret to rotate")
                && err.contains("client add-key")
                && err.contains("remove-key"),
            "{err}"
        );
        assert_eq!(key_client, before);
        // A secret client still rotates.
        let mut s = secret_client.clone();
        let new = rotate(&mut s, 20, 3600, false).unwrap();
        assert_eq!(s.secrets.len(), 2);
        assert!(s.secrets[0].digest == SecretHash::compute("etc_x", &new));
    }
}
