//! `edge-token`: the admin CLI. Registers and manages clients in the Workers
//! KV namespace (through wrangler), generates signing keys and maintains a
//! local `SIGNING_KEYS` file for key rotation.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use edge_token_core::client::{
    check_extra_claims_size, generate_client_id, generate_client_secret, is_extra_claim_name,
    record_key, ClientRecord, RotateError, SecretEntry, SecretHash, KEY_PREFIX,
    MAX_EXTRA_CLAIM_NAME, RECORD_VERSION, RESERVED_CLAIMS,
};
use edge_token_core::random::{OsRandom, Random};
use edge_token_core::scope::{
    check_audiences, check_scopes, is_absolute_uri, is_audience, is_scope_token, split_list,
    MAX_AUDIENCE_LEN,
};
use edge_token_core::token::{KeyEntry, KeySet};
use serde_json::Value;

const USAGE: &str = "\
edge-token: manage edge-token clients and signing keys

USAGE:
  edge-token client create --name NAME [--scope \"a b\"] [--default-scope \"a\"]
                           [--audience URI]... [--default-audience URI]... [--ttl SECS]
                           [--introspect [--introspect-audience URI]...]
                           [--claim NAME=VALUE]...
  edge-token client update ID [--name NAME] [--scope \"a b\"] [--default-scope \"a\"]
                           [--audience URI]... [--default-audience URI]...
                           [--ttl SECS|default] [--introspect | --no-introspect]
                           [--introspect-audience URI]...
                           [--claim NAME=VALUE]... [--remove-claim NAME]... [--clear-claims]
  edge-token client list
  edge-token client show ID
  edge-token client disable ID
  edge-token client enable ID
  edge-token client delete ID
  edge-token client rotate-secret ID [--grace DURATION] [--force]
  edge-token key generate [--kid KID]
  edge-token key add --keys FILE [--kid KID] [--apply]
  edge-token key promote KID --keys FILE [--apply]
  edge-token key remove KID --keys FILE [--apply]
  edge-token key list --keys FILE

STORE OPTIONS (client commands):
  --local              the local store that `make dev` serves (default)
  --remote             the deployed KV namespace
  --env NAME           wrangler environment
  --config PATH        wrangler configuration file (default: wrangler.toml)
  --persist-to DIR     local state directory (default: wrangler's, .wrangler/state)

CLIENT OPTIONS:
  --audience URI       an audience the client may request (repeatable); with exactly
                       one and no --default-audience, it is also the default
  --introspect         the client may call the introspection endpoint
                       (update: --no-introspect takes that away)
  --introspect-audience URI
                       (repeatable; needs --introspect) the client may introspect
                       only tokens with one of these audiences; without it, every
                       token of this issuer. client show prints the reach.
  --claim NAME=VALUE   a static extra claim in every token of the client. VALUE is
                       JSON if it is a number, true/false, array, object or
                       \"quoted string\", else a plain string. Registered claims
                       (iss, sub, aud, exp, scope, client_id, ...) cannot be
                       overridden; all claims together take at most 2048 bytes.
  Limits (the Worker's, checked before anything is written): at most 64 scopes
  per list, each at most 128 bytes, 1024 bytes joined; at most 16 audiences per
  list, each an absolute URI of at most 512 bytes, 1536 bytes together.
  client update changes only what it is given and never touches secrets:
  --scope, --audience and --introspect-audience replace their lists (\"\" for
  none), --ttl default returns to TOKEN_TTL, --claim adds or replaces one claim,
  --remove-claim NAME and --clear-claims drop them. Defaults must stay within
  the allowed lists.

KEY FILE (key add, promote, remove, list):
  FILE holds the SIGNING_KEYS JSON array the Worker reads (first entry signs,
  every entry verifies). It holds secrets: it is written with mode 0600 and
  key material is never printed. Rotation: key add (new key last, verify-only),
  deploy FILE to the issuer and every API, wait; key promote KID (it signs),
  deploy; after MAX_TOKEN_TTL plus leeway, key remove OLD, deploy.
  --apply              also store FILE in the deployed Worker's SIGNING_KEYS secret
                       (wrangler secret put, FILE on stdin; --env and --config are
                       passed on). APIs that verify tokens still need FILE.

Client secrets are printed once, on creation and rotation, and never stored.
DURATION is seconds or a number with s, m, h or d (default grace: 24h).
wrangler is taken from $EDGE_TOKEN_WRANGLER, else from node_modules/.bin/wrangler next
to the wrangler.toml in use (the --config file's directory, else the current
directory), never from a parent directory. Client records (they hold secret
digests) reach wrangler in a private temporary file, never on its command line.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(args) {
        Ok(output) => {
            if !output.is_empty() {
                println!("{output}");
            }
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("edge-token: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Parsed command-line options: positionals plus `--flag value` pairs.
struct Args {
    positionals: Vec<String>,
    options: Vec<(String, Option<String>)>,
}

const VALUE_FLAGS: &[&str] = &[
    "--name",
    "--scope",
    "--default-scope",
    "--audience",
    "--default-audience",
    "--introspect-audience",
    "--ttl",
    "--claim",
    "--remove-claim",
    "--grace",
    "--kid",
    "--keys",
    "--env",
    "--config",
    "--persist-to",
];
const BOOL_FLAGS: &[&str] = &[
    "--local",
    "--remote",
    "--force",
    "--introspect",
    "--no-introspect",
    "--clear-claims",
    "--apply",
    "--help",
    "-h",
];

/// Options every client command accepts (where the store is).
const STORE_FLAGS: &[&str] = &["--local", "--remote", "--env", "--config", "--persist-to"];

const CREATE_FLAGS: &[&str] = &[
    "--name",
    "--scope",
    "--default-scope",
    "--audience",
    "--default-audience",
    "--ttl",
    "--introspect",
    "--introspect-audience",
    "--claim",
];
const UPDATE_FLAGS: &[&str] = &[
    "--name",
    "--scope",
    "--default-scope",
    "--audience",
    "--default-audience",
    "--ttl",
    "--introspect",
    "--no-introspect",
    "--introspect-audience",
    "--claim",
    "--remove-claim",
    "--clear-claims",
];

impl Args {
    fn parse(raw: Vec<String>) -> Result<Self, String> {
        let mut positionals = Vec::new();
        let mut options = Vec::new();
        let mut it = raw.into_iter();
        while let Some(arg) = it.next() {
            if let Some((flag, value)) = arg.split_once('=').filter(|(f, _)| f.starts_with("--")) {
                if BOOL_FLAGS.contains(&flag) {
                    return Err(format!("{flag} takes no value"));
                }
                if !VALUE_FLAGS.contains(&flag) {
                    return Err(format!("unknown option {flag}"));
                }
                options.push((flag.to_owned(), Some(value.to_owned())));
            } else if VALUE_FLAGS.contains(&arg.as_str()) {
                let value = it.next().ok_or_else(|| format!("{arg} needs a value"))?;
                options.push((arg, Some(value)));
            } else if BOOL_FLAGS.contains(&arg.as_str()) {
                options.push((arg, None));
            } else if arg.starts_with('-') && arg.len() > 1 {
                return Err(format!("unknown option {arg} (see edge-token --help)"));
            } else {
                positionals.push(arg);
            }
        }
        Ok(Args {
            positionals,
            options,
        })
    }

    fn flag(&self, name: &str) -> bool {
        self.options.iter().any(|(n, _)| n == name)
    }

    fn all(&self, name: &str) -> Vec<String> {
        self.options
            .iter()
            .filter(|(n, _)| n == name)
            .filter_map(|(_, v)| v.clone())
            .collect()
    }

    fn one(&self, name: &str) -> Result<Option<String>, String> {
        let mut values = self.all(name);
        if values.len() > 1 {
            return Err(format!("{name} given more than once"));
        }
        Ok(values.pop())
    }

    /// Refuses options other than `allowed` and the store options.
    fn allow_only(&self, allowed: &[&str]) -> Result<(), String> {
        match self
            .options
            .iter()
            .find(|(n, _)| !allowed.contains(&n.as_str()) && !STORE_FLAGS.contains(&n.as_str()))
        {
            Some((n, _)) => Err(format!("option {n} does not apply to this command")),
            None => Ok(()),
        }
    }
}

fn run(raw: Vec<String>) -> Result<String, String> {
    let args = Args::parse(raw)?;
    if args.flag("--help") || args.flag("-h") || args.positionals.is_empty() {
        return Ok(USAGE.to_owned());
    }
    let words: Vec<&str> = args.positionals.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["key", "generate"] => {
            args.allow_only(&["--kid"])?;
            key_generate(args.one("--kid")?)
        }
        ["key", "list"] => {
            args.allow_only(&["--keys"])?;
            key_list(&keys_path(&args)?)
        }
        ["key", "add"] => {
            args.allow_only(&["--keys", "--kid", "--apply"])?;
            let path = keys_path(&args)?;
            let apply = SecretPut::from_args(&args)?;
            let change = key_add(&path, args.one("--kid")?)?;
            finish_key_change(&path, change, apply.as_ref())
        }
        ["key", op @ ("promote" | "remove"), kid] => {
            args.allow_only(&["--keys", "--apply"])?;
            let path = keys_path(&args)?;
            let apply = SecretPut::from_args(&args)?;
            let change = if *op == "promote" {
                key_promote(&path, kid)?
            } else {
                key_remove(&path, kid)?
            };
            finish_key_change(&path, change, apply.as_ref())
        }
        ["key", op @ ("promote" | "remove")] => Err(format!("key {op} needs a KID")),
        ["client", "create"] => {
            args.allow_only(CREATE_FLAGS)?;
            client_create(&Store::from_args(&args)?, &args)
        }
        ["client", "update", id] => {
            args.allow_only(UPDATE_FLAGS)?;
            let update = ClientUpdate::from_args(&args)?;
            let store = Store::from_args(&args)?;
            let record = store.load(id)?;
            match update.apply(&record, now())? {
                Some(updated) => {
                    store.save(&updated)?;
                    eprintln!("client {id} updated (takes effect within KV's consistency window, about 60 s + KV_CACHE_TTL)");
                    pretty(&updated.public_view())
                }
                None => {
                    eprintln!("client {id} already matches; nothing written");
                    pretty(&record.public_view())
                }
            }
        }
        ["client", "update"] => Err("client update needs a client ID".to_owned()),
        ["client", "list"] => {
            args.allow_only(&[])?;
            client_list(&Store::from_args(&args)?)
        }
        ["client", "show", id] => {
            args.allow_only(&[])?;
            let record = Store::from_args(&args)?.load(id)?;
            pretty(&record.public_view())
        }
        ["client", cmd @ ("disable" | "enable"), id] => {
            args.allow_only(&[])?;
            let store = Store::from_args(&args)?;
            let mut record = store.load(id)?;
            record.disabled = *cmd == "disable";
            record.updated_at = now();
            store.save(&record)?;
            eprintln!("client {id} {cmd}d (takes effect within KV's consistency window, about 60 s + KV_CACHE_TTL)");
            Ok(String::new())
        }
        ["client", "delete", id] => {
            args.allow_only(&[])?;
            let store = Store::from_args(&args)?;
            store.load(id)?;
            store.wrangler(&["kv", "key", "delete", &record_key(id)])?;
            eprintln!("client {id} deleted");
            Ok(String::new())
        }
        ["client", "rotate-secret", id] => {
            args.allow_only(&["--grace", "--force"])?;
            let grace = parse_duration(&args.one("--grace")?.unwrap_or_else(|| "24h".to_owned()))?;
            client_rotate(&Store::from_args(&args)?, id, grace, args.flag("--force"))
        }
        _ => Err(format!(
            "unknown command {:?} (see edge-token --help)",
            words.join(" ")
        )),
    }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn pretty(value: &Value) -> Result<String, String> {
    serde_json::to_string_pretty(value).map_err(|e| e.to_string())
}

/// `30`, `30s`, `15m`, `24h`, `7d` to seconds.
fn parse_duration(text: &str) -> Result<u64, String> {
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
        return Err("--name must be 1-200 characters".to_owned());
    }
    Ok(name.to_owned())
}

/// `--ttl`: a DURATION greater than 0.
fn parse_ttl(text: &str) -> Result<u64, String> {
    parse_duration(text)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("bad --ttl {text:?}: a DURATION greater than 0"))
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

/// The rules every record the CLI writes must meet: exactly the Worker's
/// ([`ClientRecord::validate`], which it applies to every record it reads),
/// so the CLI never writes a record the Worker refuses. The checks before
/// `validate` apply the same library rules but name the option to change;
/// single values (scope syntax, audience syntax and length, `--ttl`, claim
/// names) are refused earlier, when the options are parsed.
fn check_record(r: &ClientRecord) -> Result<(), String> {
    parse_name(&r.name)?;
    for (flag, list) in [
        ("--scope", &r.allowed_scopes),
        ("--default-scope", &r.default_scopes),
    ] {
        check_scopes(list.iter().map(String::as_str))
            .map_err(|e| format!("{flag}: {}", e.scope_message()))?;
    }
    if let Some(extra) = r
        .default_scopes
        .iter()
        .find(|s| !r.allowed_scopes.contains(s))
    {
        return Err(format!(
            "default scope {extra:?} is not among the allowed scopes (--scope); set --default-scope to a subset (\"\" for none)"
        ));
    }
    for (flag, list) in [
        ("--audience", &r.allowed_audiences),
        ("--default-audience", &r.default_audiences),
        ("--introspect-audience", &r.introspect_audiences),
    ] {
        check_audiences(list.iter().map(String::as_str))
            .map_err(|e| format!("{flag}: {}", e.audience_message()))?;
    }
    if let Some(extra) = r
        .default_audiences
        .iter()
        .find(|a| !r.allowed_audiences.contains(a))
    {
        return Err(format!(
            "default audience {extra:?} is not among the allowed audiences (--audience); set --default-audience to a subset (\"\" for none)"
        ));
    }
    check_extra_claims_size(&r.extra_claims).map_err(|e| format!("--claim: {e}"))?;
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
    ];
    HINTS
        .iter()
        .find(|(start, _)| message.starts_with(start))
        .map(|(_, flags)| *flags)
}

/// A new record from `client create` options.
fn new_record(
    args: &Args,
    client_id: &str,
    digest: SecretHash,
    now: u64,
) -> Result<ClientRecord, String> {
    let name = args
        .one("--name")?
        .ok_or("client create needs --name NAME")?;
    let name = parse_name(&name)?;
    let allowed_scopes = split_scopes(args.all("--scope"))?;
    let default_scopes = match args.one("--default-scope")? {
        Some(d) => split_scopes(vec![d])?,
        None => allowed_scopes.clone(),
    };
    let allowed_audiences = parse_audiences("--audience", args.all("--audience"))?;
    let mut default_audiences =
        parse_audiences("--default-audience", args.all("--default-audience"))?;
    if default_audiences.is_empty() && allowed_audiences.len() == 1 {
        default_audiences = allowed_audiences.clone();
    }
    let introspect = args.flag("--introspect");
    let introspect_audiences =
        parse_audiences("--introspect-audience", args.all("--introspect-audience"))?;
    if args.flag("--introspect-audience") && !introspect {
        return Err("--introspect-audience needs --introspect: it narrows which tokens the client may introspect, and without --introspect it may introspect none".to_owned());
    }
    let token_ttl = args.one("--ttl")?.map(|t| parse_ttl(&t)).transpose()?;
    let extra_claims = parse_claims(args.all("--claim"))?;
    let record = ClientRecord {
        version: RECORD_VERSION,
        client_id: client_id.to_owned(),
        name,
        secrets: vec![SecretEntry {
            digest,
            created_at: now,
            expires_at: None,
        }],
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

/// What `client create` prints: the record's settings and the secret.
fn create_output(record: &ClientRecord, secret: &str) -> Value {
    serde_json::json!({
        "client_id": record.client_id,
        "client_secret": secret,
        "name": record.name,
        "scope": record.allowed_scopes.join(" "),
        "default_scope": record.default_scopes.join(" "),
        "audiences": record.allowed_audiences,
        "default_audiences": record.default_audiences,
        "token_ttl": record.token_ttl,
        "introspect": record.introspect,
        "introspect_audiences": record.introspect_audiences,
        "claims": record.extra_claims,
    })
}

fn client_create(store: &Store, args: &Args) -> Result<String, String> {
    let client_id = generate_client_id(&OsRandom).map_err(|e| e.to_string())?;
    let secret = generate_client_secret(&OsRandom).map_err(|e| e.to_string())?;
    let record = new_record(
        args,
        &client_id,
        SecretHash::compute(&client_id, &secret),
        now(),
    )?;
    store.save(&record)?;
    pretty(&create_output(&record, secret.expose()))
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
    fn from_args(args: &Args) -> Result<Self, String> {
        let present = |flag: &str| args.flag(flag);
        let update = ClientUpdate {
            name: args.one("--name")?.map(|n| parse_name(&n)).transpose()?,
            allowed_scopes: if present("--scope") {
                Some(split_scopes(args.all("--scope"))?)
            } else {
                None
            },
            default_scopes: args
                .one("--default-scope")?
                .map(|d| split_scopes(vec![d]))
                .transpose()?,
            allowed_audiences: if present("--audience") {
                Some(parse_audiences("--audience", args.all("--audience"))?)
            } else {
                None
            },
            default_audiences: if present("--default-audience") {
                Some(parse_audiences(
                    "--default-audience",
                    args.all("--default-audience"),
                )?)
            } else {
                None
            },
            token_ttl: match args.one("--ttl")? {
                Some(t) if t == "default" => Some(None),
                Some(t) => Some(Some(parse_ttl(&t)?)),
                None => None,
            },
            introspect: match (present("--introspect"), present("--no-introspect")) {
                (true, true) => {
                    return Err("choose one of --introspect and --no-introspect".to_owned())
                }
                (true, false) => Some(true),
                (false, true) => Some(false),
                (false, false) => None,
            },
            introspect_audiences: if present("--introspect-audience") {
                Some(parse_audiences(
                    "--introspect-audience",
                    args.all("--introspect-audience"),
                )?)
            } else {
                None
            },
            set_claims: parse_claims(args.all("--claim"))?,
            remove_claims: {
                let mut names = args.all("--remove-claim");
                names.sort();
                names.dedup();
                names
            },
            clear_claims: present("--clear-claims"),
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
            return Err("client update needs at least one change: --name, --scope, --default-scope, --audience, --default-audience, --ttl, --introspect, --no-introspect, --introspect-audience, --claim, --remove-claim or --clear-claims".to_owned());
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

fn client_rotate(store: &Store, id: &str, grace: u64, force: bool) -> Result<String, String> {
    let mut record = store.load(id)?;
    let secret = generate_client_secret(&OsRandom).map_err(|e| e.to_string())?;
    let now = now();
    record
        .rotate_secret(SecretHash::compute(id, &secret), now, grace, force)
        .map_err(|RotateError::TooManyActive| {
            format!("client {id} already has two active secrets; wait for the older to expire or pass --force to cut it off now")
        })?;
    store.save(&record)?;
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
            }))
        })
        .collect();
    pretty(&Value::Array(clients))
}

// ---------------------------------------------------------------------------
// Signing keys: generation and the local SIGNING_KEYS file.
// ---------------------------------------------------------------------------

/// A fresh 32-byte key; the kid defaults to `k<days since 1970>-<random>`.
/// The kid is checked the same way the Worker checks it.
fn new_key_entry(kid: Option<String>) -> Result<KeyEntry, String> {
    let mut key = [0u8; 32];
    OsRandom.fill(&mut key).map_err(|e| e.to_string())?;
    let kid = match kid {
        Some(k) => k,
        None => {
            let days = now() / 86400;
            format!(
                "k{days}-{}",
                OsRandom.token::<3>().map_err(|e| e.to_string())?
            )
        }
    };
    edge_token_core::token::SigningKey::new(&kid, &key).map_err(|e| e.to_string())?;
    Ok(KeyEntry {
        kid,
        key: URL_SAFE_NO_PAD.encode(key),
    })
}

fn key_generate(kid: Option<String>) -> Result<String, String> {
    let entry = new_key_entry(kid)?;
    eprintln!(
        "New signing key entry below. Add it to the SIGNING_KEYS JSON array (first entry signs, all verify)\n\
         and store the array with: wrangler secret put SIGNING_KEYS. Keep it secret.\n\
         (edge-token key add --keys FILE does this in a local file.)"
    );
    Ok(serde_json::json!({"kid": entry.kid, "key": entry.key}).to_string())
}

fn keys_path(args: &Args) -> Result<PathBuf, String> {
    match args.one("--keys")? {
        Some(p) if !p.is_empty() => Ok(PathBuf::from(p)),
        _ => Err("this command needs --keys FILE (the SIGNING_KEYS JSON array)".to_owned()),
    }
}

/// The entries of a keys file, validated like the Worker validates
/// `SIGNING_KEYS`. A missing or empty file has no entries when `missing_ok`.
/// Errors name the file and a position, never key material.
fn read_keys(path: &Path, missing_ok: bool) -> Result<Vec<KeyEntry>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && missing_ok => return Ok(Vec::new()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "{} does not exist (create it with: edge-token key add --keys {})",
                path.display(),
                path.display()
            ))
        }
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    if text.trim().is_empty() {
        return if missing_ok {
            Ok(Vec::new())
        } else {
            Err(format!("{} holds no keys", path.display()))
        };
    }
    KeySet::parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    // Parsed above already, so this cannot fail; its messages could quote
    // values, so none is passed on.
    serde_json::from_str(&text)
        .map_err(|_| format!("{}: not a SIGNING_KEYS JSON array", path.display()))
}

/// The file text: a JSON array, one entry per line.
fn render_keys(entries: &[KeyEntry]) -> Result<String, String> {
    let lines = entries
        .iter()
        .map(|e| serde_json::to_string(e).map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(format!("[\n  {}\n]\n", lines.join(",\n  ")))
}

/// Writes `content` to `path` atomically: a mode 0600 temporary file in the
/// same directory, renamed over `path`.
fn write_private_atomic(path: &Path, content: &str) -> Result<(), String> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| format!("{} is not a file name", path.display()))?;
    let suffix = OsRandom.token::<6>().map_err(|e| e.to_string())?;
    let tmp = dir.join(format!(
        ".{}.{}-{suffix}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let written = options.open(&tmp).and_then(|mut file| {
        file.write_all(content.as_bytes())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)
    });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(format!("cannot write {}: {e}", path.display()));
    }
    #[cfg(unix)]
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Checks `entries` as the Worker would and writes them to `path`; returns
/// the file text.
fn save_keys(path: &Path, entries: &[KeyEntry]) -> Result<String, String> {
    let content = render_keys(entries)?;
    KeySet::parse(&content).map_err(|e| format!("refusing to write {}: {e}", path.display()))?;
    write_private_atomic(path, &content)?;
    Ok(content)
}

/// The kids in order with their role; no key material.
fn key_listing(entries: &[KeyEntry]) -> Result<String, String> {
    let list: Vec<Value> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            serde_json::json!({
                "kid": e.kid,
                "role": if i == 0 { "signer" } else { "verify-only" },
            })
        })
        .collect();
    pretty(&Value::Array(list))
}

fn kid_list(entries: &[KeyEntry]) -> String {
    entries
        .iter()
        .map(|e| e.kid.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// What a key-file command did, for the next-step hint.
#[derive(Debug, Clone, PartialEq, Eq)]
enum KeyStep {
    /// Added `kid` last; `only` if it is the sole key (so it signs).
    Added { kid: String, only: bool },
    /// `kid` now signs; `old` was the signer.
    Promoted { kid: String, old: String },
    /// `kid` is gone.
    Removed { kid: String },
}

/// The outcome of a key-file command.
struct KeyChange {
    step: KeyStep,
    /// The file as written (secret: for `--apply` only).
    content: String,
    /// The new listing (no key material).
    listing: String,
}

impl std::fmt::Debug for KeyChange {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyChange")
            .field("step", &self.step)
            .field("content", &"<redacted>")
            .field("listing", &self.listing)
            .finish()
    }
}

impl KeyStep {
    /// The next step of the rotation procedure, for stderr.
    fn next(&self, file: &Path, applied: bool) -> String {
        let file = file.display();
        let put = format!("wrangler secret put SIGNING_KEYS < {file}");
        match self {
            KeyStep::Added { kid, only: true } => {
                let deploy = if applied {
                    "give every API that verifies tokens the same file".to_owned()
                } else {
                    format!(
                        "deploy it: {put} (and give every API that verifies tokens the same file)"
                    )
                };
                format!("created {file} with {kid} as the only key (the signer). Next: {deploy}")
            }
            KeyStep::Added { kid, only: false } => {
                let deploy = if applied {
                    "give every API that verifies tokens the new file".to_owned()
                } else {
                    format!("deploy it: {put} (and give every API the new file)")
                };
                format!(
                    "added {kid} as a verify-only key (last entry). Next: {deploy}; wait for propagation; then: edge-token key promote {kid} --keys {file}"
                )
            }
            KeyStep::Promoted { kid, old } => {
                let deploy = if applied {
                    String::new()
                } else {
                    format!("deploy it: {put}; ")
                };
                format!(
                    "{kid} now signs; {old} is verify-only. Next: {deploy}after MAX_TOKEN_TTL plus leeway: edge-token key remove {old} --keys {file}"
                )
            }
            KeyStep::Removed { kid } => {
                let deploy = if applied {
                    "give every API that verifies tokens the new file".to_owned()
                } else {
                    format!("deploy it: {put} (and give every API the new file)")
                };
                format!("removed {kid}; tokens signed with it are no longer accepted once the new file is deployed. Next: {deploy}")
            }
        }
    }
}

fn key_change(path: &Path, entries: &[KeyEntry], step: KeyStep) -> Result<KeyChange, String> {
    let content = save_keys(path, entries)?;
    Ok(KeyChange {
        step,
        content,
        listing: key_listing(entries)?,
    })
}

/// `key add`: a new key as the last (verify-only) entry; creates the file
/// if missing, the new key then being the only one and so the signer.
fn key_add(path: &Path, kid: Option<String>) -> Result<KeyChange, String> {
    let mut entries = read_keys(path, true)?;
    if let Some(k) = &kid {
        if entries.iter().any(|e| &e.kid == k) {
            return Err(format!("kid {k:?} is already in {}", path.display()));
        }
    }
    let entry = new_key_entry(kid)?;
    if entries.iter().any(|e| e.kid == entry.kid) {
        return Err(format!(
            "kid {:?} is already in {}; try again or pass --kid",
            entry.kid,
            path.display()
        ));
    }
    let step = KeyStep::Added {
        kid: entry.kid.clone(),
        only: entries.is_empty(),
    };
    entries.push(entry);
    key_change(path, &entries, step)
}

fn position(entries: &[KeyEntry], kid: &str, path: &Path) -> Result<usize, String> {
    entries.iter().position(|e| e.kid == kid).ok_or_else(|| {
        format!(
            "kid {kid:?} is not in {} (kids: {})",
            path.display(),
            kid_list(entries)
        )
    })
}

/// `key promote`: moves `kid` first, so it signs.
fn key_promote(path: &Path, kid: &str) -> Result<KeyChange, String> {
    let mut entries = read_keys(path, false)?;
    let at = position(&entries, kid, path)?;
    if at == 0 {
        return Err(format!("{kid} is already the signer; nothing to do"));
    }
    let old = entries.first().map(|e| e.kid.clone()).unwrap_or_default();
    let entry = entries.remove(at);
    entries.insert(0, entry);
    key_change(
        path,
        &entries,
        KeyStep::Promoted {
            kid: kid.to_owned(),
            old,
        },
    )
}

/// `key remove`: drops a verify-only key; never the signer or the last key.
fn key_remove(path: &Path, kid: &str) -> Result<KeyChange, String> {
    let mut entries = read_keys(path, false)?;
    let at = position(&entries, kid, path)?;
    if entries.len() == 1 {
        return Err(format!(
            "{kid} is the last key in {}; the Worker needs at least one",
            path.display()
        ));
    }
    if at == 0 {
        return Err(format!(
            "{kid} is the signer; promote another key first (edge-token key promote KID --keys {}), deploy, and remove {kid} after MAX_TOKEN_TTL plus leeway",
            path.display()
        ));
    }
    entries.remove(at);
    key_change(
        path,
        &entries,
        KeyStep::Removed {
            kid: kid.to_owned(),
        },
    )
}

fn key_list(path: &Path) -> Result<String, String> {
    key_listing(&read_keys(path, false)?)
}

/// Prints the next step (after `--apply`, if given) and returns the listing.
fn finish_key_change(
    path: &Path,
    change: KeyChange,
    apply: Option<&SecretPut>,
) -> Result<String, String> {
    if let Some(put) = apply {
        put.run(&change.content).map_err(|e| {
            format!(
                "{} was written, but storing it failed: {e}; retry with: wrangler secret put SIGNING_KEYS < {}",
                path.display(),
                path.display()
            )
        })?;
        eprintln!(
            "stored {} as the Worker's SIGNING_KEYS secret",
            path.display()
        );
    }
    eprintln!("{}", change.step.next(path, apply.is_some()));
    Ok(change.listing)
}

/// `--apply`: `wrangler secret put SIGNING_KEYS`, the value on stdin.
struct SecretPut {
    wrangler: Vec<String>,
    args: Vec<String>,
}

impl SecretPut {
    /// `None` without `--apply`. Checked before any file is touched.
    fn from_args(args: &Args) -> Result<Option<Self>, String> {
        if !args.flag("--apply") {
            return Ok(None);
        }
        if args.flag("--local") || args.flag("--persist-to") {
            return Err("--apply stores the deployed Worker's secret; --local and --persist-to do not apply (for `make dev`, put the array in .dev.vars)".to_owned());
        }
        let mut put = vec![
            "secret".to_owned(),
            "put".to_owned(),
            "SIGNING_KEYS".to_owned(),
        ];
        for flag in ["--env", "--config"] {
            if let Some(value) = args.one(flag)? {
                put.push(flag.to_owned());
                put.push(value);
            }
        }
        Ok(Some(SecretPut {
            wrangler: find_wrangler(args.one("--config")?.as_deref())?,
            args: put,
        }))
    }

    fn run(&self, content: &str) -> Result<(), String> {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        run_wrangler(&self.wrangler, &args, Some(content.trim_end())).map(|_| ())
    }
}

// ---------------------------------------------------------------------------
// wrangler
// ---------------------------------------------------------------------------

/// Runs wrangler with `args`, `stdin` piped in if given; its stdout on success.
fn run_wrangler(wrangler: &[String], args: &[&str], stdin: Option<&str>) -> Result<String, String> {
    let (program, pre) = wrangler.split_first().ok_or("no wrangler command")?;
    let mut child = Command::new(program)
        .args(pre)
        .args(args)
        .env("WRANGLER_SEND_METRICS", "false")
        .env("NO_COLOR", "1")
        .env("FORCE_COLOR", "0")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run wrangler ({program}): {e}"))?;
    if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
        // A wrangler that exits early closes the pipe; its status tells why.
        let _ = pipe.write_all(text.as_bytes());
    }
    let output = child
        .wait_with_output()
        .map_err(|e| format!("cannot run wrangler ({program}): {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    if output.status.success() {
        Ok(stdout)
    } else {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let detail = stderr
            .lines()
            .chain(stdout.lines())
            .map(str::trim)
            .filter(|l| !l.is_empty() && l.chars().any(char::is_alphanumeric))
            .find(|l| l.contains("ERROR") || l.contains("rror"))
            .or_else(|| stderr.lines().map(str::trim).rfind(|l| !l.is_empty()))
            .unwrap_or("no output")
            .to_owned();
        Err(format!(
            "wrangler {} failed: {detail}",
            args.iter().take(3).copied().collect::<Vec<_>>().join(" ")
        ))
    }
}

/// The KV namespace, reached through wrangler.
struct Store {
    wrangler: Vec<String>,
    common: Vec<String>,
}

impl Store {
    fn from_args(args: &Args) -> Result<Self, String> {
        if args.flag("--local") && args.flag("--remote") {
            return Err("choose one of --local and --remote".to_owned());
        }
        // The Worker reads the binding named CLIENTS (wrangler.toml).
        let mut common = vec!["--binding".to_owned(), "CLIENTS".to_owned()];
        common.push(
            if args.flag("--remote") {
                "--remote"
            } else {
                "--local"
            }
            .to_owned(),
        );
        for flag in ["--env", "--config", "--persist-to"] {
            if let Some(value) = args.one(flag)? {
                if flag == "--persist-to" && args.flag("--remote") {
                    return Err("--persist-to applies to the local store only".to_owned());
                }
                common.push(flag.to_owned());
                common.push(value);
            }
        }
        Ok(Store {
            wrangler: find_wrangler(args.one("--config")?.as_deref())?,
            common,
        })
    }

    fn wrangler(&self, args: &[&str]) -> Result<String, String> {
        let all: Vec<&str> = args
            .iter()
            .copied()
            .chain(self.common.iter().map(String::as_str))
            .collect();
        run_wrangler(&self.wrangler, &all, None)
    }

    fn load(&self, id: &str) -> Result<ClientRecord, String> {
        if id.is_empty() || id.len() > 256 || id.starts_with('-') {
            return Err(format!("bad client id {id:?}"));
        }
        let out = self.wrangler(&["kv", "key", "get", &record_key(id), "--text"])?;
        let text = out.trim();
        if text.is_empty() || text == "Value not found" {
            return Err(format!("no client {id}"));
        }
        ClientRecord::from_json(id, text).map_err(|e| format!("client {id}: {e}"))
    }

    /// Writes the record. Its JSON holds secret digests, so it never goes on
    /// wrangler's command line (visible to every local user in the process
    /// list): wrangler reads it from a private temporary file (`--path`),
    /// removed afterwards whatever happens. The metadata (name, disabled)
    /// is no secret.
    fn save(&self, record: &ClientRecord) -> Result<(), String> {
        let metadata =
            serde_json::json!({"name": record.name, "disabled": record.disabled}).to_string();
        let file = PrivateTempFile::create(&record.to_json())?;
        let path = file.path.to_str().ok_or_else(|| {
            format!(
                "the temporary directory {} is not a UTF-8 path; set TMPDIR to one that is",
                std::env::temp_dir().display()
            )
        })?;
        self.wrangler(&[
            "kv",
            "key",
            "put",
            &record_key(&record.client_id),
            "--path",
            path,
            "--metadata",
            &metadata,
        ])?;
        Ok(())
    }
}

/// A file only its owner can read (mode 0600), created new under an
/// unguessable name in the system temporary directory, and removed when
/// dropped: on success, on error and on unwinding.
struct PrivateTempFile {
    path: PathBuf,
}

impl PrivateTempFile {
    fn create(content: &str) -> Result<Self, String> {
        let name = format!(
            "edge-token-{}.json",
            OsRandom.token::<16>().map_err(|e| e.to_string())?
        );
        let path = std::env::temp_dir().join(name);
        let mut options = std::fs::OpenOptions::new();
        // create_new: never follow or reuse something already at the path.
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options
            .open(&path)
            .map_err(|e| format!("cannot create the temporary file {}: {e}", path.display()))?;
        // From here on the guard removes the file, also if writing fails.
        let guard = PrivateTempFile { path };
        file.write_all(content.as_bytes())
            .and_then(|()| file.flush())
            .map_err(|e| format!("cannot write {}: {e}", guard.path.display()))?;
        Ok(guard)
    }
}

impl Drop for PrivateTempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The wrangler command: `$EDGE_TOKEN_WRANGLER` (split on whitespace), else
/// the project's own (see [`project_wrangler`]).
fn find_wrangler(config: Option<&str>) -> Result<Vec<String>, String> {
    if config.is_some_and(str::is_empty) {
        return Err("--config needs the path of a wrangler.toml".to_owned());
    }
    if let Ok(cmd) = std::env::var("EDGE_TOKEN_WRANGLER") {
        let parts: Vec<String> = cmd.split_whitespace().map(str::to_owned).collect();
        if !parts.is_empty() {
            return Ok(parts);
        }
    }
    let cwd = std::env::current_dir()
        .map_err(|e| format!("cannot find wrangler: no current directory ({e})"))?;
    project_wrangler(config.map(Path::new), &cwd)
}

/// `node_modules/.bin/wrangler` next to the wrangler.toml in use: in the
/// directory of `config` (relative to `cwd`) when given, else in `cwd`,
/// where wrangler looks for wrangler.toml. Never a parent directory: a
/// `node_modules` further up is not this project's and might be anyone's.
fn project_wrangler(config: Option<&Path>, cwd: &Path) -> Result<Vec<String>, String> {
    let dir = match config {
        Some(file) => {
            let file = cwd.join(file);
            match file.parent() {
                Some(d) => d.to_path_buf(),
                None => return Err(format!("--config {}: not a file path", file.display())),
            }
        }
        None => cwd.to_path_buf(),
    };
    let candidate = dir.join("node_modules").join(".bin").join("wrangler");
    if candidate.is_file() {
        return candidate
            .to_str()
            .map(|c| vec![c.to_owned()])
            .ok_or_else(|| {
                format!(
                    "{} is not a UTF-8 path; set EDGE_TOKEN_WRANGLER",
                    candidate.display()
                )
            });
    }
    Err(format!(
        "wrangler not found at {} (next to the wrangler.toml in use): run `make install` in the edge-token checkout, or set EDGE_TOKEN_WRANGLER",
        candidate.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Args {
        Args::parse(list.iter().map(|s| (*s).to_owned()).collect()).unwrap()
    }

    fn digest() -> SecretHash {
        let secret = generate_client_secret(&OsRandom).unwrap();
        SecretHash::compute("etc_x", &secret)
    }

    fn record(list: &[&str]) -> ClientRecord {
        let mut all = vec!["client", "create", "--name", "test"];
        all.extend_from_slice(list);
        new_record(&args(&all), "etc_x", digest(), 100).unwrap()
    }

    fn update(list: &[&str]) -> Result<ClientUpdate, String> {
        let mut all = vec!["client", "update", "etc_x"];
        all.extend_from_slice(list);
        ClientUpdate::from_args(&args(&all))
    }

    /// A fresh directory under the system temp dir, removed on drop.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "edge-token-test-{name}-{}-{}",
                std::process::id(),
                OsRandom.token::<6>().unwrap()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn file(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn kids(path: &Path) -> Vec<String> {
        let keys = KeySet::parse(&std::fs::read_to_string(path).unwrap()).unwrap();
        keys.kids().map(str::to_owned).collect()
    }

    fn key_material(path: &Path) -> Vec<String> {
        read_keys(path, false)
            .unwrap()
            .into_iter()
            .map(|e| e.key)
            .collect()
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
    fn args_reject_unknown_and_missing_values() {
        assert!(Args::parse(vec!["client".into(), "--bogus".into()]).is_err());
        assert!(Args::parse(vec!["client".into(), "create".into(), "--name".into()]).is_err());
        let a = Args::parse(vec![
            "--scope=a b".into(),
            "--audience".into(),
            "x".into(),
            "--audience=y".into(),
            "--claim=tier=\"gold\"".into(),
        ])
        .unwrap();
        assert_eq!(a.all("--audience"), vec!["x", "y"]);
        assert_eq!(a.one("--scope").unwrap().as_deref(), Some("a b"));
        assert_eq!(a.all("--claim"), vec!["tier=\"gold\""]);
        let err = Args::parse(vec!["--introspect=true".into()]).err().unwrap();
        assert!(err.contains("takes no value"), "{err}");
    }

    #[test]
    fn allow_only_lists_per_command() {
        let a = args(&["client", "create", "--name", "x", "--no-introspect"]);
        assert!(a.allow_only(CREATE_FLAGS).is_err());
        assert!(a.allow_only(UPDATE_FLAGS).is_ok());
        let a = args(&["client", "update", "x", "--remove-claim", "t", "--remote"]);
        assert!(a.allow_only(UPDATE_FLAGS).is_ok());
        assert!(a.allow_only(CREATE_FLAGS).is_err());
        assert!(run(vec![
            "key".into(),
            "list".into(),
            "--kid".into(),
            "k".into()
        ])
        .is_err());
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
        let out = create_output(&r, "ets_secret");
        assert_eq!(out["introspect"], true);
        assert_eq!(
            out["claims"],
            serde_json::json!({"tenant": "acme", "tier": 3})
        );
        assert_eq!(out["client_secret"], "ets_secret");
        assert_eq!(ClientRecord::from_json("etc_x", &r.to_json()).unwrap(), r);
        let plain = record(&[]);
        assert!(!plain.introspect && plain.extra_claims.is_empty());
        assert_eq!(create_output(&plain, "s")["claims"], serde_json::json!({}));
        let create = |list: &[&str]| {
            let mut all = vec!["client", "create", "--name", "t"];
            all.extend_from_slice(list);
            new_record(&args(&all), "etc_x", digest(), 1)
        };
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

    #[test]
    fn key_generate_output_is_a_valid_key_entry() {
        let out = key_generate(Some("k1".into())).unwrap();
        let keys = KeySet::parse(&format!("[{out}]")).unwrap();
        assert_eq!(keys.signer().kid(), "k1");
        let auto = key_generate(None).unwrap();
        assert!(KeySet::parse(&format!("[{auto}]")).is_ok());
        assert!(key_generate(Some("bad kid".into())).is_err());
    }

    #[test]
    fn key_add_creates_private_file_with_signer() {
        let dir = TempDir::new("add-create");
        let path = dir.file("keys.json");
        let change = key_add(&path, Some("k1".into())).unwrap();
        assert_eq!(
            change.step,
            KeyStep::Added {
                kid: "k1".into(),
                only: true
            }
        );
        assert_eq!(kids(&path), vec!["k1"]);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
        }
        // No temporary file is left behind.
        assert_eq!(std::fs::read_dir(&dir.0).unwrap().count(), 1);
        // An empty (pre-created) file counts as no keys.
        let empty = dir.file("empty.json");
        std::fs::write(&empty, "").unwrap();
        key_add(&empty, None).unwrap();
        assert_eq!(kids(&empty).len(), 1);
    }

    #[test]
    fn key_add_appends_verify_only() {
        let dir = TempDir::new("add-append");
        let path = dir.file("keys.json");
        key_add(&path, Some("k1".into())).unwrap();
        let first = key_material(&path);
        let change = key_add(&path, Some("k2".into())).unwrap();
        assert_eq!(kids(&path), vec!["k1", "k2"]);
        // The existing key is kept verbatim; the new one differs.
        let both = key_material(&path);
        assert_eq!(both[0], first[0]);
        assert_ne!(both[1], both[0]);
        assert!(change.listing.contains("verify-only"));
        let next = change.step.next(&path, false);
        assert!(
            next.contains("wrangler secret put SIGNING_KEYS <"),
            "{next}"
        );
        assert!(next.contains("key promote k2 --keys"), "{next}");
        assert!(!change.step.next(&path, true).contains("secret put"));
        // Duplicate and invalid kids are refused and leave the file alone.
        assert!(key_add(&path, Some("k1".into())).is_err());
        assert!(key_add(&path, Some("bad kid".into())).is_err());
        let auto = key_add(&path, None).unwrap();
        assert_eq!(kids(&path).len(), 3);
        assert!(matches!(auto.step, KeyStep::Added { only: false, .. }));
    }

    #[test]
    fn key_promote_reorders() {
        let dir = TempDir::new("promote");
        let path = dir.file("keys.json");
        key_add(&path, Some("k1".into())).unwrap();
        key_add(&path, Some("k2".into())).unwrap();
        key_add(&path, Some("k3".into())).unwrap();
        let before = key_material(&path);
        let change = key_promote(&path, "k3").unwrap();
        assert_eq!(kids(&path), vec!["k3", "k1", "k2"]);
        let after = key_material(&path);
        assert_eq!(
            after,
            vec![before[2].clone(), before[0].clone(), before[1].clone()]
        );
        assert_eq!(
            change.step,
            KeyStep::Promoted {
                kid: "k3".into(),
                old: "k1".into()
            }
        );
        let next = change.step.next(&path, false);
        assert!(next.contains("MAX_TOKEN_TTL plus leeway"), "{next}");
        assert!(next.contains("key remove k1 --keys"), "{next}");
        assert!(key_promote(&path, "k3")
            .unwrap_err()
            .contains("already the signer"));
        let err = key_promote(&path, "k9").unwrap_err();
        assert!(err.contains("k9") && err.contains("k3, k1, k2"), "{err}");
        assert!(key_promote(&dir.file("missing.json"), "k1").is_err());
    }

    #[test]
    fn key_remove_refuses_signer_and_last_key() {
        let dir = TempDir::new("remove");
        let path = dir.file("keys.json");
        key_add(&path, Some("k1".into())).unwrap();
        let err = key_remove(&path, "k1").unwrap_err();
        assert!(err.contains("last key"), "{err}");
        key_add(&path, Some("k2".into())).unwrap();
        let err = key_remove(&path, "k1").unwrap_err();
        assert!(err.contains("signer"), "{err}");
        assert_eq!(kids(&path), vec!["k1", "k2"]);
        assert!(key_remove(&path, "k9").is_err());
        let change = key_remove(&path, "k2").unwrap();
        assert_eq!(kids(&path), vec!["k1"]);
        assert!(change.step.next(&path, false).contains("deploy it"));
        key_add(&path, Some("k2".into())).unwrap();
        key_promote(&path, "k2").unwrap();
        key_remove(&path, "k1").unwrap();
        assert_eq!(kids(&path), vec!["k2"]);
    }

    #[test]
    fn key_list_prints_roles_without_key_material() {
        let dir = TempDir::new("list");
        let path = dir.file("keys.json");
        key_add(&path, Some("k1".into())).unwrap();
        key_add(&path, Some("k2".into())).unwrap();
        let out = key_list(&path).unwrap();
        let list: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            list,
            serde_json::json!([
                {"kid": "k1", "role": "signer"},
                {"kid": "k2", "role": "verify-only"}
            ])
        );
        let promoted = key_promote(&path, "k2").unwrap().listing;
        for key in key_material(&path) {
            assert!(!out.contains(&key));
            assert!(!promoted.contains(&key));
        }
        assert!(!out.contains("\"key\""));
        assert!(key_list(&dir.file("missing.json")).is_err());
    }

    #[test]
    fn key_file_errors_never_quote_key_material() {
        let dir = TempDir::new("bad");
        let path = dir.file("keys.json");
        let secret = "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA";
        for text in [
            format!("\"{secret}\""),
            format!("[{{\"kid\":\"k1\",\"key\":\"{secret}\",\"x\":1}}]"),
            format!("[{{\"kid\":\"k1\",\"key\":\"{secret}!\"}}]"),
            format!("[{{\"kid\":\"k1\",\"key\":\"{}\"}}]", &secret[..20]),
        ] {
            std::fs::write(&path, &text).unwrap();
            for err in [
                key_list(&path).unwrap_err(),
                key_add(&path, None).err().unwrap(),
            ] {
                assert!(!err.contains(&secret[..20]), "{err}");
            }
            assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        }
    }

    #[test]
    fn apply_refuses_local_store_options() {
        let err = SecretPut::from_args(&args(&["key", "add", "--apply", "--local"]))
            .err()
            .unwrap();
        assert!(err.contains("--apply"), "{err}");
        assert!(
            SecretPut::from_args(&args(&["key", "add", "--apply", "--persist-to", "d"])).is_err()
        );
        assert!(SecretPut::from_args(&args(&["key", "add"]))
            .unwrap()
            .is_none());
    }

    #[cfg(unix)]
    #[test]
    fn apply_pipes_the_file_to_wrangler_secret_put() {
        let dir = TempDir::new("apply");
        let path = dir.file("keys.json");
        let change = key_add(&path, Some("k1".into())).unwrap();
        let out = dir.file("stdin");
        let put = SecretPut {
            wrangler: vec![
                "sh".into(),
                "-c".into(),
                "cat > \"$0\"; echo \"$@\" > \"$0.argv\"".into(),
                out.to_string_lossy().into_owned(),
            ],
            args: vec![
                "secret".into(),
                "put".into(),
                "SIGNING_KEYS".into(),
                "--env".into(),
                "prod".into(),
            ],
        };
        put.run(&change.content).unwrap();
        let got = std::fs::read_to_string(&out).unwrap();
        assert_eq!(kids(&out), vec!["k1"]);
        assert_eq!(
            got.trim_end(),
            std::fs::read_to_string(&path).unwrap().trim_end()
        );
        let argv_text = std::fs::read_to_string(format!("{}.argv", out.display())).unwrap();
        assert_eq!(argv_text.trim(), "secret put SIGNING_KEYS --env prod");
        assert!(!argv_text.contains(&key_material(&path)[0]));
        let failing = SecretPut {
            wrangler: vec![
                "sh".into(),
                "-c".into(),
                "echo 'ERROR: nope' >&2; exit 1".into(),
            ],
            args: vec![],
        };
        let err = finish_key_change(&path, change, Some(&failing)).unwrap_err();
        assert!(err.contains("nope") && err.contains("was written"), "{err}");
    }

    fn try_create(list: &[String]) -> Result<ClientRecord, String> {
        let mut all: Vec<&str> = vec!["client", "create", "--name", "t"];
        all.extend(list.iter().map(String::as_str));
        new_record(&args(&all), "etc_x", digest(), 1)
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

    #[test]
    fn wrangler_is_found_next_to_the_config_never_in_a_parent() {
        let root = TempDir::new("wrangler-lookup");
        let install = |dir: &Path| {
            let bin = dir.join("node_modules").join(".bin");
            std::fs::create_dir_all(&bin).unwrap();
            std::fs::write(bin.join("wrangler"), "#!/bin/sh\n").unwrap();
            bin.join("wrangler")
        };
        // A wrangler in a parent of the working directory is not the project's.
        install(&root.0);
        let cwd = root.0.join("work");
        std::fs::create_dir_all(cwd.join("sub")).unwrap();
        let err = project_wrangler(None, &cwd).unwrap_err();
        let looked_at = cwd.join("node_modules").join(".bin").join("wrangler");
        assert!(err.contains(&looked_at.display().to_string()), "{err}");
        assert!(
            err.contains("make install") && err.contains("EDGE_TOKEN_WRANGLER"),
            "{err}"
        );
        assert!(project_wrangler(Some(Path::new("wrangler.toml")), &cwd).is_err());
        // Nor is one in a parent of the config file's directory.
        let err = project_wrangler(Some(Path::new("sub/wrangler.toml")), &cwd).unwrap_err();
        assert!(err.contains("sub"), "{err}");

        // One next to the config file is found, however the path is given.
        let proj = root.0.join("proj");
        let theirs = install(&proj);
        let found = project_wrangler(Some(&proj.join("wrangler.toml")), &cwd).unwrap();
        assert_eq!(found, vec![theirs.to_str().unwrap().to_owned()]);
        let found = project_wrangler(Some(Path::new("../proj/wrangler.toml")), &cwd).unwrap();
        assert_eq!(
            Path::new(&found[0]).canonicalize().unwrap(),
            theirs.canonicalize().unwrap()
        );
        // Without --config: the working directory's own.
        let own = install(&cwd);
        assert_eq!(
            project_wrangler(None, &cwd).unwrap(),
            vec![own.to_str().unwrap().to_owned()]
        );
        // A config elsewhere never falls back to the working directory's.
        assert!(project_wrangler(Some(Path::new("sub/wrangler.toml")), &cwd).is_err());
        assert!(find_wrangler(Some("")).unwrap_err().contains("--config"));
    }

    /// A wrangler stand-in (run by `sh`, so it needs no exec bit) that logs
    /// its argv one per line to `argv`, and for the file after `--path`
    /// stores its name in `path`, a copy in `copy` and its mode in `mode`.
    #[cfg(unix)]
    fn fake_wrangler(dir: &TempDir, status: u8) -> Vec<String> {
        let script = dir.file("wrangler.sh");
        std::fs::write(
            &script,
            format!(
                r#"dir=$(dirname "$0")
for a in "$@"; do printf '%s\n' "$a" >> "$dir/argv"; done
prev=
for a in "$@"; do
  if [ "$prev" = --path ]; then
    printf '%s' "$a" > "$dir/path"
    cp "$a" "$dir/copy"
    {{ stat -c %a "$a" 2>/dev/null || stat -f %Lp "$a"; }} > "$dir/mode"
  fi
  prev=$a
done
[ {status} = 0 ] || echo "ERROR: fake wrangler fails" >&2
exit {status}
"#
            ),
        )
        .unwrap();
        vec!["sh".to_owned(), script.to_str().unwrap().to_owned()]
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
                    r#"{"disabled":false,"name":"test"}"#,
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
    fn private_temp_files_are_new_unguessable_and_removed_on_drop() {
        let a = PrivateTempFile::create("one").unwrap();
        let b = PrivateTempFile::create("two").unwrap();
        assert_ne!(a.path, b.path);
        assert_eq!(std::fs::read_to_string(&a.path).unwrap(), "one");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&b.path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "mode {mode:o}");
        }
        let path = a.path.clone();
        drop(a);
        assert!(!path.exists());
        assert!(b.path.exists());
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
        let out = create_output(&r, "ets_s");
        assert_eq!(
            out["introspect_audiences"],
            serde_json::json!(["https://a.example", "https://b.example"])
        );
        let plain = record(&["--introspect"]);
        assert!(plain.introspect_audiences.is_empty());
        assert_eq!(
            create_output(&plain, "s")["introspect_audiences"],
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
        // What only validate() catches says which option to change.
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
}
