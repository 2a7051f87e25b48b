//! Signing keys: generation, the local SIGNING_KEYS file, its JWK Set, and
//! `--apply` (wrangler secret put). Files are checked with
//! [`SigningKeys::parse`], the Worker's own check, so its messages (which
//! name a kid, never key material) are the ones shown. Nothing here prints
//! private key material: only kids, algorithms, roles and public keys.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use edge_token_core::random::{OsRandom, Random};
use edge_token_core::signing::SigningKeys;
use edge_token_core::token::{parse_entries, Algorithm, KeyEntry};
use serde_json::Value;

use crate::args::{ApplyArgs, KeyCommand};
use crate::wrangler::{current_dir, find_wrangler, issuer_config, run_wrangler, WranglerConfig};
use crate::{note, now, pretty};

/// 32 bytes from the OS's CSPRNG.
fn random32() -> Result<[u8; 32], String> {
    let mut bytes = [0u8; 32];
    OsRandom.fill(&mut bytes).map_err(|e| e.to_string())?;
    Ok(bytes)
}

/// A fresh P-256 private key. 32 random bytes are a valid scalar but for a
/// chance of about 2^-32 (zero or not below the group order): then again.
fn new_p256_key() -> Result<p256::ecdsa::SigningKey, String> {
    for _ in 0..16 {
        let bytes = random32()?;
        if let Ok(key) = p256::ecdsa::SigningKey::from_bytes(&bytes.into()) {
            return Ok(key);
        }
    }
    Err("could not make a P-256 key (the random source keeps giving invalid scalars)".to_owned())
}

/// A fresh key entry of `alg`; the kid defaults to `k<days since
/// 1970>-<random>`. HS256: 32 random bytes, in the original `{"kid", "key"}`
/// form (no `alg`, which every version reads). ES256: a P-256 private JWK.
/// EdDSA/Ed25519: an Ed25519 private JWK from a 32-byte random seed. The
/// entry's shape and kid are checked the way the Worker checks them.
fn new_key_entry(alg: Algorithm, kid: Option<String>) -> Result<KeyEntry, String> {
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
    let b64 = |bytes: &[u8]| Some(URL_SAFE_NO_PAD.encode(bytes));
    let entry = match alg {
        Algorithm::HS256 => KeyEntry {
            kid,
            key: b64(&random32()?),
            ..KeyEntry::default()
        },
        Algorithm::ES256 => {
            let key = new_p256_key()?;
            let point = key.verifying_key().to_encoded_point(false);
            let (x, y) = point
                .x()
                .zip(point.y())
                .ok_or_else(|| "the new P-256 public key has no coordinates".to_owned())?;
            KeyEntry {
                kid,
                alg: Some(alg.name().to_owned()),
                kty: Some("EC".to_owned()),
                crv: Some("P-256".to_owned()),
                x: b64(x),
                y: b64(y),
                d: b64(&key.to_bytes()),
                ..KeyEntry::default()
            }
        }
        Algorithm::EdDSA | Algorithm::Ed25519 => {
            let seed = random32()?;
            let key = ed25519_dalek::SigningKey::from_bytes(&seed);
            KeyEntry {
                kid,
                alg: Some(alg.name().to_owned()),
                kty: Some("OKP".to_owned()),
                crv: Some("Ed25519".to_owned()),
                x: b64(key.verifying_key().as_bytes()),
                d: b64(&seed),
                ..KeyEntry::default()
            }
        }
    };
    entry.verification_key().map_err(|e| e.to_string())?;
    Ok(entry)
}

fn keys_path(keys: &str) -> Result<PathBuf, String> {
    if keys.is_empty() {
        return Err("this command needs --keys FILE (the SIGNING_KEYS JSON array)".to_owned());
    }
    Ok(PathBuf::from(keys))
}

/// The text of a keys file; `None` for a missing or blank file when
/// `missing_ok`, an error otherwise.
fn read_text(path: &Path, missing_ok: bool) -> Result<Option<String>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && missing_ok => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(format!(
                "{} does not exist (create it with: edge-token key generate --keys {})",
                path.display(),
                path.display()
            ))
        }
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    if text.trim().is_empty() {
        return if missing_ok {
            Ok(None)
        } else {
            Err(format!("{} holds no keys", path.display()))
        };
    }
    Ok(Some(text))
}

/// A keys file checked as the Worker checks `SIGNING_KEYS`.
fn parse_keys(path: &Path, text: &str) -> Result<SigningKeys, String> {
    SigningKeys::parse(text).map_err(|e| format!("{}: {e}", path.display()))
}

/// The entries of a keys file, validated like the Worker validates
/// `SIGNING_KEYS`. A missing or empty file has no entries when `missing_ok`.
/// Errors name the file and a kid or a position, never key material.
fn read_keys(path: &Path, missing_ok: bool) -> Result<Vec<KeyEntry>, String> {
    let Some(text) = read_text(path, missing_ok)? else {
        return Ok(Vec::new());
    };
    parse_keys(path, &text)?;
    Ok(parse_entries(&text)
        .map_err(|e| format!("{}: {e}", path.display()))?
        .into_iter()
        .map(|(entry, _)| entry)
        .collect())
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
    SigningKeys::parse(&content)
        .map_err(|e| format!("refusing to write {}: {e}", path.display()))?;
    write_private_atomic(path, &content)?;
    Ok(content)
}

/// An entry's algorithm (the file has been checked, so it has one).
fn alg_of(entry: &KeyEntry) -> Result<Algorithm, String> {
    entry.algorithm().map_err(|e| e.to_string())
}

/// What an entry does: the first signs, the others verify; an entry
/// without a private part can only verify, and never be promoted.
fn role(position: usize, entry: &KeyEntry) -> &'static str {
    if position == 0 {
        "signs"
    } else if entry.is_private() {
        "verifies"
    } else {
        "public only"
    }
}

/// The kids in order with their algorithm and role; no key material.
fn key_listing(entries: &[KeyEntry]) -> Result<String, String> {
    let list = entries
        .iter()
        .enumerate()
        .map(|(i, e)| {
            Ok(serde_json::json!({
                "kid": e.kid,
                "alg": alg_of(e)?.name(),
                "role": role(i, e),
            }))
        })
        .collect::<Result<Vec<Value>, String>>()?;
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
    Added {
        kid: String,
        alg: Algorithm,
        only: bool,
    },
    /// `kid` now signs; `old` was the signer. `jwks_left_behind`: `kid` is
    /// HS256 while the file has ES256/EdDSA keys, so APIs that verify with
    /// the JWKS cannot verify its tokens.
    Promoted {
        kid: String,
        old: String,
        jwks_left_behind: bool,
    },
    /// `kid` is gone.
    Removed { kid: String, alg: Algorithm },
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
        let deploy = if applied {
            String::new()
        } else {
            format!("deploy it: {put}; ")
        };
        match self {
            KeyStep::Added {
                kid,
                alg,
                only: true,
            } => {
                let apis = if alg.is_asymmetric() {
                    format!(
                        "APIs verify with the issuer's JWKS (/.well-known/jwks.json; edge-token key public --keys {file} prints it)"
                    )
                } else {
                    "give every API that verifies tokens the same file".to_owned()
                };
                format!(
                    "created {file} (mode 0600) with {kid} ({alg}) as the only key (the signer); keep the file secret. Next: {deploy}{apis}"
                )
            }
            KeyStep::Added {
                kid,
                alg,
                only: false,
            } => {
                let wait = if alg.is_asymmetric() {
                    "the issuer publishes it in its JWKS at once (APIs given the file need the new file); wait JWKS_MAX_AGE (default 300 s) plus propagation"
                } else {
                    "give every API that verifies tokens the new file; wait for propagation"
                };
                format!(
                    "added {kid} ({alg}) as a verify-only key (last entry). Next: {deploy}{wait}; then: edge-token key promote {kid} --keys {file}"
                )
            }
            KeyStep::Promoted {
                kid,
                old,
                jwks_left_behind,
            } => {
                let warning = if *jwks_left_behind {
                    format!(" Note: {kid} is HS256, which is never published: APIs that verify with the JWKS cannot verify its tokens; they need the file.")
                } else {
                    String::new()
                };
                format!(
                    "{kid} now signs; {old} verifies.{warning} Next: {deploy}after MAX_TOKEN_TTL plus leeway: edge-token key remove {old} --keys {file}"
                )
            }
            KeyStep::Removed { kid, alg } => {
                let apis = if alg.is_asymmetric() {
                    "it leaves the JWKS"
                } else {
                    "give every API that verifies tokens the new file"
                };
                let deploy = if applied {
                    apis.to_owned()
                } else {
                    format!("deploy it: {put} ({apis})")
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

/// `key generate`: creates `path` with one new key (the signer); refuses a
/// file that exists and is not empty. Prints the key's kid, alg, role and,
/// for ES256/EdDSA, its public JWK.
fn key_generate(path: &Path, alg: Algorithm, kid: Option<String>) -> Result<String, String> {
    match std::fs::read(path) {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => {}
        Ok(_) => {
            return Err(format!(
                "{} already exists and is not empty; refusing to overwrite it (add a key to it with: edge-token key add --alg {alg} --keys {})",
                path.display(),
                path.display()
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    }
    let entry = new_key_entry(alg, kid)?;
    let mut summary = serde_json::json!({
        "kid": entry.kid,
        "alg": alg.name(),
        "role": "signs",
    });
    let public = entry
        .verification_key()
        .map_err(|e| e.to_string())?
        .public_jwk();
    if let (Some(jwk), Some(obj)) = (public, summary.as_object_mut()) {
        obj.insert("jwk".to_owned(), jwk);
    }
    let step = KeyStep::Added {
        kid: entry.kid.clone(),
        alg,
        only: true,
    };
    let change = key_change(path, &[entry], step)?;
    note(&change.step.next(path, false));
    pretty(&summary)
}

/// `key add`: a new key of `alg` (default: the signer's) as the last
/// (verify-only) entry; creates the file if missing, the new key then
/// being the only one and so the signer.
fn key_add(path: &Path, alg: Option<Algorithm>, kid: Option<String>) -> Result<KeyChange, String> {
    let mut entries = read_keys(path, true)?;
    if let Some(k) = &kid {
        if entries.iter().any(|e| &e.kid == k) {
            return Err(format!("kid {k:?} is already in {}", path.display()));
        }
    }
    let alg = match (alg, entries.first()) {
        (Some(alg), _) => alg,
        (None, Some(signer)) => alg_of(signer)?,
        (None, None) => Algorithm::HS256,
    };
    let entry = new_key_entry(alg, kid)?;
    if entries.iter().any(|e| e.kid == entry.kid) {
        return Err(format!(
            "kid {:?} is already in {}; try again or pass --kid",
            entry.kid,
            path.display()
        ));
    }
    let step = KeyStep::Added {
        kid: entry.kid.clone(),
        alg,
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

/// `key promote`: moves `kid` first, so it signs. A public-only entry (no
/// private part) cannot sign and is refused.
fn key_promote(path: &Path, kid: &str) -> Result<KeyChange, String> {
    let mut entries = read_keys(path, false)?;
    let at = position(&entries, kid, path)?;
    if at == 0 {
        return Err(format!("{kid} is already the signer; nothing to do"));
    }
    let entry = entries.remove(at);
    if !entry.is_private() {
        return Err(format!(
            "{kid} is public only (no \"d\" in {}): it can verify tokens but not sign them, so it cannot be promoted; promote a key whose private part is in the file (or add one: edge-token key add --alg ALG --keys {})",
            path.display(),
            path.display()
        ));
    }
    let old = entries.first().map(|e| e.kid.clone()).unwrap_or_default();
    let jwks_left_behind = !alg_of(&entry)?.is_asymmetric()
        && entries
            .iter()
            .any(|e| alg_of(e).is_ok_and(Algorithm::is_asymmetric));
    entries.insert(0, entry);
    key_change(
        path,
        &entries,
        KeyStep::Promoted {
            kid: kid.to_owned(),
            old,
            jwks_left_behind,
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
    let removed = entries.remove(at);
    key_change(
        path,
        &entries,
        KeyStep::Removed {
            kid: kid.to_owned(),
            alg: alg_of(&removed)?,
        },
    )
}

fn key_list(path: &Path) -> Result<String, String> {
    key_listing(&read_keys(path, false)?)
}

/// `key public`: the JWK Set the issuer serves for this file
/// ([`SigningKeys::jwks_json`]), pretty-printed. HS256 keys never appear.
fn key_public(path: &Path) -> Result<String, String> {
    let text = read_text(path, false)?.unwrap_or_default();
    let keys = parse_keys(path, &text)?;
    let jwks: Value = serde_json::from_str(keys.jwks_json()).map_err(|e| e.to_string())?;
    if jwks
        .get("keys")
        .and_then(Value::as_array)
        .is_some_and(Vec::is_empty)
    {
        note(&format!(
            "{} has only HS256 keys, which are secret and never published: the JWK Set is empty",
            path.display()
        ));
    }
    pretty(&jwks)
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
        note(&format!(
            "stored {} as the Worker's SIGNING_KEYS secret",
            path.display()
        ));
    }
    note(&change.step.next(path, apply.is_some()));
    Ok(change.listing)
}

/// `--apply`: `wrangler secret put SIGNING_KEYS`, the value on stdin.
struct SecretPut {
    wrangler: Vec<String>,
    args: Vec<String>,
}

impl SecretPut {
    /// `None` without `--apply`. Checked before any file is touched.
    /// Options that would do nothing are refused: `--local` and
    /// `--persist-to` always, `--env`, `--config` and `--remote` without
    /// `--apply`; and an `--env` the wrangler configuration does not define.
    fn from_args(args: &ApplyArgs) -> Result<Option<Self>, String> {
        let store = &args.store;
        if store.local || store.persist_to.is_some() {
            return Err("--local and --persist-to do not apply to key commands: they edit FILE, and --apply stores the deployed Worker's secret (for `make dev`, put the array in .dev.vars)".to_owned());
        }
        if !args.apply {
            let idle: Vec<&str> = [
                ("--remote", store.remote),
                ("--env", store.env.is_some()),
                ("--config", store.config.is_some()),
            ]
            .into_iter()
            .filter_map(|(flag, given)| given.then_some(flag))
            .collect();
            if !idle.is_empty() {
                return Err(format!(
                    "{} only apply with --apply (it stores FILE in the deployed Worker's SIGNING_KEYS secret); without --apply the command edits FILE only",
                    idle.join(", ")
                ));
            }
            return Ok(None);
        }
        let config = issuer_config(store.config.as_deref(), &current_dir()?);
        if let Some(env) = &store.env {
            WranglerConfig::load(config.as_deref(), &current_dir()?)?.check_env(env)?;
        }
        let mut put = vec![
            "secret".to_owned(),
            "put".to_owned(),
            "SIGNING_KEYS".to_owned(),
        ];
        for (flag, value) in [("--env", &store.env), ("--config", &config)] {
            if let Some(value) = value {
                put.push(flag.to_owned());
                put.push(value.clone());
            }
        }
        Ok(Some(SecretPut {
            wrangler: find_wrangler(config.as_deref())?,
            args: put,
        }))
    }

    fn run(&self, content: &str) -> Result<(), String> {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        run_wrangler(&self.wrangler, &args, Some(content.trim_end())).map(|_| ())
    }
}

/// Runs a `key` command; its stdout on success.
pub fn run(command: KeyCommand) -> Result<String, String> {
    match command {
        KeyCommand::Generate(args) => key_generate(&keys_path(&args.keys)?, args.alg, args.kid),
        KeyCommand::List(file) => key_list(&keys_path(&file.keys)?),
        KeyCommand::Public(file) => key_public(&keys_path(&file.keys)?),
        KeyCommand::Add(args) => {
            let path = keys_path(&args.file.keys)?;
            let apply = SecretPut::from_args(&args.apply)?;
            let change = key_add(&path, args.alg, args.kid)?;
            finish_key_change(&path, change, apply.as_ref())
        }
        KeyCommand::Promote(args) => {
            let path = keys_path(&args.file.keys)?;
            let apply = SecretPut::from_args(&args.apply)?;
            let change = key_promote(&path, &args.kid)?;
            finish_key_change(&path, change, apply.as_ref())
        }
        KeyCommand::Remove(args) => {
            let path = keys_path(&args.file.keys)?;
            let apply = SecretPut::from_args(&args.apply)?;
            let change = key_remove(&path, &args.kid)?;
            finish_key_change(&path, change, apply.as_ref())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::args::Command;
    use crate::testutil::{parse, TempDir};

    /// The `--apply` options of `key add --keys f <list>`.
    fn apply_args(list: &[&str]) -> ApplyArgs {
        let mut all = vec!["key", "add", "--keys", "f"];
        all.extend_from_slice(list);
        match parse(&all).unwrap().command {
            Command::Key(KeyCommand::Add(args)) => args.apply,
            other => panic!("{other:?}"),
        }
    }

    fn kids(path: &Path) -> Vec<String> {
        let keys = SigningKeys::parse(&std::fs::read_to_string(path).unwrap()).unwrap();
        keys.verify_keys().kids().map(str::to_owned).collect()
    }

    fn key_material(path: &Path) -> Vec<String> {
        read_keys(path, false)
            .unwrap()
            .into_iter()
            .filter_map(|e| e.key.or(e.d))
            .collect()
    }

    fn add(path: &Path, kid: &str) -> KeyChange {
        key_add(path, None, Some(kid.into())).unwrap()
    }

    /// The private values of a file: every `key` and `d`.
    fn private_values(path: &Path) -> Vec<String> {
        read_keys(path, false)
            .unwrap()
            .into_iter()
            .flat_map(|e| [e.key, e.d])
            .flatten()
            .collect()
    }

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn generated_entries_of_every_algorithm_pass_the_workers_check() {
        for alg in Algorithm::ALL {
            for _ in 0..8 {
                let entry = new_key_entry(alg, Some("k1".into())).unwrap();
                assert_eq!(entry.algorithm().unwrap(), alg);
                let text = render_keys(std::slice::from_ref(&entry)).unwrap();
                let keys = SigningKeys::parse(&text).unwrap();
                assert_eq!(keys.signer_alg(), alg);
                assert_eq!(keys.signer_kid(), "k1");
                let a = new_key_entry(alg, Some("k2".into())).unwrap();
                assert_ne!(a.key.or(a.d), entry.key.clone().or(entry.d.clone()));
            }
        }
        // HS256 keeps the original {"kid", "key"} form.
        let hs = new_key_entry(Algorithm::HS256, Some("k1".into())).unwrap();
        assert_eq!(hs.alg, None);
        assert_eq!(URL_SAFE_NO_PAD.decode(hs.key.unwrap()).unwrap().len(), 32);
        let auto = new_key_entry(Algorithm::ES256, None).unwrap();
        assert!(
            auto.kid.starts_with('k') && auto.kid.contains('-'),
            "{}",
            auto.kid
        );
        assert!(new_key_entry(Algorithm::EdDSA, Some("bad kid".into())).is_err());
    }

    #[test]
    fn key_generate_creates_a_private_file_and_prints_only_public_parts() {
        let dir = TempDir::new("generate");
        for alg in Algorithm::ALL {
            let path = dir.file(&format!("{alg}.json"));
            let out = key_generate(&path, alg, Some("g1".into())).unwrap();
            let text = std::fs::read_to_string(&path).unwrap();
            let keys = SigningKeys::parse(&text).unwrap();
            assert_eq!(keys.signer_alg(), alg);
            #[cfg(unix)]
            assert_eq!(mode(&path), 0o600, "{alg}");
            let summary: Value = serde_json::from_str(&out).unwrap();
            assert_eq!(summary["kid"], "g1");
            assert_eq!(summary["alg"], alg.name());
            assert_eq!(summary["role"], "signs");
            for secret in private_values(&path) {
                assert!(!out.contains(&secret), "{alg}: {out}");
            }
            assert!(!out.contains("\"d\"") && !out.contains("\"key\""), "{out}");
            if alg.is_asymmetric() {
                // The JWK printed is the one the JWKS publishes.
                let jwks: Value = serde_json::from_str(keys.jwks_json()).unwrap();
                assert_eq!(summary["jwk"], jwks["keys"][0], "{alg}");
            } else {
                assert!(summary.get("jwk").is_none(), "{out}");
            }
            // An existing file with keys is never overwritten.
            let err = key_generate(&path, alg, None).unwrap_err();
            assert!(
                err.contains("already exists") && err.contains("key add"),
                "{err}"
            );
            assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        }
        // An empty (pre-created) file may be filled.
        let empty = dir.file("empty.json");
        std::fs::write(&empty, "\n").unwrap();
        key_generate(&empty, Algorithm::EdDSA, None).unwrap();
        assert_eq!(kids(&empty).len(), 1);
        assert!(key_generate(&dir.file("bad.json"), Algorithm::HS256, Some("a b".into())).is_err());
        assert!(!dir.file("bad.json").exists());
    }

    #[test]
    fn key_add_creates_private_file_with_signer() {
        let dir = TempDir::new("add-create");
        let path = dir.file("keys.json");
        let change = add(&path, "k1");
        assert_eq!(
            change.step,
            KeyStep::Added {
                kid: "k1".into(),
                alg: Algorithm::HS256,
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
        key_add(&empty, None, None).unwrap();
        assert_eq!(kids(&empty).len(), 1);
    }

    #[test]
    fn key_add_appends_verify_only() {
        let dir = TempDir::new("add-append");
        let path = dir.file("keys.json");
        add(&path, "k1");
        let first = key_material(&path);
        let change = add(&path, "k2");
        assert_eq!(kids(&path), vec!["k1", "k2"]);
        // The existing key is kept verbatim; the new one differs.
        let both = key_material(&path);
        assert_eq!(both[0], first[0]);
        assert_ne!(both[1], both[0]);
        assert!(change.listing.contains("\"verifies\""));
        let next = change.step.next(&path, false);
        assert!(
            next.contains("wrangler secret put SIGNING_KEYS <"),
            "{next}"
        );
        assert!(next.contains("key promote k2 --keys"), "{next}");
        assert!(!change.step.next(&path, true).contains("secret put"));
        // Duplicate and invalid kids are refused and leave the file alone.
        assert!(key_add(&path, None, Some("k1".into())).is_err());
        assert!(key_add(&path, None, Some("bad kid".into())).is_err());
        let auto = key_add(&path, None, None).unwrap();
        assert_eq!(kids(&path).len(), 3);
        assert!(matches!(auto.step, KeyStep::Added { only: false, .. }));
    }

    #[test]
    fn key_promote_reorders() {
        let dir = TempDir::new("promote");
        let path = dir.file("keys.json");
        add(&path, "k1");
        add(&path, "k2");
        add(&path, "k3");
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
                old: "k1".into(),
                jwks_left_behind: false
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
        add(&path, "k1");
        let err = key_remove(&path, "k1").unwrap_err();
        assert!(err.contains("last key"), "{err}");
        add(&path, "k2");
        let err = key_remove(&path, "k1").unwrap_err();
        assert!(err.contains("signer"), "{err}");
        assert_eq!(kids(&path), vec!["k1", "k2"]);
        assert!(key_remove(&path, "k9").is_err());
        let change = key_remove(&path, "k2").unwrap();
        assert_eq!(kids(&path), vec!["k1"]);
        assert!(change.step.next(&path, false).contains("deploy it"));
        add(&path, "k2");
        key_promote(&path, "k2").unwrap();
        key_remove(&path, "k1").unwrap();
        assert_eq!(kids(&path), vec!["k2"]);
    }

    #[test]
    fn key_list_prints_roles_without_key_material() {
        let dir = TempDir::new("list");
        let path = dir.file("keys.json");
        add(&path, "k1");
        add(&path, "k2");
        let out = key_list(&path).unwrap();
        let list: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            list,
            serde_json::json!([
                {"kid": "k1", "alg": "HS256", "role": "signs"},
                {"kid": "k2", "alg": "HS256", "role": "verifies"}
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
                key_add(&path, None, None).err().unwrap(),
            ] {
                assert!(!err.contains(&secret[..20]), "{err}");
            }
            assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        }
    }

    #[test]
    fn key_add_of_each_algorithm_appends_a_checked_verify_only_key() {
        let dir = TempDir::new("add-algs");
        let path = dir.file("keys.json");
        add(&path, "k0");
        for (i, alg) in Algorithm::ALL.into_iter().enumerate() {
            let kid = format!("a{i}");
            let change = key_add(&path, Some(alg), Some(kid.clone())).unwrap();
            assert_eq!(
                change.step,
                KeyStep::Added {
                    kid: kid.clone(),
                    alg,
                    only: false
                }
            );
            let keys = SigningKeys::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
            assert_eq!(keys.signer_kid(), "k0");
            assert_eq!(keys.verify_keys().find(&kid).unwrap().alg(), alg);
            let next = change.step.next(&path, false);
            assert!(next.contains(&format!("key promote {kid}")), "{next}");
            assert_eq!(next.contains("JWKS_MAX_AGE"), alg.is_asymmetric(), "{next}");
            for secret in private_values(&path) {
                assert!(!change.listing.contains(&secret));
                assert!(!next.contains(&secret));
            }
        }
        // Each added key can be promoted: its private part is in the file.
        key_promote(&path, "a1").unwrap();
        let keys = SigningKeys::parse(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(keys.signer_alg(), Algorithm::ES256);
        // Without --alg, a new key has the signer's algorithm.
        let change = key_add(&path, None, Some("same".into())).unwrap();
        assert!(matches!(
            change.step,
            KeyStep::Added {
                alg: Algorithm::ES256,
                ..
            }
        ));
        // An HS256 signer after asymmetric keys: the JWKS cannot carry it.
        let change = key_promote(&path, "a0").unwrap();
        assert!(matches!(
            change.step,
            KeyStep::Promoted {
                jwks_left_behind: true,
                ..
            }
        ));
        assert!(change.step.next(&path, false).contains("never published"));
        // A missing file gets the new key as its signer.
        let fresh = dir.file("fresh.json");
        let change = key_add(&fresh, Some(Algorithm::Ed25519), Some("e1".into())).unwrap();
        assert!(matches!(change.step, KeyStep::Added { only: true, .. }));
        let keys = SigningKeys::parse(&std::fs::read_to_string(&fresh).unwrap()).unwrap();
        assert_eq!(keys.signer_alg(), Algorithm::Ed25519);
    }

    /// `[signer, public-only]`: an ES256 signer and the public half of an
    /// EdDSA key (its private part held elsewhere).
    fn file_with_public_only_entry(path: &Path) -> KeyEntry {
        let signer = new_key_entry(Algorithm::ES256, Some("es".into())).unwrap();
        let public = KeyEntry {
            d: None,
            ..new_key_entry(Algorithm::EdDSA, Some("pub".into())).unwrap()
        };
        std::fs::write(path, render_keys(&[signer, public.clone()]).unwrap()).unwrap();
        public
    }

    #[test]
    fn key_promote_refuses_a_public_only_entry() {
        let dir = TempDir::new("promote-public");
        let path = dir.file("keys.json");
        file_with_public_only_entry(&path);
        let before = std::fs::read_to_string(&path).unwrap();
        let err = key_promote(&path, "pub").unwrap_err();
        assert!(
            err.contains("pub is public only") && err.contains("cannot be promoted"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
        let list: Value = serde_json::from_str(&key_list(&path).unwrap()).unwrap();
        assert_eq!(
            list,
            serde_json::json!([
                {"kid": "es", "alg": "ES256", "role": "signs"},
                {"kid": "pub", "alg": "EdDSA", "role": "public only"}
            ])
        );
        // It can be removed like any verify-only key.
        key_remove(&path, "pub").unwrap();
        assert_eq!(kids(&path), vec!["es"]);
    }

    #[test]
    fn key_public_prints_the_workers_jwks() {
        let dir = TempDir::new("public");
        let path = dir.file("keys.json");
        let public = file_with_public_only_entry(&path);
        key_add(&path, Some(Algorithm::HS256), Some("hs".into())).unwrap();
        key_add(&path, Some(Algorithm::Ed25519), Some("ed".into())).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let out = key_public(&path).unwrap();
        let printed: Value = serde_json::from_str(&out).unwrap();
        let served: Value =
            serde_json::from_str(SigningKeys::parse(&text).unwrap().jwks_json()).unwrap();
        assert_eq!(printed, served);
        let set = edge_token_core::token::KeySet::from_jwks(&out).unwrap();
        assert_eq!(set.kids().collect::<Vec<_>>(), vec!["es", "pub", "ed"]);
        assert_eq!(printed["keys"][1]["x"], public.x.unwrap().as_str());
        for secret in private_values(&path) {
            assert!(!out.contains(&secret));
        }
        assert!(!out.contains("\"d\"") && !out.contains("\"key\""), "{out}");
        // HS256 only: an empty set.
        let hs = dir.file("hs.json");
        add(&hs, "k1");
        let out = key_public(&hs).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&out).unwrap(),
            serde_json::json!({"keys": []})
        );
        assert!(key_public(&dir.file("missing.json")).is_err());
    }

    #[test]
    fn files_the_worker_would_refuse_are_refused_with_its_message() {
        let dir = TempDir::new("refused");
        let path = dir.file("keys.json");
        // A d that is not the private key of its x/y.
        let mut a = new_key_entry(Algorithm::ES256, Some("es".into())).unwrap();
        let b = new_key_entry(Algorithm::ES256, Some("other".into())).unwrap();
        a.d = b.d.clone();
        let text = render_keys(&[a]).unwrap();
        std::fs::write(&path, &text).unwrap();
        let worker = SigningKeys::parse(&text).unwrap_err().to_string();
        for err in [
            key_list(&path).unwrap_err(),
            key_public(&path).unwrap_err(),
            key_add(&path, None, None).err().unwrap(),
        ] {
            assert!(err.ends_with(&worker), "{err}");
            assert!(err.contains("\"es\""), "{err}");
            assert!(!err.contains(b.d.as_deref().unwrap()), "{err}");
        }
        // A public-only first entry cannot sign.
        let public = KeyEntry {
            d: None,
            ..new_key_entry(Algorithm::Ed25519, Some("pub".into())).unwrap()
        };
        std::fs::write(&path, render_keys(&[public]).unwrap()).unwrap();
        let err = key_list(&path).unwrap_err();
        assert!(err.contains("public only"), "{err}");
    }

    #[test]
    fn apply_refuses_local_store_options() {
        let err = SecretPut::from_args(&apply_args(&["--apply", "--local"]))
            .err()
            .unwrap();
        assert!(err.contains("--apply"), "{err}");
        assert!(SecretPut::from_args(&apply_args(&["--apply", "--persist-to", "d"])).is_err());
        assert!(SecretPut::from_args(&apply_args(&[])).unwrap().is_none());
    }

    #[test]
    fn key_options_that_would_do_nothing_are_refused() {
        for list in [
            &["--remote"][..],
            &["--env", "prod"],
            &["--config", "wrangler.toml"],
            &["--remote", "--env", "prod"],
        ] {
            let err = SecretPut::from_args(&apply_args(list)).err().unwrap();
            assert!(err.contains("only apply with --apply"), "{list:?}: {err}");
            assert!(err.contains(list[0]), "{list:?}: {err}");
        }
        for list in [&["--local"][..], &["--persist-to", "d"]] {
            let err = SecretPut::from_args(&apply_args(list)).err().unwrap();
            assert!(err.contains("do not apply to key commands"), "{err}");
        }
        // --apply with an --env that the configuration does not define.
        let dir = TempDir::new("apply-env");
        let config = dir.file("wrangler.toml");
        std::fs::write(&config, "[env.staging]\n").unwrap();
        let config = config.to_str().unwrap();
        let err = SecretPut::from_args(&apply_args(&[
            "--apply", "--env", "prod", "--config", config,
        ]))
        .err()
        .unwrap();
        assert!(err.contains("[env.prod]"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn apply_pipes_the_file_to_wrangler_secret_put() {
        let dir = TempDir::new("apply");
        let path = dir.file("keys.json");
        let change = add(&path, "k1");
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
}
