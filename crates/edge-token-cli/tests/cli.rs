//! The `edge-token` binary as a user runs it: exit codes, where output
//! goes, and (through a stand-in wrangler that keeps KV in a directory)
//! what the client commands print and write.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_edge-token"));
    cmd.env_remove("EDGE_TOKEN_WRANGLER")
        .env_remove("NO_COLOR")
        .env_remove("FORCE_COLOR")
        .stdin(Stdio::null());
    cmd
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Runs the binary with its stdout a pipe nobody reads (`edge-token ... | head -1`
/// once head has exited).
fn into_closed_pipe(args: &[&str]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let child = bin()
        .args(args)
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn a_closed_stdout_is_no_panic() {
    let dir = Scratch::new("closed");
    let keys = dir.path().join("keys.json");
    let keys = keys.to_str().unwrap();
    for args in [
        &["--help"][..],
        &["client", "create", "--help"],
        &["--version"],
        &["key", "generate", "--kid", "k1", "--keys", keys],
        &["key", "public", "--keys", keys],
    ] {
        let out = into_closed_pipe(args);
        let stderr = text(&out.stderr);
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
    }
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().unwrap()
}

#[test]
fn bare_edge_token_prints_usage_to_stderr_and_fails() {
    for args in [&[][..], &["client"], &["key"]] {
        let out = run(args);
        let stderr = text(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}: {}", text(&out.stdout));
        assert!(stderr.contains("Usage: edge-token"), "{args:?}: {stderr}");
    }
    // Asked for, help goes to stdout and succeeds.
    let out = run(&["--help"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).contains("Usage: edge-token"));
    let out = run(&["--version"]);
    assert!(out.status.success());
    assert!(text(&out.stdout).starts_with("edge-token "));
}

#[test]
fn a_missing_argument_is_reported_as_missing() {
    for (args, missing) in [
        (&["client", "show"][..], "<ID>"),
        (&["client", "disable"], "<ID>"),
        (&["client", "update", "--name", "x"], "<ID>"),
        (&["client", "rotate-secret"], "<ID>"),
        (&["key", "promote", "--keys", "f"], "<KID>"),
        (&["key", "list"], "--keys <FILE>"),
        (&["client", "create", "--scope", "read"], "--name <NAME>"),
    ] {
        let out = run(args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.contains("required arguments were not provided") && stderr.contains(missing),
            "{args:?}: {stderr}"
        );
        assert!(!stderr.contains("unknown command"), "{args:?}: {stderr}");
    }
    let out = run(&["client", "frobnicate"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("frobnicate"));
}
/// A scratch directory under the system temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "edge-token-cli-test-{name}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A stand-in wrangler (run by `sh`) that keeps the KV namespace in a
/// directory, stores `secret put SIGNING_KEYS`'s stdin in `secret`, and logs
/// every call, one line each, to `calls`.
const FAKE_WRANGLER: &str = r#"dir=$(dirname "$0")
printf '%s\n' "$*" >> "$dir/calls"
if [ "$1 $2 $3" = "secret put SIGNING_KEYS" ]; then
  cat > "$dir/secret"
  exit 0
fi
# `busy` holds how many more kv writes fail as a locked local store does.
if [ "$3" = put ] && [ -f "$dir/busy" ] && [ "$(cat "$dir/busy")" -gt 0 ]; then
  echo $(( $(cat "$dir/busy") - 1 )) > "$dir/busy"
  echo "X [ERROR] workerd/util/sqlite.c++:829: failed: SQLite failed; NOSENTRY database is locked: SQLITE_BUSY" >&2
  exit 1
fi
if [ "$1 $2" != "kv key" ]; then
  echo "fake wrangler: unsupported: $*" >&2
  exit 1
fi
op=$3
file="$dir/kv/$(printf '%s' "$4" | tr ':' '_')"
case $op in
  get)
    if [ -f "$file" ]; then cat "$file"; else echo "Value not found"; fi ;;
  put)
    shift 4
    while [ $# -gt 0 ]; do
      case $1 in
        --path) cp "$2" "$file"; shift 2 ;;
        --metadata) printf '%s' "$2" > "$file.meta"; shift 2 ;;
        *) shift ;;
      esac
    done ;;
  delete)
    rm -f "$file" "$file.meta" ;;
  list)
    printf '['
    sep=
    for f in "$dir"/kv/client_*; do
      case $f in *.meta) continue ;; esac
      [ -f "$f" ] || continue
      name=$(basename "$f" | sed 's/^client_/client:/')
      printf '%s{"name":"%s","metadata":%s}' "$sep" "$name" "$(cat "$f.meta")"
      sep=,
    done
    printf ']\n' ;;
esac
"#;

/// A directory with [`FAKE_WRANGLER`] and its KV namespace.
struct FakeKv(Scratch);

impl FakeKv {
    fn new(name: &str) -> Self {
        let dir = Scratch::new(name);
        std::fs::create_dir_all(dir.path().join("kv")).unwrap();
        std::fs::write(dir.path().join("wrangler.sh"), FAKE_WRANGLER).unwrap();
        FakeKv(dir)
    }

    /// Runs `edge-token <args>` against this namespace.
    fn cli(&self, args: &[&str]) -> Output {
        let script = self.0.path().join("wrangler.sh");
        bin()
            .args(args)
            .current_dir(self.0.path())
            .env("EDGE_TOKEN_WRANGLER", format!("sh {}", script.display()))
            .output()
            .unwrap()
    }

    /// Runs `edge-token <args>`, which must succeed; its stdout as JSON.
    fn json(&self, args: &[&str]) -> serde_json::Value {
        let out = self.cli(args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", text(&out.stdout)))
    }

    /// The wrangler calls so far, one per line.
    fn calls(&self) -> String {
        std::fs::read_to_string(self.0.path().join("calls")).unwrap_or_default()
    }

    fn create(&self) -> String {
        let created = self.json(&["client", "create", "--name", "t", "--scope", "read"]);
        created["client_id"].as_str().unwrap().to_owned()
    }
}

#[test]
fn disable_and_enable_print_the_result_and_write_only_a_change() {
    let kv = FakeKv::new("disable");
    let id = kv.create();
    let puts = |kv: &FakeKv| kv.calls().matches("kv key put").count();
    assert_eq!(puts(&kv), 1);
    for (cmd, disabled) in [("disable", true), ("enable", false)] {
        let out = kv.cli(&["client", cmd, &id]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"client_id": id, "disabled": disabled, "changed": true})
        );
        assert!(
            text(&out.stderr).contains(&format!("{cmd}d")),
            "{}",
            text(&out.stderr)
        );
        let shown = kv.json(&["client", "show", &id]);
        assert_eq!(shown["disabled"], disabled);
        let written = puts(&kv);
        // Again: nothing to change, nothing written, and it says so.
        let out = kv.cli(&["client", cmd, &id]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"client_id": id, "disabled": disabled, "changed": false})
        );
        let stderr = text(&out.stderr);
        assert!(
            stderr.contains(&format!("already {cmd}d")) && stderr.contains("nothing written"),
            "{stderr}"
        );
        assert_eq!(puts(&kv), written, "{cmd} wrote again");
    }
    let out = kv.cli(&["client", "disable", "etc_nobody"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no client etc_nobody"));
}

#[test]
fn delete_needs_yes_and_prints_the_result() {
    let kv = FakeKv::new("delete");
    let id = kv.create();
    // stdin is not a terminal: no confirmation possible, so --yes is needed.
    let out = kv.cli(&["client", "delete", &id]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("--yes") && stderr.contains("no undo"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    assert!(!kv.calls().contains("kv key delete"), "{}", kv.calls());
    assert_eq!(kv.json(&["client", "show", &id])["client_id"], id.as_str());

    let v = kv.json(&["client", "delete", &id, "--yes"]);
    assert_eq!(v, serde_json::json!({"client_id": id, "deleted": true}));
    assert!(kv.calls().contains("kv key delete"));
    let out = kv.cli(&["client", "show", &id]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no client"));
    // A client that is not there is an error, with or without --yes.
    let out = kv.cli(&["client", "delete", &id, "--yes"]);
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("no client"));
}

/// `client delete` on a terminal (util-linux `script` provides one) asks,
/// and deletes only on `y`/`yes`.
#[cfg(target_os = "linux")]
#[test]
fn delete_on_a_terminal_asks_first() {
    if Command::new("script").arg("--version").output().is_err() {
        eprintln!("skipped: no `script` to provide a terminal");
        return;
    }
    let kv = FakeKv::new("delete-tty");
    let id = kv.create();
    let script = kv.0.path().join("wrangler.sh");
    let on_tty = |answer: &str| {
        let mut child = Command::new("script")
            .args(["-qec"])
            .arg(format!(
                "{} client delete {id}",
                env!("CARGO_BIN_EXE_edge-token")
            ))
            .arg("/dev/null")
            .current_dir(kv.0.path())
            .env("EDGE_TOKEN_WRANGLER", format!("sh {}", script.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{answer}\n").as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        (out.status.success(), text(&out.stdout))
    };
    let (ok, shown) = on_tty("n");
    assert!(!ok, "{shown}");
    assert!(
        shown.contains("There is no undo") && shown.contains("not deleted"),
        "{shown}"
    );
    assert!(!kv.calls().contains("kv key delete"));
    let (ok, shown) = on_tty("yes");
    assert!(ok, "{shown}");
    assert!(shown.contains("\"deleted\": true"), "{shown}");
    assert!(kv.calls().contains("kv key delete"));
}

#[test]
fn an_env_the_config_does_not_define_is_refused() {
    let kv = FakeKv::new("env");
    std::fs::write(
        kv.0.path().join("wrangler.toml"),
        "name = \"x\"\n[env.staging]\nname = \"x-staging\"\n",
    )
    .unwrap();
    let out = kv.cli(&["client", "list", "--env", "prod"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("[env.prod]") && stderr.contains("staging"),
        "{stderr}"
    );
    assert_eq!(kv.calls(), "", "wrangler ran");
    let listed = kv.json(&["client", "list", "--env", "staging"]);
    assert_eq!(listed, serde_json::json!([]));
    assert!(kv.calls().contains("--env staging"), "{}", kv.calls());
    // The same for --config elsewhere, and for key ... --apply.
    let out = kv.cli(&[
        "client",
        "list",
        "--env",
        "staging",
        "--config",
        "none/wrangler.toml",
    ]);
    assert!(!out.status.success());
    let keys = kv.0.path().join("keys.json");
    let keys = keys.to_str().unwrap();
    let out = kv.cli(&["key", "add", "--keys", keys, "--apply", "--env", "prod"]);
    assert!(
        text(&out.stderr).contains("[env.prod]"),
        "{}",
        text(&out.stderr)
    );
    assert!(!Path::new(keys).exists(), "the key file was written");
}

#[test]
fn options_a_command_would_ignore_are_refused() {
    let kv = FakeKv::new("ignored");
    let keys = kv.0.path().join("keys.json");
    let keys = keys.to_str().unwrap();
    for extra in [
        &["--remote"][..],
        &["--env", "prod"],
        &["--config", "wrangler.toml"],
        &["--local"],
        &["--persist-to", "state"],
    ] {
        let mut args = vec!["key", "add", "--keys", keys];
        args.extend_from_slice(extra);
        let out = kv.cli(&args);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {stderr}");
        assert!(stderr.contains(extra[0]), "{extra:?}: {stderr}");
        assert!(
            !Path::new(keys).exists(),
            "{extra:?}: the key file was written"
        );
    }
    // Options of other commands are unknown here.
    for args in [
        &["key", "generate", "--remote"][..],
        &["key", "list", "--keys", keys, "--apply"],
        &["client", "show", "x", "--name", "y"],
        &["client", "list", "--yes"],
    ] {
        let out = kv.cli(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
    }
    assert_eq!(kv.calls(), "", "wrangler ran");
}

/// The window printed after a change: one number, about 60 s +
/// KV_CACHE_TTL + CLIENT_CACHE_TTL, with the configured values.
#[test]
fn changes_print_one_consistency_window() {
    let kv = FakeKv::new("window");
    let id = kv.create();
    let window = |kv: &FakeKv, args: &[&str]| {
        let out = kv.cli(args);
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stderr)
    };
    // No wrangler.toml: the defaults, 60 + 60 + 30.
    let stderr = window(&kv, &["client", "disable", &id]);
    assert!(
        stderr.contains(
            "about 150 s (60 s KV propagation + KV_CACHE_TTL 60 s + CLIENT_CACHE_TTL 30 s)"
        ),
        "{stderr}"
    );
    std::fs::write(
        kv.0.path().join("wrangler.toml"),
        "[vars]\nKV_CACHE_TTL = \"120\"\nCLIENT_CACHE_TTL = \"0\"\n\n[env.prod.vars]\nKV_CACHE_TTL = \"300\"\n",
    )
    .unwrap();
    for args in [
        &["client", "enable", &id][..],
        &["client", "update", &id, "--name", "renamed"],
        &["client", "rotate-secret", &id],
    ] {
        let stderr = window(&kv, args);
        assert!(stderr.contains("about 180 s ("), "{args:?}: {stderr}");
        assert_eq!(stderr.matches(" s (60 s KV").count(), 1, "{stderr}");
    }
    // Environments do not inherit [vars].
    let stderr = window(&kv, &["client", "disable", &id, "--env", "prod"]);
    assert!(stderr.contains("about 390 s ("), "{stderr}");
    let stderr = window(&kv, &["client", "delete", &id, "--yes"]);
    assert!(stderr.contains("about 180 s ("), "{stderr}");
}

#[test]
fn a_ttl_above_the_configured_max_token_ttl_warns() {
    let kv = FakeKv::new("ttl-warning");
    let out = kv.cli(&["client", "create", "--name", "t", "--ttl", "2h"]);
    assert!(out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("warning: --ttl 7200 s is above MAX_TOKEN_TTL (3600 s)"),
        "{stderr}"
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["token_ttl"], 7200);
    std::fs::write(
        kv.0.path().join("wrangler.toml"),
        "[vars]\nMAX_TOKEN_TTL = \"7200\"\n",
    )
    .unwrap();
    let out = kv.cli(&["client", "create", "--name", "t", "--ttl", "2h"]);
    assert!(out.status.success());
    assert!(
        !text(&out.stderr).contains("warning"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn update_warns_about_a_ttl_above_max_token_ttl_once_it_writes() {
    let kv = FakeKv::new("update-ttl");
    let id = kv.create();
    let out = kv.cli(&["client", "update", &id, "--ttl", "1d"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("warning: --ttl 86400 s is above MAX_TOKEN_TTL"));
    // A refused update writes nothing and warns about nothing.
    let out = kv.cli(&[
        "client",
        "update",
        &id,
        "--ttl",
        "2d",
        "--default-scope",
        "admin",
    ]);
    assert!(!out.status.success());
    assert!(
        !text(&out.stderr).contains("warning"),
        "{}",
        text(&out.stderr)
    );
}

// private_key_jwt clients.

/// A signing key made by `key generate --alg ALG` in `dir`: its private
/// JWK (with `d`) and the same without `d` (the public JWK), and `d`.
fn client_jwk(dir: &Path, alg: &str, kid: &str) -> (serde_json::Value, serde_json::Value, String) {
    let file = dir.join(format!("{kid}.keys.json"));
    let out = run(&[
        "key",
        "generate",
        "--alg",
        alg,
        "--kid",
        kid,
        "--keys",
        file.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let entries: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&file).unwrap()).unwrap();
    let private = entries[0].clone();
    let d = private["d"].as_str().unwrap().to_owned();
    let mut public = private.clone();
    public.as_object_mut().unwrap().remove("d");
    (private, public, d)
}

/// Writes `jwk` to `dir/name`; its path.
fn write_jwk(dir: &Path, name: &str, jwk: &serde_json::Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, jwk.to_string()).unwrap();
    path.to_str().unwrap().to_owned()
}

#[test]
fn a_key_client_is_created_shown_and_rekeyed_but_never_rotated() {
    let kv = FakeKv::new("keyclient");
    let dir = kv.0.path();
    let (_, old, _) = client_jwk(dir, "ES256", "old");
    let (_, new, _) = client_jwk(dir, "EdDSA", "new");
    let old = write_jwk(dir, "old.json", &old);
    let new = write_jwk(dir, "new.json", &new);
    let created = kv.json(&[
        "client",
        "create",
        "--name",
        "k",
        "--scope",
        "read",
        "--auth",
        "private_key_jwt",
        "--jwk",
        &old,
    ]);
    assert!(created.get("client_secret").is_none(), "{created}");
    assert_eq!(created["token_endpoint_auth_method"], "private_key_jwt");
    assert_eq!(created["keys"].as_array().unwrap().len(), 1);
    assert_eq!(created["keys"][0]["kid"], "old");
    assert_eq!(created["keys"][0]["alg"], "ES256");
    assert_eq!(created["secrets"], serde_json::json!([]));
    let id = created["client_id"].as_str().unwrap().to_owned();
    // show prints what create printed; the stored record is version 3.
    assert_eq!(kv.json(&["client", "show", &id]), created);
    let stored = std::fs::read_to_string(dir.join("kv").join(format!("client_{id}"))).unwrap();
    let stored: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(stored["version"], 3);
    // list says how each client authenticates.
    let secret_id = kv.create();
    let listed = kv.json(&["client", "list"]);
    let method = |id: &str| {
        listed
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["client_id"] == id)
            .unwrap()["token_endpoint_auth_method"]
            .clone()
    };
    assert_eq!(method(&id), "private_key_jwt");
    assert_eq!(method(&secret_id), "client_secret_basic");

    let puts = |kv: &FakeKv| kv.calls().matches("kv key put").count();
    // Rotation with overlap: add the new key, then remove the old one.
    let out = kv.cli(&["client", "add-key", &id, "--jwk", &new]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let added: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let kids = |v: &serde_json::Value| -> Vec<String> {
        v["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["kid"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(kids(&added), ["old", "new"]);
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("key \"new\" added")
            && stderr.contains("takes effect everywhere within")
            && stderr.contains("remove-key"),
        "{stderr}"
    );
    let written = puts(&kv);
    let out = kv.cli(&["client", "rotate-secret", &id]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("no secret to rotate"),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());
    assert_eq!(puts(&kv), written, "rotate-secret wrote");
    let removed = kv.json(&["client", "remove-key", &id, "old"]);
    assert_eq!(kids(&removed), ["new"]);
    assert_eq!(kv.json(&["client", "show", &id]), removed);
    let written = puts(&kv);
    let out = kv.cli(&["client", "remove-key", &id, "new"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("only key"),
        "{}",
        text(&out.stderr)
    );
    // A secret client gets no keys.
    let out = kv.cli(&["client", "add-key", &secret_id, "--jwk", &old]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("authenticates with a client secret"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(puts(&kv), written, "a refused change wrote");
}

#[test]
fn a_private_jwk_is_refused_before_wrangler_runs_and_never_echoed() {
    let kv = FakeKv::new("privatejwk");
    let dir = kv.0.path();
    let (private, public, d) = client_jwk(dir, "ES256", "k1");
    let (private_ed, _, d_ed) = client_jwk(dir, "Ed25519", "k2");
    let files = [
        write_jwk(dir, "private.json", &private),
        write_jwk(dir, "private-ed.json", &private_ed),
        write_jwk(
            dir,
            "set.json",
            &serde_json::json!({"keys": [public.clone(), private_ed.clone()]}),
        ),
        // The whole SIGNING_KEYS file, a likely mistake.
        dir.join("k1.keys.json").to_str().unwrap().to_owned(),
    ];
    for file in &files {
        let out = kv.cli(&[
            "client",
            "create",
            "--name",
            "k",
            "--auth",
            "private_key_jwt",
            "--jwk",
            file,
        ]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{file}: {stderr}");
        assert!(out.stdout.is_empty(), "{file}");
        assert!(stderr.starts_with("edge-token: --jwk "), "{file}: {stderr}");
        for secret in [&d, &d_ed] {
            assert!(!stderr.contains(secret.as_str()), "{file}: {stderr}");
        }
    }
    let stderr = text(
        &kv.cli(&[
            "client",
            "create",
            "--name",
            "k",
            "--auth",
            "private_key_jwt",
            "--jwk",
            &files[0],
        ])
        .stderr,
    );
    assert!(stderr.contains("give only the public key"), "{stderr}");
    assert_eq!(kv.calls(), "", "wrangler ran");
    assert_eq!(std::fs::read_dir(dir.join("kv")).unwrap().count(), 0);
    // add-key refuses it the same way, before it reads the client.
    let public = write_jwk(dir, "public.json", &public);
    let id = kv.json(&[
        "client",
        "create",
        "--name",
        "k",
        "--auth",
        "private_key_jwt",
        "--jwk",
        &public,
    ])["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let calls = kv.calls();
    let out = kv.cli(&["client", "add-key", &id, "--jwk", &files[1]]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("give only the public key") && !stderr.contains(&d_ed),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    assert_eq!(kv.calls(), calls, "wrangler ran");
}

// Key commands.

const ALGS: [&str; 4] = ["HS256", "ES256", "EdDSA", "Ed25519"];

/// The private values of a SIGNING_KEYS file: every `key` and `d`.
fn private_values(path: &Path) -> Vec<String> {
    let entries: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    entries
        .iter()
        .flat_map(|e| [e.get("key"), e.get("d")])
        .flatten()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// Neither stream of `out` shows private key material of `path`.
fn assert_no_private_material(out: &Output, path: &Path) {
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    let secrets = private_values(path);
    assert!(!secrets.is_empty());
    for secret in secrets {
        assert!(!stdout.contains(&secret), "{stdout}");
        assert!(!stderr.contains(&secret), "{stderr}");
    }
    for stream in [&stdout, &stderr] {
        assert!(
            !stream.contains("\"d\"") && !stream.contains("\"key\""),
            "{stream}"
        );
    }
}

fn signing_keys(path: &Path) -> edge_token_core::signing::SigningKeys {
    edge_token_core::signing::SigningKeys::parse(&std::fs::read_to_string(path).unwrap())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn key_generate_writes_a_private_file_and_prints_only_public_information() {
    let kv = FakeKv::new("generate");
    for alg in ALGS {
        let path = kv.0.path().join(format!("{alg}.json"));
        let keys = path.to_str().unwrap();
        let out = kv.cli(&[
            "key", "generate", "--alg", alg, "--kid", "g1", "--keys", keys,
        ]);
        assert!(out.status.success(), "{alg}: {}", text(&out.stderr));
        let parsed = signing_keys(&path);
        assert_eq!(parsed.signer_alg().name(), alg);
        assert_eq!(parsed.signer_kid(), "g1");
        #[cfg(unix)]
        assert_eq!(mode(&path), 0o600, "{alg}");
        assert_no_private_material(&out, &path);
        let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let jwks: serde_json::Value = serde_json::from_str(parsed.jwks_json()).unwrap();
        let mut expected = serde_json::json!({"kid": "g1", "alg": alg, "role": "signs"});
        if alg != "HS256" {
            expected["jwk"] = jwks["keys"][0].clone();
        }
        assert_eq!(summary, expected, "{alg}");
        assert!(text(&out.stderr).contains("wrangler secret put SIGNING_KEYS <"));
        // Never over an existing key file.
        let before = std::fs::read_to_string(&path).unwrap();
        let out = kv.cli(&["key", "generate", "--alg", alg, "--keys", keys]);
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert!(
            stderr.contains("already exists and is not empty") && stderr.contains("refusing"),
            "{stderr}"
        );
        assert!(out.stdout.is_empty());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
    }
    // HS256 is the default; the kid defaults to k<days>-<random>.
    let path = kv.0.path().join("default.json");
    let out = kv.cli(&["key", "generate", "--keys", path.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(summary["alg"], "HS256");
    assert!(summary["kid"].as_str().unwrap().starts_with('k'));
    assert_no_private_material(&out, &path);
    // --keys is required, and --alg takes only the JOSE names.
    let out = kv.cli(&["key", "generate"]);
    assert!(text(&out.stderr).contains("--keys <FILE>"));
    let bad = kv.0.path().join("bad.json");
    let out = kv.cli(&[
        "key",
        "generate",
        "--alg",
        "es256",
        "--keys",
        bad.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("ES256"), "{}", text(&out.stderr));
    assert!(!bad.exists());
}

#[test]
fn key_add_list_and_public_with_every_algorithm() {
    let kv = FakeKv::new("key-list");
    let path = kv.0.path().join("keys.json");
    let keys = path.to_str().unwrap();
    let out = kv.cli(&[
        "key", "generate", "--alg", "ES256", "--kid", "es", "--keys", keys,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for (alg, kid) in [
        ("EdDSA", "ed"),
        ("HS256", "hs"),
        ("Ed25519", "ed2"),
        ("ES256", "es2"),
    ] {
        let out = kv.cli(&["key", "add", "--alg", alg, "--kid", kid, "--keys", keys]);
        assert!(out.status.success(), "{alg}: {}", text(&out.stderr));
        assert_no_private_material(&out, &path);
        assert_eq!(
            signing_keys(&path)
                .verify_keys()
                .find(kid)
                .unwrap()
                .alg()
                .name(),
            alg
        );
        assert!(text(&out.stderr).contains(&format!("key promote {kid}")));
    }
    assert_eq!(signing_keys(&path).signer_kid(), "es");
    let out = kv.cli(&["key", "list", "--keys", keys]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_no_private_material(&out, &path);
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        list,
        serde_json::json!([
            {"kid": "es", "alg": "ES256", "role": "signs"},
            {"kid": "ed", "alg": "EdDSA", "role": "verifies"},
            {"kid": "hs", "alg": "HS256", "role": "verifies"},
            {"kid": "ed2", "alg": "Ed25519", "role": "verifies"},
            {"kid": "es2", "alg": "ES256", "role": "verifies"},
        ])
    );
    let out = kv.cli(&["key", "public", "--keys", keys]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_no_private_material(&out, &path);
    let printed: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let served: serde_json::Value = serde_json::from_str(signing_keys(&path).jwks_json()).unwrap();
    assert_eq!(printed, served);
    let set = edge_token_core::token::KeySet::from_jwks(&text(&out.stdout)).unwrap();
    assert_eq!(
        set.kids().collect::<Vec<_>>(),
        vec!["es", "ed", "ed2", "es2"]
    );
    for jwk in printed["keys"].as_array().unwrap() {
        assert!(jwk.get("d").is_none() && jwk.get("key").is_none(), "{jwk}");
    }
    // Promote and remove keep working with asymmetric keys.
    let out = kv.cli(&["key", "promote", "ed2", "--keys", keys]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_no_private_material(&out, &path);
    assert_eq!(signing_keys(&path).signer_kid(), "ed2");
    let out = kv.cli(&["key", "remove", "es", "--keys", keys]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_no_private_material(&out, &path);
    assert!(signing_keys(&path).verify_keys().find("es").is_none());
    assert_eq!(kv.calls(), "", "wrangler ran");
}

#[test]
fn key_promote_refuses_a_public_only_entry() {
    let kv = FakeKv::new("public-only");
    let path = kv.0.path().join("keys.json");
    let keys = path.to_str().unwrap();
    let out = kv.cli(&[
        "key", "generate", "--alg", "EdDSA", "--kid", "ed", "--keys", keys,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = kv.cli(&[
        "key", "add", "--alg", "ES256", "--kid", "pub", "--keys", keys,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    // Keep only the public half of "pub".
    let mut entries: Vec<serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    entries[1].as_object_mut().unwrap().remove("d");
    std::fs::write(&path, serde_json::to_string(&entries).unwrap()).unwrap();
    let before = std::fs::read_to_string(&path).unwrap();
    let out = kv.cli(&["key", "promote", "pub", "--keys", keys]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("pub is public only") && stderr.contains("cannot be promoted"),
        "{stderr}"
    );
    assert!(out.stdout.is_empty());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
    let list: serde_json::Value = kv.json(&["key", "list", "--keys", keys]);
    assert_eq!(
        list[1],
        serde_json::json!({"kid": "pub", "alg": "ES256", "role": "public only"})
    );
    // Public only, it is still published.
    let jwks = kv.json(&["key", "public", "--keys", keys]);
    assert_eq!(jwks["keys"][1]["kid"], "pub");
}

#[test]
fn key_apply_stores_asymmetric_files_through_wrangler() {
    let kv = FakeKv::new("apply");
    let path = kv.0.path().join("keys.json");
    let keys = path.to_str().unwrap();
    let out = kv.cli(&[
        "key", "generate", "--alg", "ES256", "--kid", "es", "--keys", keys,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(kv.calls(), "", "generate ran wrangler");
    let out = kv.cli(&[
        "key", "add", "--alg", "EdDSA", "--kid", "ed", "--keys", keys, "--apply",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_no_private_material(&out, &path);
    assert_eq!(kv.calls(), "secret put SIGNING_KEYS\n");
    let secret = std::fs::read_to_string(kv.0.path().join("secret")).unwrap();
    assert_eq!(
        secret.trim_end(),
        std::fs::read_to_string(&path).unwrap().trim_end()
    );
    let stored = edge_token_core::signing::SigningKeys::parse(&secret).unwrap();
    assert_eq!(stored.signer_kid(), "es");
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("stored") && stderr.contains("JWKS_MAX_AGE"),
        "{stderr}"
    );
    let out = kv.cli(&["key", "promote", "ed", "--keys", keys, "--apply"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let secret = std::fs::read_to_string(kv.0.path().join("secret")).unwrap();
    assert_eq!(
        edge_token_core::signing::SigningKeys::parse(&secret)
            .unwrap()
            .signer_kid(),
        "ed"
    );
}

#[test]
fn a_locked_local_store_is_retried_then_reported() {
    // wrangler's local KV is SQLite: while `make dev` (or a test's Worker)
    // writes it, a put can fail with SQLITE_BUSY. Tried again, it succeeds.
    let kv = FakeKv::new("busy");
    // Makes the stand-in wrangler refuse the next `busy` puts, creates a
    // client; answers the CLI's output and the puts tried so far.
    let create_while_busy = |busy: &str, name: &str| {
        std::fs::write(kv.0.path().join("busy"), busy).unwrap();
        let out = kv.cli(&["client", "create", "--name", name, "--scope", "read"]);
        let calls = std::fs::read_to_string(kv.0.path().join("calls")).unwrap();
        let puts = calls
            .lines()
            .filter(|l| l.starts_with("kv key put"))
            .count();
        (out, puts, calls)
    };
    let (out, puts, calls) = create_while_busy("2", "a");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(puts, 3, "{calls}");
    // Locked for good: an error naming the cause, after a bounded number of tries.
    let (out, puts, calls) = create_while_busy("99", "b");
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(stderr.contains("database is locked"), "{stderr}");
    assert_eq!(puts, 3 + 6, "{calls}");
}
