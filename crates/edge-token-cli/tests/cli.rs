//! The `edge-token` binary as a user runs it: exit codes, where output
//! goes, and (through a stand-in wrangler that keeps KV in a directory)
//! what the client commands print and write.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

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
    for args in [
        &["--help"][..],
        &["client", "create", "--help"],
        &["--version"],
        &["key", "generate", "--kid", "k1"],
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
