#!/usr/bin/env bash
# Run every fuzz target for FUZZ_SECONDS from its committed seed corpus
# (tests/fuzz/corpus/<target>/), with its dictionary when there is one.
# New inputs go to a scratch copy, so the committed corpus stays as it is.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=${FUZZ_BUILD:-build-fuzz}
secs=${FUZZ_SECONDS:-60}
status=0
for bin in "$build"/tests/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  work=$(mktemp -d)
  [ -d "$here/corpus/$name" ] && cp -r "$here/corpus/$name/." "$work/"
  dict=()
  [ -f "$here/$name.dict" ] && dict=(-dict="$here/$name.dict")
  echo "== $name for ${secs}s"
  if ! "$bin" "${dict[@]}" -max_total_time="$secs" -print_final_stats=1 -artifact_prefix="$work/" "$work" 2>"$work.log"; then
    status=1; tail -60 "$work.log"; ls "$work"/crash-* "$work"/leak-* 2>/dev/null || true
  else
    grep -E "stat::number_of_executed_units|stat::average_exec_per_sec|Done" "$work.log" || tail -3 "$work.log"
  fi
  rm -rf "$work" "$work.log"
done
exit $status
