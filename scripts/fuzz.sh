#!/usr/bin/env bash
# Builds the libFuzzer targets (Fuzz/) with AddressSanitizer and runs each in
# turn, one at a time, growing the corpus in a scratch directory and merging
# what adds coverage into the kept corpus (Fuzz/corpus/<target>/, replayed by
# Tests/FuzzCorpusTests in every `swift test`).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]   # default: 60 s each, every target
#   MA_FUZZ_RUNS=1000000 scripts/fuzz.sh 0 oslo-request   # a number of runs instead of a time
#   MA_FUZZ_FLAGS="..." extra libFuzzer flags, e.g. "-fork=1 -ignore_crashes=1"
#
# Targets: oslo-request, action-input, openstack-errors, config. A crash stops
# that target (unless -ignore_crashes) and leaves its input as
# .build-fuzz/artifacts/<target>/crash-*; the script exits non-zero then.
# Reproduce with: MA_FUZZ_TARGET=<target> .build-fuzz/debug/mistral-actions-fuzz FILE
# or without sanitizers: swift run mistral-actions-fuzz <target> FILE.
#
# The build uses its own scratch path (.build-fuzz), so the normal build and
# tests never see sanitizer flags.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(oslo-request openstack-errors config action-input)

scratch=.build-fuzz
log() { printf '[fuzz] %s\n' "$*" >&2; }

# SwiftPM gives every executable target a main of its own (--defsym main=...),
# which collides with libFuzzer's main under -sanitize=fuzzer. So the code is
# instrumented as -sanitize=fuzzer does (frontend flag) with AddressSanitizer,
# and the binary links libFuzzer's no-main runtime, whose driver its own main
# calls (Fuzz/Entry/FuzzEntry.swift). Build tools (the action discovery
# plugin) get no sanitizer flags.
runtime=$(dirname "$(readlink -f "$(command -v swift)")")/../lib/clang
runtime=$(ls "$runtime"/*/lib/linux/libclang_rt.fuzzer_no_main-x86_64.a | head -1)
build=(swift build --scratch-path "$scratch" --product mistral-actions-fuzz
    -Xswiftc -sanitize=address -Xswiftc -Xfrontend -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING
    -Xlinker --whole-archive -Xlinker "$runtime" -Xlinker --no-whole-archive -Xlinker -lstdc++
    -Xbuild-tools-swiftc -DBUILD_TOOL)
log "building mistral-actions-fuzz (AddressSanitizer, libFuzzer coverage) in $scratch"
"${build[@]}" 2>&1 | { grep -v 'Cannot export local symbol' || true; } >&2
binary=$("${build[@]}" --show-bin-path)/mistral-actions-fuzz

status=0
for target in "${targets[@]}"; do
    kept=Fuzz/corpus/$target
    work=$scratch/corpus/$target
    artifacts=$scratch/artifacts/$target
    mkdir -p "$kept" "$work" "$artifacts"
    limit=(-max_total_time="$seconds")
    if [ -n "${MA_FUZZ_RUNS:-}" ]; then limit=(-runs="$MA_FUZZ_RUNS"); fi
    log "$target: fuzzing (${MA_FUZZ_RUNS:-$seconds s}) from $(ls "$kept" | wc -l) kept inputs"
    started=$(date +%s)
    # shellcheck disable=SC2086
    if ! MA_FUZZ_TARGET=$target ASAN_OPTIONS=detect_leaks=0:handle_abort=1 "$binary" \
        "$work" "$kept" "${limit[@]}" -rss_limit_mb=4096 -timeout=10 -max_len=65536 \
        -artifact_prefix="$artifacts/" -print_final_stats=1 ${MA_FUZZ_FLAGS:-} \
        2>&1 | tee "$scratch/$target.log" | grep -E '^(#[0-9]+ +(DONE|INITED)|==[0-9]+==|stat::|SUMMARY|.*Test unit written)' >&2
    then
        :
    fi
    if grep -q 'Test unit written\|==ERROR\|deadly signal' "$scratch/$target.log"; then
        log "$target: CRASH; see $scratch/$target.log and $artifacts/"
        status=1
    fi
    log "$target: took $(( $(date +%s) - started )) s"
    # Keep what adds coverage (the seeds stay; new inputs get their hash as name).
    MA_FUZZ_TARGET=$target ASAN_OPTIONS=detect_leaks=0 "$binary" -merge=1 -max_len=65536 -timeout=10 \
        -rss_limit_mb=4096 "$kept" "$work" >"$scratch/$target.merge.log" 2>&1 || {
        log "$target: merge failed; see $scratch/$target.merge.log"
        status=1
        continue
    }
    log "$target: kept corpus has $(ls "$kept" | wc -l) files"
done
exit $status
