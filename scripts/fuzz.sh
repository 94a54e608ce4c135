#!/usr/bin/env bash
# Builds every libFuzzer target tests/fuzz/fuzz_<name>.cpp with clang (ASan + UBSan) into build/fuzz/, replays
# its recorded findings (tests/fuzz/regressions/<name>/, each must now run clean), then fuzzes it for
# ${VOXFORMER_FUZZ_SECONDS:-30} seconds on a copy of its seed corpus (tests/fuzz/corpus/<name>/). A new target
# is a new fuzz_<name>.cpp and a corpus/<name>/ folder (and optionally a libFuzzer dictionary fuzz_<name>.dict, and
# fuzz_<name>.ldflags: link flags on one line, e.g. -lyaml-cpp). Exits non-zero on any finding; each crashing, leaking,
# timing-out or out-of-memory input is copied to tests/fuzz/regressions/<name>/ so the next run replays it
# (commit it with the fix). Arguments, if any, are passed to every fuzzer (e.g. -max_len=8192).
# Targets run ${VOXFORMER_FUZZ_JOBS:-$(nproc)} at a time (each fuzzer is one process on one core); each one's output
# is printed when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${VOXFORMER_FUZZ_SECONDS:-30}"
parallel="${VOXFORMER_FUZZ_JOBS:-$(nproc)}"
cxx="${VOXFORMER_FUZZ_CXX:-clang++}"
command -v "$cxx" > /dev/null || { echo "fuzz.sh: $cxx not found (scripts/install_dependencies.sh installs clang)" >&2; exit 1; }
out=build/fuzz
mkdir -p "$out/logs"

targets=(tests/fuzz/fuzz_*.cpp)
[ -e "${targets[0]}" ] || { echo "fuzz.sh: no tests/fuzz/fuzz_*.cpp" >&2; exit 1; }

# Builds, replays and fuzzes one target; its exit status says whether it is clean.
fuzz_target() {
  local name="$1"
  shift
  local source="tests/fuzz/fuzz_$name.cpp" binary="$out/fuzz_$name"
  echo "== fuzz_$name: building"
  local ldflags=()
  [ -f "tests/fuzz/fuzz_$name.ldflags" ] && read -r -a ldflags < "tests/fuzz/fuzz_$name.ldflags"
  "$cxx" -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Iinclude \
    -isystem /usr/include/eigen3 "$source" -o "$binary" "${ldflags[@]}"

  local regressions="tests/fuzz/regressions/$name"
  if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
    echo "== fuzz_$name: replaying $(ls -A "$regressions" | wc -l) regression input(s)"
    "$binary" -runs=1 "$regressions"/* || { echo "fuzz.sh: fuzz_$name fails on a recorded regression"; return 1; }
  fi

  # libFuzzer adds what it finds to the first corpus folder: a copy, so the seeds stay as committed. The copy is
  # kept between local runs (build/fuzz/corpus/<name>/) so longer runs build on shorter ones.
  local corpus="$out/corpus/$name" artifacts="$out/artifacts/$name"
  mkdir -p "$corpus" "$artifacts"
  [ -d "tests/fuzz/corpus/$name" ] && cp -r "tests/fuzz/corpus/$name/." "$corpus/"
  rm -f "$artifacts"/*
  local options=()
  [ -f "tests/fuzz/fuzz_$name.dict" ] && options+=(-dict="tests/fuzz/fuzz_$name.dict")
  echo "== fuzz_$name: fuzzing for ${seconds}s"
  local status=0
  "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "${options[@]}" "$@" "$corpus" || status=$?
  local findings=("$artifacts"/*)
  if [ "$status" -ne 0 ] || [ -e "${findings[0]}" ]; then
    mkdir -p "$regressions"
    for finding in "${findings[@]}"; do
      [ -e "$finding" ] && cp "$finding" "$regressions/" && echo "fuzz.sh: kept $regressions/$(basename "$finding")"
    done
    return 1
  fi
}

# Prints a finished target's output and notes whether it was clean.
failed=()
report() {
  local name="$1" status="$2"
  cat "$out/logs/$name.log"
  [ "$status" -eq 0 ] || failed+=("$name")
}

declare -A running=()  # pid → target name
for source in "${targets[@]}"; do
  name="$(basename "$source" .cpp)"
  name="${name#fuzz_}"
  while [ "${#running[@]}" -ge "$parallel" ]; do
    status=0
    wait -n -p done_pid "${!running[@]}" || status=$?
    report "${running[$done_pid]}" "$status"
    unset "running[$done_pid]"
  done
  fuzz_target "$name" "$@" > "$out/logs/$name.log" 2>&1 &
  running[$!]="$name"
done
while [ "${#running[@]}" -gt 0 ]; do
  status=0
  wait -n -p done_pid "${!running[@]}" || status=$?
  report "${running[$done_pid]}" "$status"
  unset "running[$done_pid]"
done

if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz.sh: findings in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: ${#targets[@]} target(s) clean"
