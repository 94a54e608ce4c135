#!/usr/bin/env bash
# Builds every libFuzzer target tests/fuzz/fuzz_<name>.cpp with clang (ASan + UBSan) into build/fuzz/, replays
# its recorded findings (tests/fuzz/regressions/<name>/, each must now run clean), then fuzzes it for
# ${VOXFORMER_FUZZ_SECONDS:-30} seconds on a copy of its seed corpus (tests/fuzz/corpus/<name>/). A new target
# is a new fuzz_<name>.cpp and a corpus/<name>/ folder (and optionally a libFuzzer dictionary fuzz_<name>.dict, and
# fuzz_<name>.ldflags: link flags on one line, e.g. -lyaml-cpp). Exits non-zero on any finding; each crashing, leaking,
# timing-out or out-of-memory input is copied to tests/fuzz/regressions/<name>/ so the next run replays it
# (commit it with the fix). Arguments, if any, are passed to every fuzzer (e.g. -jobs=2, -max_len=8192).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${VOXFORMER_FUZZ_SECONDS:-30}"
cxx="${VOXFORMER_FUZZ_CXX:-clang++}"
command -v "$cxx" > /dev/null || { echo "fuzz.sh: $cxx not found (scripts/install_dependencies.sh installs clang)" >&2; exit 1; }
out=build/fuzz
mkdir -p "$out"

targets=(tests/fuzz/fuzz_*.cpp)
[ -e "${targets[0]}" ] || { echo "fuzz.sh: no tests/fuzz/fuzz_*.cpp" >&2; exit 1; }
failed=()
for source in "${targets[@]}"; do
  name="$(basename "$source" .cpp)"
  name="${name#fuzz_}"
  binary="$out/fuzz_$name"
  echo "== fuzz_$name: building"
  ldflags=()
  [ -f "tests/fuzz/fuzz_$name.ldflags" ] && read -r -a ldflags < "tests/fuzz/fuzz_$name.ldflags"
  "$cxx" -std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -Iinclude \
    -isystem /usr/include/eigen3 "$source" -o "$binary" "${ldflags[@]}"

  regressions="tests/fuzz/regressions/$name"
  if [ -d "$regressions" ] && [ -n "$(ls -A "$regressions")" ]; then
    echo "== fuzz_$name: replaying $(ls -A "$regressions" | wc -l) regression input(s)"
    if ! "$binary" -runs=1 "$regressions"/*; then
      failed+=("$name (regression)")
      continue
    fi
  fi

  # libFuzzer adds what it finds to the first corpus folder: a copy, so the seeds stay as committed. The copy is
  # kept between local runs (build/fuzz/corpus/<name>/) so longer runs build on shorter ones.
  corpus="$out/corpus/$name"
  artifacts="$out/artifacts/$name"
  mkdir -p "$corpus" "$artifacts"
  [ -d "tests/fuzz/corpus/$name" ] && cp -r "tests/fuzz/corpus/$name/." "$corpus/"
  rm -f "$artifacts"/*
  options=()
  [ -f "tests/fuzz/fuzz_$name.dict" ] && options+=(-dict="tests/fuzz/fuzz_$name.dict")
  echo "== fuzz_$name: fuzzing for ${seconds}s"
  status=0
  "$binary" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "${options[@]}" "$@" "$corpus" || status=$?
  findings=("$artifacts"/*)
  if [ "$status" -ne 0 ] || [ -e "${findings[0]}" ]; then
    mkdir -p "$regressions"
    for finding in "${findings[@]}"; do
      [ -e "$finding" ] && cp "$finding" "$regressions/" && echo "fuzz.sh: kept $regressions/$(basename "$finding")" >&2
    done
    failed+=("$name")
  fi
done

if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz.sh: findings in: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz.sh: ${#targets[@]} target(s) clean"
