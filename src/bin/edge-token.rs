//! `edge-token`: the admin CLI. Registers and manages clients in the Workers
//! KV namespace (through wrangler) and generates signing keys.

use std::path::PathBuf;
use std::process::{Command, ExitCode};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use edge_token::client::{
    generate_client_id, generate_client_secret, record_key, ClientRecord, RotateError, SecretEntry,
    SecretHash, KEY_PREFIX, RECORD_VERSION,
};
use edge_token::random::{OsRandom, Random};
use edge_token::scope::{is_absolute_uri, is_scope_token};

const USAGE: &str = "\
edge-token: manage edge-token clients and signing keys

USAGE:
  edge-token client create --name NAME [--scope \"a b\"] [--default-scope \"a\"]
                           [--audience URI]... [--default-audience URI]... [--ttl SECS]
  edge-token client list
  edge-token client show ID
  edge-token client disable ID
  edge-token client enable ID
  edge-token client delete ID
  edge-token client rotate-secret ID [--grace DURATION] [--force]
  edge-token key generate [--kid KID]

STORE OPTIONS (client commands):
  --local              the local store that `make dev` serves (default)
  --remote             the deployed KV namespace
  --env NAME           wrangler environment
  --config PATH        wrangler configuration file (default: wrangler.toml)
  --persist-to DIR     local state directory (default: wrangler's, .wrangler/state)

Client secrets are printed once, on creation and rotation, and never stored.
DURATION is seconds or a number with s, m, h or d (default grace: 24h).
wrangler is taken from $EDGE_TOKEN_WRANGLER, else ./node_modules/.bin/wrangler.";

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
    "--ttl",
    "--grace",
    "--kid",
    "--env",
    "--config",
    "--persist-to",
];
const BOOL_FLAGS: &[&str] = &["--local", "--remote", "--force", "--help", "-h"];

impl Args {
    fn parse(raw: Vec<String>) -> Result<Self, String> {
        let mut positionals = Vec::new();
        let mut options = Vec::new();
        let mut it = raw.into_iter();
        while let Some(arg) = it.next() {
            if let Some((flag, value)) = arg.split_once('=').filter(|(f, _)| f.starts_with("--")) {
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

    fn allow_only(&self, allowed: &[&str]) -> Result<(), String> {
        const STORE: &[&str] = &["--local", "--remote", "--env", "--config", "--persist-to"];
        match self
            .options
            .iter()
            .find(|(n, _)| !allowed.contains(&n.as_str()) && !STORE.contains(&n.as_str()))
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
        ["client", "create"] => {
            args.allow_only(&[
                "--name",
                "--scope",
                "--default-scope",
                "--audience",
                "--default-audience",
                "--ttl",
            ])?;
            client_create(&Store::from_args(&args)?, &args)
        }
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

fn pretty(value: &serde_json::Value) -> Result<String, String> {
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

fn split_scopes(values: Vec<String>) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for token in values
        .iter()
        .flat_map(|v| v.split(' '))
        .filter(|t| !t.is_empty())
    {
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

fn client_create(store: &Store, args: &Args) -> Result<String, String> {
    let name = args
        .one("--name")?
        .ok_or("client create needs --name NAME")?;
    if name.trim().is_empty() || name.len() > 200 {
        return Err("--name must be 1-200 characters".to_owned());
    }
    let allowed_scopes = split_scopes(args.all("--scope"))?;
    let default_scopes = match args.one("--default-scope")? {
        Some(d) => split_scopes(vec![d])?,
        None => allowed_scopes.clone(),
    };
    if let Some(extra) = default_scopes.iter().find(|s| !allowed_scopes.contains(s)) {
        return Err(format!(
            "default scope {extra:?} is not among the allowed scopes (--scope)"
        ));
    }
    let allowed_audiences = args.all("--audience");
    let default_audiences = args.all("--default-audience");
    for aud in allowed_audiences.iter().chain(&default_audiences) {
        if !is_absolute_uri(aud) {
            return Err(format!("audience {aud:?} must be an absolute URI without a fragment (e.g. https://api.example.com)"));
        }
    }
    if let Some(extra) = default_audiences
        .iter()
        .find(|a| !allowed_audiences.contains(a))
    {
        return Err(format!(
            "default audience {extra:?} is not among the allowed audiences (--audience)"
        ));
    }
    let default_audiences = if default_audiences.is_empty() && allowed_audiences.len() == 1 {
        allowed_audiences.clone()
    } else {
        default_audiences
    };
    let token_ttl = match args.one("--ttl")? {
        Some(t) => Some(
            parse_duration(&t)
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| format!("bad --ttl {t:?}"))?,
        ),
        None => None,
    };

    let client_id = generate_client_id(&OsRandom).map_err(|e| e.to_string())?;
    let secret = generate_client_secret(&OsRandom).map_err(|e| e.to_string())?;
    let now = now();
    let record = ClientRecord {
        version: RECORD_VERSION,
        client_id: client_id.clone(),
        name: name.trim().to_owned(),
        secrets: vec![SecretEntry {
            digest: SecretHash::compute(&client_id, &secret),
            created_at: now,
            expires_at: None,
        }],
        allowed_scopes,
        default_scopes,
        allowed_audiences,
        default_audiences,
        token_ttl,
        disabled: false,
        created_at: now,
        updated_at: now,
    };
    store.save(&record)?;
    pretty(&serde_json::json!({
        "client_id": client_id,
        "client_secret": secret.expose(),
        "name": record.name,
        "scope": record.allowed_scopes.join(" "),
        "default_scope": record.default_scopes.join(" "),
        "audiences": record.allowed_audiences,
        "default_audiences": record.default_audiences,
        "token_ttl": record.token_ttl,
    }))
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
    let keys: Vec<serde_json::Value> = serde_json::from_str(out.trim())
        .map_err(|e| format!("unexpected output from wrangler kv key list: {e}"))?;
    let clients: Vec<serde_json::Value> = keys
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
    pretty(&serde_json::Value::Array(clients))
}

fn key_generate(kid: Option<String>) -> Result<String, String> {
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
    // Validates the kid the same way the Worker will.
    edge_token::token::SigningKey::new(&kid, &key).map_err(|e| e.to_string())?;
    let entry = serde_json::json!({"kid": kid, "key": URL_SAFE_NO_PAD.encode(key)});
    eprintln!(
        "New signing key entry below. Add it to the SIGNING_KEYS JSON array (first entry signs, all verify)\n\
         and store the array with: wrangler secret put SIGNING_KEYS. Keep it secret."
    );
    Ok(entry.to_string())
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
            wrangler: find_wrangler()?,
            common,
        })
    }

    fn wrangler(&self, args: &[&str]) -> Result<String, String> {
        let (program, pre) = self.wrangler.split_first().ok_or("no wrangler command")?;
        let output = Command::new(program)
            .args(pre)
            .args(args)
            .args(&self.common)
            .env("WRANGLER_SEND_METRICS", "false")
            .env("NO_COLOR", "1")
            .env("FORCE_COLOR", "0")
            .output()
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

    fn save(&self, record: &ClientRecord) -> Result<(), String> {
        let metadata =
            serde_json::json!({"name": record.name, "disabled": record.disabled}).to_string();
        let json = record.to_json();
        self.wrangler(&[
            "kv",
            "key",
            "put",
            &record_key(&record.client_id),
            &json,
            "--metadata",
            &metadata,
        ])?;
        Ok(())
    }
}

fn find_wrangler() -> Result<Vec<String>, String> {
    if let Ok(cmd) = std::env::var("EDGE_TOKEN_WRANGLER") {
        let parts: Vec<String> = cmd.split_whitespace().map(str::to_owned).collect();
        if !parts.is_empty() {
            return Ok(parts);
        }
    }
    let mut dir = std::env::current_dir().ok();
    while let Some(d) = dir {
        let candidate: PathBuf = d.join("node_modules/.bin/wrangler");
        if candidate.is_file() {
            return Ok(vec![candidate.to_string_lossy().into_owned()]);
        }
        dir = d.parent().map(PathBuf::from);
    }
    Err("wrangler not found: run `make install` in the edge-token checkout, or set EDGE_TOKEN_WRANGLER".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

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
        ])
        .unwrap();
        assert_eq!(a.all("--audience"), vec!["x", "y"]);
        assert_eq!(a.one("--scope").unwrap().as_deref(), Some("a b"));
    }

    #[test]
    fn key_generate_output_is_a_valid_key_entry() {
        let out = key_generate(Some("k1".into())).unwrap();
        let keys = edge_token::token::KeySet::parse(&format!("[{out}]")).unwrap();
        assert_eq!(keys.signer().kid(), "k1");
        let auto = key_generate(None).unwrap();
        assert!(edge_token::token::KeySet::parse(&format!("[{auto}]")).is_ok());
    }
}
