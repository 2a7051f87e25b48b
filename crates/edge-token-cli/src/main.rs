//! `edge-token`: the admin CLI. Registers and manages clients in the Workers
//! KV namespace (through wrangler), generates signing keys and maintains a
//! local `SIGNING_KEYS` file for key rotation.
//!
//! [`args`] declares the command line, [`clients`] and [`keys`] carry the
//! commands out, [`wrangler`] runs wrangler; this file dispatches and picks
//! the exit code.

mod args;
mod clients;
mod keys;
mod wrangler;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use serde_json::Value;

use crate::args::{Cli, Command};

fn main() -> ExitCode {
    // Usage errors (a bare `edge-token` included: it prints the usage to
    // stderr) exit 1 like every other error; --help and --version go to
    // stdout and succeed.
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match run(cli) {
        Ok(output) if output.is_empty() => ExitCode::SUCCESS,
        Ok(output) => match emit(&mut std::io::stdout().lock(), &output) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                note(&format!("edge-token: cannot write the output: {e}"));
                ExitCode::FAILURE
            }
        },
        Err(message) => {
            note(&format!("edge-token: {message}"));
            ExitCode::FAILURE
        }
    }
}

/// Writes `text` and a newline to `out` (stdout). A reader that has gone
/// away (`edge-token ... | head -1`) is no error: there is no one left to
/// tell, and the command itself succeeded.
fn emit(out: &mut impl Write, text: &str) -> std::io::Result<()> {
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// A line on stderr: progress, hints, warnings and errors. Never panics
/// (`eprintln!` does when stderr is closed).
fn note(line: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{line}");
}

/// Runs the command; its stdout on success, the error message otherwise.
fn run(cli: Cli) -> Result<String, String> {
    match cli.command {
        Command::Client(command) => clients::run(command),
        Command::Key(command) => keys::run(command),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A stdout whose reader has gone away.
    struct ClosedPipe;

    impl Write for ClosedPipe {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
    }

    /// A stdout that is full.
    struct Full;

    impl Write for Full {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::StorageFull.into())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn output_to_a_closed_pipe_is_no_error_but_other_failures_are() {
        assert!(emit(&mut ClosedPipe, "{}").is_ok());
        assert!(emit(&mut Full, "{}").is_err());
        let mut out = Vec::new();
        emit(&mut out, "{\"a\":1}").unwrap();
        assert_eq!(out, b"{\"a\":1}\n");
    }
}

/// Helpers shared by the unit tests of every module.
#[cfg(test)]
mod testutil {
    use std::path::PathBuf;

    use clap::Parser;
    use edge_token_core::random::{OsRandom, Random};

    use crate::args::Cli;

    /// Parses `edge-token <list>`; clap's message on error.
    pub fn parse(list: &[&str]) -> Result<Cli, String> {
        Cli::try_parse_from(std::iter::once("edge-token").chain(list.iter().copied()))
            .map_err(|e| e.to_string())
    }

    /// A fresh directory under the system temp dir, removed on drop.
    pub struct TempDir(pub PathBuf);

    impl TempDir {
        pub fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!(
                "edge-token-test-{name}-{}-{}",
                std::process::id(),
                OsRandom.token::<6>().unwrap()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        pub fn file(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// A wrangler stand-in (run by `sh`, so it needs no exec bit) that logs
    /// its argv one per line to `argv`, and for the file after `--path`
    /// stores its name in `path`, a copy in `copy` and its mode in `mode`.
    #[cfg(unix)]
    pub fn fake_wrangler(dir: &TempDir, status: u8) -> Vec<String> {
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
}
