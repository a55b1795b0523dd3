#!/usr/bin/env bash
# Run every fuzz target for FUZZ_SECONDS from its committed seed corpus
# (tests/fuzz/corpus/<target>/), with its dictionary when there is one,
# FUZZ_JOBS (default 2: one per core of the CI machine) at a time.
# New inputs go to a scratch copy, so the committed corpus stays as it is;
# on a crash its log and input are printed (FUZZ_KEEP=dir keeps the inputs).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${FUZZ_BUILD:-build-fuzz}
secs=${FUZZ_SECONDS:-60}
jobs=${FUZZ_JOBS:-2}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

one() { # one target: exit status of libFuzzer
  local bin=$1 name work dict=()
  name=$(basename "$bin")
  work="$scratch/$name"
  mkdir -p "$work"
  [ -d "$here/corpus/$name" ] && cp -r "$here/corpus/$name/." "$work/"
  [ -f "$here/$name.dict" ] && dict=(-dict="$here/$name.dict")
  "$bin" "${dict[@]}" -max_total_time="$secs" -print_final_stats=1 \
    -artifact_prefix="$work/" "$work" >"$scratch/$name.log" 2>&1
}

names=()
for bin in "$build"/tests/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
  { if one "$bin"; then echo 0; else echo 1; fi >"$scratch/$name.rc"; } &
  names+=("$name")
done
wait

status=0
for name in "${names[@]}"; do
  echo "== $name for ${secs}s"
  if [ "$(cat "$scratch/$name.rc")" = 0 ]; then
    grep -E "stat::number_of_executed_units|stat::average_exec_per_sec|^Done" "$scratch/$name.log" ||
      tail -3 "$scratch/$name.log"
  else
    status=1
    tail -60 "$scratch/$name.log"
    for f in "$scratch/$name"/crash-* "$scratch/$name"/leak-* "$scratch/$name"/timeout-*; do
      [ -f "$f" ] || continue
      echo "-- $(basename "$f") (first bytes; FUZZ_KEEP=dir keeps the file):"
      od -A x -t x1z "$f" | head -16
    done
    if [ -n "${FUZZ_KEEP:-}" ]; then
      mkdir -p "$FUZZ_KEEP" && cp "$scratch/$name"/{crash,leak,timeout}-* "$FUZZ_KEEP/" 2>/dev/null || true
    fi
  fi
done
exit $status
