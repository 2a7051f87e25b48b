#!/usr/bin/env bash
# fuzz.sh [TARGET...]: runs the cargo-fuzz targets in fuzz/ (default: all of
# them, one after another) for FUZZ_SECONDS each, and prints per target the
# executions, exec/s, corpus size and whether a crash was found. Exits
# non-zero if any target crashed (or failed to build), printing the artifact.
#
# Installs the pinned cargo-fuzz into .tools if missing. libFuzzer and the
# sanitizer need nightly rustc flags; the pinned toolchain (rust-toolchain.toml) is used with
# RUSTC_BOOTSTRAP=1 (no nightly download). Builds go to fuzz/target, never
# the workspace's target/.
#
# The working corpus, fuzz/corpus/TARGET (not in git), starts from the
# committed seeds in fuzz/seeds/TARGET and keeps growing across runs
# (minimised with `cargo fuzz cmin` after each clean run).
# Crash inputs land in fuzz/artifacts/TARGET; reproduce one with
#   RUSTC_BOOTSTRAP=1 .tools/bin/cargo-fuzz run --fuzz-dir fuzz -a -s none TARGET fuzz/artifacts/TARGET/crash-...
# Logs: fuzz/target/fuzz-logs/TARGET.log.
#
# Settings (environment):
#   FUZZ_SECONDS  time per target, seconds (default 60)
#   FUZZ_RSS_MB   memory limit per fuzzer process, MB (default 2048)
#   FUZZ_MAX_LEN  longest generated input, bytes (default 4096)
#   FUZZ_TIMEOUT  seconds one input may take before it is a hang (default 10)
#   FUZZ_SANITIZER  none (default) or address, memory, thread, leak. The
#                 library is `#![deny(unsafe_code)]`, so AddressSanitizer only
#                 watches the dependencies' unsafe code, at a ~5x slowdown;
#                 panics, overflows and hangs are caught either way.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_FUZZ_VERSION=0.13.2
TOOLS="$PWD/.tools"
export PATH="$TOOLS/bin:$PATH"
export RUSTC_BOOTSTRAP=1

seconds="${FUZZ_SECONDS:-60}"
rss_mb="${FUZZ_RSS_MB:-2048}"
max_len="${FUZZ_MAX_LEN:-4096}"
timeout="${FUZZ_TIMEOUT:-10}"
sanitizer="${FUZZ_SANITIZER:-none}"
for v in "$seconds" "$rss_mb" "$max_len" "$timeout"; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: settings must be positive integers (got '$v')" >&2; exit 2; }
done

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

if ! cargo-fuzz --version 2>/dev/null | grep -qx "cargo-fuzz $CARGO_FUZZ_VERSION"; then
  log "installing cargo-fuzz $CARGO_FUZZ_VERSION into .tools"
  cargo install --quiet --locked --force --root "$TOOLS" cargo-fuzz --version "=$CARGO_FUZZ_VERSION"
fi

# --debug-assertions: an arithmetic overflow or a failed debug_assert! in the
# library is a finding too. Same flags for build and run, so run does not rebuild.
fuzz_flags=(--fuzz-dir fuzz --debug-assertions --sanitizer "$sanitizer")

if [ "$#" -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list --fuzz-dir fuzz)
fi
[ "${#targets[@]}" -gt 0 ] || { echo "fuzz.sh: no fuzz targets found" >&2; exit 2; }

log "building fuzz targets: ${targets[*]}"
if [ "$#" -eq 0 ]; then
  cargo fuzz build "${fuzz_flags[@]}"
else
  for t in "${targets[@]}"; do cargo fuzz build "${fuzz_flags[@]}" "$t"; done
fi

mkdir -p fuzz/target/fuzz-logs
summary=()
failed=0
for t in "${targets[@]}"; do
  corpus="fuzz/corpus/$t"
  seeds="fuzz/seeds/$t"
  mkdir -p "$corpus" "fuzz/artifacts/$t"
  if [ -d "$seeds" ]; then
    cp -n "$seeds"/* "$corpus"/ 2>/dev/null || true
  fi
  logfile="fuzz/target/fuzz-logs/$t.log"
  log "fuzzing $t for ${seconds}s (log: $logfile)"
  start=$(date +%s)
  set +e
  cargo fuzz run "${fuzz_flags[@]}" "$t" "$corpus" -- \
    -max_total_time="$seconds" -rss_limit_mb="$rss_mb" -max_len="$max_len" \
    -timeout="$timeout" -print_final_stats=1 >"$logfile" 2>&1
  status=$?
  set -e
  elapsed=$(( $(date +%s) - start ))

  # libFuzzer's final statistics (printed on a clean finish and on a crash).
  stat() { awk -v k="stat::$1:" '$1 == k { v = $2 } END { print v + 0 }' "$logfile"; }
  execs=$(stat number_of_executed_units)
  rate=$(stat average_exec_per_sec)
  # libFuzzer never deletes superseded inputs; merge the working corpus down
  # to the inputs that still add coverage (seconds), so it stays small.
  if [ "$status" -eq 0 ]; then
    cargo fuzz cmin "${fuzz_flags[@]}" "$t" "$corpus" -- -max_len="$max_len" \
      -rss_limit_mb="$rss_mb" >>"$logfile" 2>&1 || log "cmin of $corpus failed (see $logfile)"
  fi
  corpus_files=$(find "$corpus" -type f | wc -l)
  corpus_kb=$(( ( $(find "$corpus" -type f -exec cat {} + | wc -c) + 1023 ) / 1024 ))
  # crash-, timeout-, oom-, leak-... (a slow-unit- is a report, not a failure).
  artifacts=$(grep -oE 'Test unit written to [^ ]+' "$logfile" | sed 's/^Test unit written to //' \
              | grep -v '/slow-unit-' | sort -u || true)
  if [ "$status" -eq 0 ] && [ -z "$artifacts" ]; then
    verdict="no crash"
  elif [ -n "$artifacts" ]; then
    verdict="CRASH"
    failed=1
  else
    verdict="FAILED (exit $status, no artifact; see $logfile)"
    failed=1
  fi
  summary+=("$(printf '%-10s %7s %12s %9s %9s %8s  %s' "$t" "${elapsed}s" "$execs" "$rate" "$corpus_files" "${corpus_kb}K" "$verdict")")
  if [ -n "$artifacts" ]; then
    echo "---- $t: crash ----" >&2
    # The panic location and message (first lines), or the sanitizer's verdict.
    grep -E -A2 "panicked at" "$logfile" | grep -v '^stack backtrace' | cut -c1-600 | head -n 3 >&2 || true
    grep -E "ERROR: (libFuzzer|AddressSanitizer)|^SUMMARY:" "$logfile" | head -n 2 >&2 || true
    while IFS= read -r a; do
      echo "artifact: $a" >&2
      echo "  hex: $(od -An -tx1 -v "$a" | tr -d ' \n' | head -c 2000)" >&2
      echo "  reproduce: RUSTC_BOOTSTRAP=1 .tools/bin/cargo-fuzz run ${fuzz_flags[*]} $t $a" >&2
      echo "  minimise:  RUSTC_BOOTSTRAP=1 .tools/bin/cargo-fuzz tmin ${fuzz_flags[*]} $t $a" >&2
    done <<<"$artifacts"
  elif [ "$status" -ne 0 ]; then
    tail -n 20 "$logfile" >&2
  fi
done

echo
printf '%-10s %7s %12s %9s %9s %8s  %s\n' target time executions exec/s corpus size result
printf '%s\n' "${summary[@]}"
exit "$failed"
