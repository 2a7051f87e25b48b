//! Signing keys: generation and the local SIGNING_KEYS file, and `--apply`
//! (wrangler secret put).

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use edge_token_core::random::{OsRandom, Random};
use edge_token_core::token::{KeyEntry, KeySet};
use serde_json::Value;

use crate::args::{ApplyArgs, KeyCommand};
use crate::wrangler::{current_dir, find_wrangler, issuer_config, run_wrangler, WranglerConfig};
use crate::{note, now, pretty};

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
    let entry = KeyEntry {
        kid,
        key: Some(URL_SAFE_NO_PAD.encode(key)),
        ..KeyEntry::default()
    };
    entry.verification_key().map_err(|e| e.to_string())?;
    Ok(entry)
}

fn key_generate(kid: Option<String>) -> Result<String, String> {
    let entry = new_key_entry(kid)?;
    note(
        "New signing key entry below. Add it to the SIGNING_KEYS JSON array (first entry signs, all verify)\n\
         and store the array with: wrangler secret put SIGNING_KEYS. Keep it secret.\n\
         (edge-token key add --keys FILE does this in a local file.)",
    );
    Ok(serde_json::json!({"kid": entry.kid, "key": entry.key}).to_string())
}

fn keys_path(file: &crate::args::KeysFile) -> Result<PathBuf, String> {
    if file.keys.is_empty() {
        return Err("this command needs --keys FILE (the SIGNING_KEYS JSON array)".to_owned());
    }
    Ok(PathBuf::from(&file.keys))
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
        KeyCommand::Generate(args) => key_generate(args.kid),
        KeyCommand::List(file) => key_list(&keys_path(&file)?),
        KeyCommand::Add(args) => {
            let path = keys_path(&args.file)?;
            let apply = SecretPut::from_args(&args.apply)?;
            let change = key_add(&path, args.kid)?;
            finish_key_change(&path, change, apply.as_ref())
        }
        KeyCommand::Promote(args) => {
            let path = keys_path(&args.file)?;
            let apply = SecretPut::from_args(&args.apply)?;
            let change = key_promote(&path, &args.kid)?;
            finish_key_change(&path, change, apply.as_ref())
        }
        KeyCommand::Remove(args) => {
            let path = keys_path(&args.file)?;
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
        let keys = KeySet::parse(&std::fs::read_to_string(path).unwrap()).unwrap();
        keys.kids().map(str::to_owned).collect()
    }

    fn key_material(path: &Path) -> Vec<String> {
        read_keys(path, false)
            .unwrap()
            .into_iter()
            .filter_map(|e| e.key)
            .collect()
    }

    #[test]
    fn key_generate_output_is_a_valid_key_entry() {
        let out = key_generate(Some("k1".into())).unwrap();
        let keys = KeySet::parse(&format!("[{out}]")).unwrap();
        assert_eq!(keys.first().unwrap().kid(), "k1");
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
}
