//! Finding and running wrangler, and the KV namespace reached through it.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use edge_token_core::client::{record_key, ClientRecord};
use edge_token_core::random::{OsRandom, Random};
use serde_json::Value;

use crate::args::StoreArgs;

/// Times a wrangler call on local state is retried while that state's
/// SQLite database is locked (by a running `wrangler dev`, or another
/// writer), and the first pause, doubled each time.
const LOCKED_RETRIES: u32 = 5;
const LOCKED_PAUSE_MS: u64 = 100;

/// Runs wrangler with `args`, `stdin` piped in if given; its stdout on
/// success. A local store whose database is busy (`SQLITE_BUSY`: `make dev`
/// or the tests write it at the same moment) is tried again, a few times,
/// before that is an error.
pub fn run_wrangler(
    wrangler: &[String],
    args: &[&str],
    stdin: Option<&str>,
) -> Result<String, String> {
    let mut pause = LOCKED_PAUSE_MS;
    for _ in 0..LOCKED_RETRIES {
        match run_wrangler_once(wrangler, args, stdin) {
            Err(e) if e.contains("SQLITE_BUSY") || e.contains("database is locked") => {
                std::thread::sleep(std::time::Duration::from_millis(pause));
                pause *= 2;
            }
            done => return done,
        }
    }
    run_wrangler_once(wrangler, args, stdin)
}

fn run_wrangler_once(
    wrangler: &[String],
    args: &[&str],
    stdin: Option<&str>,
) -> Result<String, String> {
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
    // NO_COLOR and FORCE_COLOR ask wrangler for plain text; what it prints
    // anyway (a tool it runs, a terminal link) is stripped here, so no
    // escape sequence reaches the CLI's output or its error messages.
    let stdout = strip_ansi(&String::from_utf8_lossy(&output.stdout));
    if output.status.success() {
        Ok(stdout)
    } else {
        let stderr = strip_ansi(&String::from_utf8_lossy(&output.stderr));
        let detail = stderr
            .lines()
            .chain(stdout.lines())
            .map(str::trim)
            .filter(|l| !l.is_empty() && l.chars().any(char::is_alphanumeric))
            .find(|l| l.contains("ERROR") || l.contains("rror"))
            .or_else(|| stderr.lines().map(str::trim).rfind(|l| !l.is_empty()))
            .unwrap_or("no output")
            .chars()
            .filter(|c| !c.is_control() || *c == '\t')
            .collect::<String>();
        Err(format!(
            "wrangler {} failed: {detail}",
            args.iter().take(3).copied().collect::<Vec<_>>().join(" ")
        ))
    }
}

/// `text` without terminal escape sequences: CSI (`ESC [ ... final`, colours
/// and cursor moves, also as the one-byte C1 CSI), OSC (`ESC ] ... BEL` or
/// `... ESC \\`, terminal links and titles) and the other `ESC` sequences.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let csi = match c {
            '\u{9b}' => true,
            '\x1b' => chars.next_if_eq(&'[').is_some(),
            _ => {
                out.push(c);
                continue;
            }
        };
        if csi {
            // Parameter and intermediate bytes, then one final byte.
            while chars.next_if(|n| matches!(n, ' '..='?')).is_some() {}
            chars.next_if(|n| matches!(n, '@'..='~'));
        } else if chars.next_if_eq(&']').is_some() {
            while let Some(n) = chars.next() {
                if n == '\x07' || (n == '\x1b' && chars.next_if_eq(&'\\').is_some()) {
                    break;
                }
            }
        } else {
            // ESC, intermediate bytes, one final byte (e.g. `ESC ( B`).
            while chars.next_if(|n| matches!(n, ' '..='/')).is_some() {}
            chars.next_if(|n| matches!(n, '0'..='~'));
        }
    }
    out
}

/// The KV namespace, reached through wrangler.
pub struct Store {
    pub(crate) wrangler: Vec<String>,
    pub(crate) common: Vec<String>,
    /// The Worker's vars in the wrangler configuration in use (of the
    /// `--env` given, if any).
    pub(crate) vars: BTreeMap<String, String>,
}

impl Store {
    pub fn from_args(args: &StoreArgs) -> Result<Self, String> {
        if args.local && args.remote {
            return Err("choose one of --local and --remote".to_owned());
        }
        if args.persist_to.is_some() && args.remote {
            return Err("--persist-to applies to the local store only".to_owned());
        }
        if let Some(dir) = &args.persist_to {
            check_state_dir(Path::new(dir), args.new_state)?;
        }
        let config_path = issuer_config(args.config.as_deref(), &current_dir()?);
        let config = WranglerConfig::load(config_path.as_deref(), &current_dir()?)?;
        if let Some(env) = &args.env {
            config.check_env(env)?;
        }
        // The Worker reads the binding named CLIENTS (wrangler.toml).
        let mut common = vec![
            "--binding".to_owned(),
            edge_token_core::store::CLIENTS_BINDING.to_owned(),
        ];
        common.push(if args.remote { "--remote" } else { "--local" }.to_owned());
        for (flag, value) in [
            ("--env", &args.env),
            ("--config", &config_path),
            ("--persist-to", &args.persist_to),
        ] {
            if let Some(value) = value {
                common.push(flag.to_owned());
                common.push(value.clone());
            }
        }
        let vars = match &args.env {
            Some(env) => config.env_vars.get(env).cloned().unwrap_or_default(),
            None => config.vars,
        };
        Ok(Store {
            wrangler: find_wrangler(config_path.as_deref())?,
            common,
            vars,
        })
    }

    /// The Worker's setting `name` in seconds as configured (wrangler.toml
    /// vars), else `default` (also for a value the Worker would refuse).
    pub fn seconds(&self, name: &str, default: u64) -> u64 {
        self.vars
            .get(name)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(default)
    }

    pub fn wrangler(&self, args: &[&str]) -> Result<String, String> {
        let all: Vec<&str> = args
            .iter()
            .copied()
            .chain(self.common.iter().map(String::as_str))
            .collect();
        run_wrangler(&self.wrangler, &all, None)
    }

    pub fn load(&self, id: &str) -> Result<ClientRecord, String> {
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
    /// removed afterwards whatever happens. The metadata (name, disabled,
    /// how the client authenticates: what `client list` prints) is no secret.
    pub fn save(&self, record: &ClientRecord) -> Result<(), String> {
        let metadata = serde_json::json!({
            "name": record.name,
            "disabled": record.disabled,
            "token_endpoint_auth_method": record.auth_method_name(),
        })
        .to_string();
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
pub struct PrivateTempFile {
    pub path: PathBuf,
}

impl PrivateTempFile {
    pub fn create(content: &str) -> Result<Self, String> {
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

/// What the CLI reads from the wrangler configuration in use: the
/// environments it defines (`[env.NAME]`) and the Worker's vars.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WranglerConfig {
    /// The file read; `None` when there is none.
    pub path: Option<PathBuf>,
    /// The names of the environments it defines.
    pub envs: BTreeSet<String>,
    /// `[vars]`.
    pub vars: BTreeMap<String, String>,
    /// `[env.NAME.vars]` by environment (wrangler does not inherit `[vars]`).
    pub env_vars: BTreeMap<String, BTreeMap<String, String>>,
}

/// The files wrangler reads when no `--config` is given, in its order.
const DEFAULT_CONFIGS: &[&str] = &["wrangler.json", "wrangler.jsonc", "wrangler.toml"];

impl WranglerConfig {
    /// The configuration in use: the `--config` file (relative to `cwd`),
    /// else the first of [`DEFAULT_CONFIGS`] in `cwd`. No file is an empty
    /// configuration (wrangler reports a missing `--config` itself).
    pub fn load(config: Option<&str>, cwd: &Path) -> Result<Self, String> {
        if config.is_some_and(str::is_empty) {
            return Err("--config needs the path of a wrangler.toml".to_owned());
        }
        let path = match config {
            Some(file) => cwd.join(file),
            None => match DEFAULT_CONFIGS
                .iter()
                .map(|name| cwd.join(name))
                .find(|p| p.is_file())
            {
                Some(p) => p,
                None => return Ok(WranglerConfig::default()),
            },
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => WranglerConfig::parse(&path, &text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(WranglerConfig::default()),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    /// Reads `text`, JSON (with comments) for a `.json` or `.jsonc` file, else TOML.
    pub fn parse(path: &Path, text: &str) -> Result<Self, String> {
        let json = path
            .extension()
            .is_some_and(|e| e == "json" || e == "jsonc");
        let mut config = if json {
            parse_json_config(text).map_err(|e| format!("cannot read {}: {e}", path.display()))?
        } else {
            parse_toml_config(text)
        };
        config.path = Some(path.to_path_buf());
        Ok(config)
    }

    /// Refuses an `--env` the configuration does not define: wrangler
    /// would quietly use the top-level settings instead.
    pub fn check_env(&self, env: &str) -> Result<(), String> {
        if self.envs.contains(env) {
            return Ok(());
        }
        let Some(path) = &self.path else {
            return Err(format!(
                "--env {env}: no wrangler configuration ({}) here to define it; pass --config",
                DEFAULT_CONFIGS.join(", ")
            ));
        };
        let known = if self.envs.is_empty() {
            "it defines none".to_owned()
        } else {
            format!(
                "it defines {}",
                self.envs.iter().cloned().collect::<Vec<_>>().join(", ")
            )
        };
        Err(format!(
            "--env {env}: {} has no [env.{env}] ({known})",
            path.display()
        ))
    }
}

/// The environments and vars of a wrangler.toml, read line by line: table
/// headers (`[env.NAME]`, `[[env.NAME.kv_namespaces]]`, `[env.NAME.vars]`,
/// `[vars]`), dotted keys (`env.NAME.vars.X = ...`) and `KEY = value` lines.
/// Enough for the settings the CLI needs; wrangler stays the judge of the rest.
fn parse_toml_config(text: &str) -> WranglerConfig {
    let mut config = WranglerConfig::default();
    let mut table: Vec<String> = Vec::new();
    for raw in text.lines() {
        let line = strip_toml_comment(raw).trim();
        if line.starts_with('[') {
            if let Some(header) = toml_header(line) {
                table = header;
                note_env(&mut config, &table);
            }
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let path: Vec<String> = table
            .iter()
            .cloned()
            .chain(split_dotted(key.trim()))
            .collect();
        note_env(&mut config, &path);
        let value = toml_scalar(value.trim());
        match path.as_slice() {
            [vars, name] if vars == "vars" => {
                config.vars.insert(name.clone(), value);
            }
            [env, which, vars, name] if env == "env" && vars == "vars" => {
                config
                    .env_vars
                    .entry(which.clone())
                    .or_default()
                    .insert(name.clone(), value);
            }
            _ => {}
        }
    }
    config
}

/// Records `NAME` of a key path `env.NAME...`.
fn note_env(config: &mut WranglerConfig, path: &[String]) {
    if let [env, name, ..] = path {
        if env == "env" {
            config.envs.insert(name.clone());
        }
    }
}

/// The key path of a `[a.b]` or `[[a.b]]` header line; `None` for a line
/// that is no header (a continued array, say).
fn toml_header(line: &str) -> Option<Vec<String>> {
    let inner = line
        .strip_prefix("[[")
        .and_then(|l| l.strip_suffix("]]"))
        .or_else(|| line.strip_prefix('[').and_then(|l| l.strip_suffix(']')))?;
    let inner = inner.trim();
    // `["a"]` in a continued array is no header; `[env."a b"]` is.
    if inner.is_empty() || inner.starts_with(['"', '\'']) || inner.contains([',', '[', ']']) {
        return None;
    }
    let path = split_dotted(inner);
    path.iter().all(|p| !p.is_empty()).then_some(path)
}

/// `line` without a `#` comment (a `#` in a quoted string is kept).
fn strip_toml_comment(line: &str) -> &str {
    let mut quote = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        match (quote, c) {
            (Some('"'), '\\') if !escaped => {
                escaped = true;
                continue;
            }
            (Some(q), c) if c == q && !escaped => quote = None,
            (None, '"' | '\'') => quote = Some(c),
            (None, '#') => return line.get(..i).unwrap_or(line),
            _ => {}
        }
        escaped = false;
    }
    line
}

/// `a.b."c.d"` to `[a, b, c.d]`.
fn split_dotted(key: &str) -> Vec<String> {
    let mut parts = Vec::new();
    let mut part = String::new();
    let mut quote = None;
    for c in key.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => part.push(c),
            (None, '"' | '\'') => quote = Some(c),
            (None, '.') => parts.push(std::mem::take(&mut part).trim().to_owned()),
            (None, c) => part.push(c),
        }
    }
    parts.push(part.trim().to_owned());
    parts
}

/// A TOML value as text: a quoted string's content, else the bare value.
fn toml_scalar(value: &str) -> String {
    for q in ['"', '\''] {
        if let Some(rest) = value.strip_prefix(q) {
            return rest.split(q).next().unwrap_or_default().to_owned();
        }
    }
    value.trim().to_owned()
}

/// The environments and vars of a wrangler.json(c).
fn parse_json_config(text: &str) -> Result<WranglerConfig, String> {
    let value: Value = serde_json::from_str(&strip_jsonc(text)).map_err(|e| e.to_string())?;
    let vars = |v: Option<&Value>| -> BTreeMap<String, String> {
        v.and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, v)| {
                        let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                        (k.clone(), text)
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let mut config = WranglerConfig {
        vars: vars(value.get("vars")),
        ..WranglerConfig::default()
    };
    if let Some(envs) = value.get("env").and_then(Value::as_object) {
        for (name, env) in envs {
            config.envs.insert(name.clone());
            config.env_vars.insert(name.clone(), vars(env.get("vars")));
        }
    }
    Ok(config)
}

/// JSON with comments (`//`, `/* */`) and trailing commas, as wrangler
/// accepts it, to plain JSON.
fn strip_jsonc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                '\\' => out.extend(chars.next()),
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => {
                in_string = true;
                out.push(c);
            }
            '/' if chars.next_if_eq(&'/').is_some() => {
                while chars.next_if(|n| *n != '\n').is_some() {}
            }
            '/' if chars.next_if_eq(&'*').is_some() => {
                let mut last = ' ';
                for n in chars.by_ref() {
                    if last == '*' && n == '/' {
                        break;
                    }
                    last = n;
                }
            }
            ',' => {
                let rest: String = chars.clone().collect();
                let next = strip_jsonc_lead(&rest);
                if !(next.starts_with('}') || next.starts_with(']')) {
                    out.push(c);
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// `text` without its leading whitespace and comments.
fn strip_jsonc_lead(text: &str) -> &str {
    let mut rest = text.trim_start();
    loop {
        if let Some(r) = rest.strip_prefix("//") {
            rest = r.split_once('\n').map_or("", |(_, r)| r).trim_start();
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r.split_once("*/").map_or("", |(_, r)| r).trim_start();
        } else {
            return rest;
        }
    }
}

/// The wrangler configuration a command uses: `--config` when given, else
/// the issuer's, found from the project root: the first of
/// [`DEFAULT_CONFIGS`] that binds the `CLIENTS` KV namespace, in `cwd` or
/// the nearest directory above it. So a command run from
/// `examples/resource-worker` (whose wrangler.toml binds only
/// `REVOCATIONS`) reaches the issuer's store, not an empty one of its own.
/// `None`: no such file; wrangler then looks in `cwd` as it always does.
pub fn issuer_config(config: Option<&str>, cwd: &Path) -> Option<String> {
    if let Some(config) = config {
        return Some(config.to_owned());
    }
    cwd.ancestors().find_map(|dir| {
        DEFAULT_CONFIGS
            .iter()
            .map(|name| dir.join(name))
            .find(|p| p.is_file() && binds_clients(&std::fs::read_to_string(p).unwrap_or_default()))
            .and_then(|p| p.to_str().map(str::to_owned))
    })
}

/// Whether a wrangler configuration's text binds the `CLIENTS` KV namespace
/// (`binding = "CLIENTS"` in TOML, inline tables too; `"binding": "CLIENTS"`
/// in JSON), comments and whitespace aside.
fn binds_clients(text: &str) -> bool {
    let squeeze = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    let name = edge_token_core::store::CLIENTS_BINDING;
    let toml = format!("binding=\"{name}\"");
    let toml_hit = text.lines().any(|line| {
        let line = squeeze(strip_toml_comment(line));
        line.match_indices(&toml)
            .any(|(at, _)| at == 0 || matches!(line.as_bytes().get(at - 1), Some(b'{' | b',')))
    });
    toml_hit || squeeze(&strip_jsonc(text)).contains(&format!("\"binding\":\"{name}\""))
}

/// A `--persist-to` directory must hold wrangler's local state (its `v3`
/// folder) already: a mistyped path would otherwise start an empty store
/// and the command would seem to lose every client. `new_state`
/// (`--new-state`) allows a new one; on a terminal the CLI asks.
pub fn check_state_dir(dir: &Path, new_state: bool) -> Result<(), String> {
    if new_state || dir.join("v3").is_dir() {
        return Ok(());
    }
    let problem = format!(
        "--persist-to {} holds no local state (no v3 folder)",
        dir.display()
    );
    if !std::io::stdin().is_terminal() {
        return Err(format!(
            "{problem}; check the path, or pass --new-state to start a new store there"
        ));
    }
    let mut stderr = std::io::stderr().lock();
    let _ = write!(stderr, "{problem}. Start a new store there? [y/N] ");
    let _ = stderr.flush();
    let mut answer = String::new();
    std::io::stdin()
        .read_line(&mut answer)
        .map_err(|e| format!("cannot read the answer: {e}"))?;
    if matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes") {
        Ok(())
    } else {
        Err(format!("{problem}; nothing done"))
    }
}

pub fn current_dir() -> Result<PathBuf, String> {
    std::env::current_dir().map_err(|e| format!("no current directory: {e}"))
}

/// The wrangler command: `$EDGE_TOKEN_WRANGLER` (split on whitespace), else
/// the project's own (see [`project_wrangler`]).
pub fn find_wrangler(config: Option<&str>) -> Result<Vec<String>, String> {
    if config.is_some_and(str::is_empty) {
        return Err("--config needs the path of a wrangler.toml".to_owned());
    }
    if let Ok(cmd) = std::env::var("EDGE_TOKEN_WRANGLER") {
        let parts: Vec<String> = cmd.split_whitespace().map(str::to_owned).collect();
        if !parts.is_empty() {
            return Ok(parts);
        }
    }
    project_wrangler(config.map(Path::new), &current_dir()?)
}

/// `node_modules/.bin/wrangler` next to the wrangler.toml in use: in the
/// directory of `config` (relative to `cwd`) when given, else in `cwd`,
/// where wrangler looks for wrangler.toml. Never a parent directory: a
/// `node_modules` further up is not this project's and might be anyone's.
pub fn project_wrangler(config: Option<&Path>, cwd: &Path) -> Result<Vec<String>, String> {
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
    use crate::testutil::TempDir;

    /// wrangler's error line as it prints it on a colour terminal.
    const COLOURED_ERROR: &str = "\x1b[31m\u{2718} \x1b[41;31m[\x1b[41;97mERROR\x1b[41;31m]\x1b[0m \x1b[1mno such namespace\x1b[0m";

    const TOML: &str = r#"name = "edge-token"
main = "build/index.js"
env.dotted.vars.MAX_TOKEN_TTL = "7200"
watch_dir = [
  "crates/a", # [env.not_a_header]
  ["nested"],
]
# [env.commented]

[vars]
ISSUER = "https://a.example" # the issuer
KV_CACHE_TTL = "120"
CLIENT_CACHE_TTL = 10

[env.staging]
name = "edge-token-staging"

[[env.staging.kv_namespaces]]
binding = "CLIENTS"

[env.staging.vars]
KV_CACHE_TTL = '90'
HASH = "a#b"

[env."with space"]
vars = { KV_CACHE_TTL = "61" }
"#;

    #[test]
    fn wrangler_toml_environments_and_vars() {
        let c = WranglerConfig::parse(Path::new("w/wrangler.toml"), TOML).unwrap();
        assert_eq!(
            c.envs.iter().map(String::as_str).collect::<Vec<_>>(),
            vec!["dotted", "staging", "with space"]
        );
        assert_eq!(c.vars["ISSUER"], "https://a.example");
        assert_eq!(c.vars["KV_CACHE_TTL"], "120");
        assert_eq!(c.vars["CLIENT_CACHE_TTL"], "10");
        assert_eq!(c.env_vars["staging"]["KV_CACHE_TTL"], "90");
        assert_eq!(c.env_vars["staging"]["HASH"], "a#b");
        assert_eq!(c.env_vars["dotted"]["MAX_TOKEN_TTL"], "7200");
        assert!(!c.vars.contains_key("name") && !c.vars.contains_key("binding"));
        assert!(c.check_env("staging").is_ok());
        assert!(c.check_env("with space").is_ok());
        let err = c.check_env("prod").unwrap_err();
        assert!(
            err.contains("[env.prod]")
                && err.contains("w/wrangler.toml")
                && err.contains("staging"),
            "{err}"
        );
        assert!(c.check_env("commented").is_err());
        assert!(c.check_env("not_a_header").is_err());
        let none = WranglerConfig::parse(Path::new("wrangler.toml"), "name = \"x\"\n").unwrap();
        assert!(none
            .check_env("staging")
            .unwrap_err()
            .contains("defines none"));
        let err = WranglerConfig::default().check_env("staging").unwrap_err();
        assert!(err.contains("--config"), "{err}");
    }

    #[test]
    fn wrangler_json_environments_and_vars() {
        let text = r#"{
          // comments and trailing commas, as wrangler allows
          "name": "edge-token", /* block */
          "vars": { "KV_CACHE_TTL": "120", "CLIENT_CACHE_TTL": 0, "URL": "http://x//y" },
          "env": {
            "staging": { "vars": { "KV_CACHE_TTL": "90", }, },
            "prod": {},
          },
        }"#;
        let c = WranglerConfig::parse(Path::new("wrangler.jsonc"), text).unwrap();
        assert_eq!(
            c.envs.iter().map(String::as_str).collect::<Vec<_>>(),
            vec!["prod", "staging"]
        );
        assert_eq!(c.vars["CLIENT_CACHE_TTL"], "0");
        assert_eq!(c.vars["URL"], "http://x//y");
        assert_eq!(c.env_vars["staging"]["KV_CACHE_TTL"], "90");
        assert!(c.check_env("qa").is_err());
        assert!(WranglerConfig::parse(Path::new("wrangler.json"), "{").is_err());
    }

    #[test]
    fn the_wrangler_config_in_use() {
        let dir = TempDir::new("config-in-use");
        assert_eq!(
            WranglerConfig::load(None, &dir.0).unwrap(),
            WranglerConfig::default()
        );
        std::fs::write(dir.file("wrangler.toml"), "[env.a]\n").unwrap();
        let c = WranglerConfig::load(None, &dir.0).unwrap();
        assert!(c.envs.contains("a"));
        // wrangler prefers wrangler.json.
        std::fs::write(dir.file("wrangler.json"), r#"{"env": {"b": {}}}"#).unwrap();
        let c = WranglerConfig::load(None, &dir.0).unwrap();
        assert!(c.envs.contains("b") && !c.envs.contains("a"));
        std::fs::create_dir_all(dir.file("sub")).unwrap();
        std::fs::write(dir.file("sub/w.toml"), "[env.c.vars]\nX = 1\n").unwrap();
        let c = WranglerConfig::load(Some("sub/w.toml"), &dir.0).unwrap();
        assert!(c.envs.contains("c"));
        assert!(WranglerConfig::load(Some(""), &dir.0).is_err());
    }

    #[test]
    fn strip_ansi_removes_escape_sequences_only() {
        assert_eq!(
            strip_ansi(COLOURED_ERROR),
            "\u{2718} [ERROR] no such namespace"
        );
        assert_eq!(strip_ansi("plain [text] ok"), "plain [text] ok");
        assert_eq!(strip_ansi("a\x1b[2Kb\x1b[1;31mc"), "abc");
        assert_eq!(
            strip_ansi("\x1b]8;;https://x\x07link\x1b]8;;\x1b\\!"),
            "link!"
        );
        assert_eq!(strip_ansi("\x1b(Bx\x1b=y\u{9b}0mz"), "xyz");
        assert_eq!(
            strip_ansi("{\"a\":\"\\u001b[1m\"}"),
            "{\"a\":\"\\u001b[1m\"}"
        );
        assert_eq!(strip_ansi("end\x1b"), "end");
        assert_eq!(strip_ansi("end\x1b["), "end");
    }

    #[cfg(unix)]
    #[test]
    fn wrangler_colour_never_reaches_an_error_message() {
        let script = format!("printf '%s\\n' \"$NO_COLOR/$FORCE_COLOR\" >&2; printf '{COLOURED_ERROR}\\n\\033]8;;https://x.example\\007link\\033]8;;\\007\\n' >&2; exit 1");
        let wrangler = vec!["sh".to_owned(), "-c".to_owned(), script];
        let err = run_wrangler(&wrangler, &["kv", "key", "get"], None).unwrap_err();
        assert!(!err.contains('\x1b') && !err.contains('\x07'), "{err:?}");
        assert!(err.contains("[ERROR] no such namespace"), "{err:?}");
        // wrangler is asked not to colour in the first place.
        let env = run_wrangler(
            &[
                "sh".to_owned(),
                "-c".to_owned(),
                "printf '%s' \"$NO_COLOR/$FORCE_COLOR\"".to_owned(),
            ],
            &[],
            None,
        )
        .unwrap();
        assert_eq!(env, "1/0");
    }

    #[test]
    fn a_persist_to_without_state_is_refused_unless_new_state() {
        // (Test stdin is not a terminal: no question, a clear refusal.)
        let dir = TempDir::new("state-check");
        let err = check_state_dir(&dir.0.join("typo"), false).unwrap_err();
        assert!(
            err.contains("holds no local state") && err.contains("--new-state"),
            "{err}"
        );
        assert!(check_state_dir(&dir.0, false).is_err());
        assert!(check_state_dir(&dir.0.join("typo"), true).is_ok());
        std::fs::create_dir_all(dir.0.join("v3")).unwrap();
        assert!(check_state_dir(&dir.0, false).is_ok());
        // Checked before wrangler is looked for or run.
        let args = StoreArgs {
            persist_to: Some(dir.0.join("nope").to_str().unwrap().to_owned()),
            ..StoreArgs::default()
        };
        let err = Store::from_args(&args).err().unwrap();
        assert!(err.contains("holds no local state"), "{err}");
    }

    #[test]
    fn the_issuers_config_is_found_from_the_project_root() {
        let root = TempDir::new("issuer-config");
        std::fs::write(
            root.0.join("wrangler.toml"),
            "name = \"edge-token\"\n[[kv_namespaces]]\nbinding = \"CLIENTS\" # records\nid = \"x\"\n",
        )
        .unwrap();
        // The example API's own config binds only REVOCATIONS: skipped.
        let api = root.0.join("examples").join("api");
        std::fs::create_dir_all(api.join("src")).unwrap();
        std::fs::write(
            api.join("wrangler.toml"),
            "[[kv_namespaces]]\nbinding = \"REVOCATIONS\"\nid = \"y\"\n",
        )
        .unwrap();
        let issuer = root.0.join("wrangler.toml").to_str().unwrap().to_owned();
        for cwd in [root.0.clone(), api.clone(), api.join("src")] {
            assert_eq!(
                issuer_config(None, &cwd).as_deref(),
                Some(issuer.as_str()),
                "{cwd:?}"
            );
        }
        // --config wins; JSON configs count too; none found is None.
        assert_eq!(
            issuer_config(Some("w.toml"), &api).as_deref(),
            Some("w.toml")
        );
        let json = TempDir::new("issuer-config-json");
        std::fs::write(
            json.0.join("wrangler.jsonc"),
            "{ // issuer\n  \"kv_namespaces\": [{ \"binding\": \"CLIENTS\", \"id\": \"x\" }]\n}\n",
        )
        .unwrap();
        assert!(issuer_config(None, &json.0).is_some_and(|p| p.ends_with("wrangler.jsonc")));
        let empty = TempDir::new("issuer-config-none");
        assert_eq!(issuer_config(None, &empty.0), None);
        assert!(!binds_clients(
            "binding = \"CLIENTS_OLD\"\n# binding = \"CLIENTS\""
        ));
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
}
