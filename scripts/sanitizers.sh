#!/usr/bin/env bash
# Builds the tests with AddressSanitizer and/or ThreadSanitizer and runs the
# unit suite under each (issue 10). Each sanitizer has its own scratch path
# (.build-asan, .build-tsan), so the normal .build never sees sanitizer flags
# and a normal `swift build` is not blocked by this one. The two builds run
# one after the other. Prints how long each build and run took; exits non-zero
# if any build or run fails (a sanitizer report fails the run).
#
#   scripts/sanitizers.sh [address|thread|all] [--parallel] [--integration] [-- SWIFT_TEST_ARGS...]
#
#   address        ASan with LeakSanitizer (suppressions: scripts/lsan-suppressions.txt)
#   thread         TSan (suppressions: scripts/tsan-suppressions.txt)
#   all (default)  both, address first
#   --parallel     run the tests in parallel (swift test's default) instead of
#                  one at a time: see "one at a time" below
#   --integration  after the unit run, also run the integration suites
#                  (RabbitMQ, PostgreSQL, real oslo.messaging peers) under the
#                  same sanitizer; needs the servers and their env:
#                  eval "$(scripts/local-services.sh env)"; eval "$(scripts/mistral.sh env)"
#                  export MA_VENV=$(scripts/python-env.sh)
#                  (the end-to-end suites, which drive whole worker processes
#                  through a real Mistral, are not run: see README)
#
# The unit suite is every test that needs no server: the whole package minus
# the suites listed in `server_suites` below (they connect to the loopback
# servers by default, so they are skipped rather than left to fail). In-process
# HTTP servers and the in-process OpenStack simulator count as unit tests. The
# unit run unsets the servers' MA_TEST_* variables.
#
# One at a time: the tests run with --no-parallel by default. In parallel, all
# tests start at once on the Swift concurrency pool (one thread per core);
# on a 2-core machine, the CPU-heavy tests, slowed down several times by the
# sanitizer, starve the tests that wait on a wall-clock deadline (a process
# to start, a 0.2 s action timeout) and those fail. Concurrency inside a test
# (NIO servers, task groups, process pipes) is checked either way; --parallel
# adds what tests share (process-wide state, the logging system), and more
# contention on locks, where TSan has a blind spot: a contended
# Synchronization.Mutex hands over in libswiftSynchronization's
# _lockSlow/_unlockSlow (a futex, not instrumented), so TSan may report two
# accesses that are both inside withLock of the same Mutex as a race. Check
# that before calling a report a bug (see scripts/tsan-suppressions.txt).
#
# Logs: .build-asan/sanitizers-address-*.log, .build-tsan/sanitizers-thread-*.log
set -uo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

log() { printf '[sanitizers] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 2; }

which=all
integration=0
parallel=0
extra=()
while [ $# -gt 0 ]; do
    case $1 in
        address|thread|all) which=$1 ;;
        --integration) integration=1 ;;
        --parallel) parallel=1 ;;
        --) shift; extra=("$@"); break ;;
        -h|--help) sed -n '2,45p' "$0"; exit 0 ;;
        *) die "unknown argument: $1 (usage: $0 [address|thread|all] [--parallel] [--integration] [-- swift test args])" ;;
    esac
    shift
done
if [ "$integration" = 1 ] && [ -z "${MA_TEST_AMQP_URL:-}" ]; then
    die "--integration needs the servers' env: eval \"\$(scripts/local-services.sh env)\" (and scripts/mistral.sh env for ActionSyncTests)"
fi
case $which in
    all) sanitizers=(address thread) ;;
    *) sanitizers=("$which") ;;
esac

# Suites that need RabbitMQ, PostgreSQL, the Python peers or a real Mistral
# (swift test --skip regular expressions, matched against Module.Suite/test).
server_suites=(
    'EndToEndTests\.'
    'ActionSyncTests\.'
    'AMQPClientTests\.(BrokerTests|ConnectionSecurityTests|ConnectionRecoveryTests|BrokerRestartTests)\b'
    'OsloMessagingTests\.(DeclarationTests|PythonToSwiftTests|RPCServerAPITests|SwiftToPythonTests)\b'
    'PostgresClientTests\.(AdvisoryLockTests|ConcurrencyTests|ConnectionTests|ReconnectTests|RoundTripTests|TransactionTests)\b'
)
# Not run under a sanitizer at all: the codec throughput floor (a timing
# assertion; the sanitizers slow the code down several times by design).
always_skipped=('OsloMessagingTests\.ThroughputTests\b')

# Runtime options. ASan: leaks are checked at exit; the suppressions file
# lists only allocations inside Foundation and XCTest (MA_ASAN_DETECT_LEAKS=0
# turns leak checking off). TSan: halt_on_error=0 so one run shows every
# report; the suppressions file lists only code that is not ours. Settings
# already in ASAN_OPTIONS / TSAN_OPTIONS / LSAN_OPTIONS come last and win.
asan_options="detect_leaks=${MA_ASAN_DETECT_LEAKS:-1}:abort_on_error=0:halt_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:print_summary=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
lsan_options="suppressions=$root/scripts/lsan-suppressions.txt:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
tsan_options="halt_on_error=0:second_deadlock_stack=1:history_size=4:suppressions=$root/scripts/tsan-suppressions.txt:print_suppressions=0${TSAN_OPTIONS:+:$TSAN_OPTIONS}"

serial=(--no-parallel)
[ "$parallel" = 1 ] && serial=()

elapsed() { local s=$1; printf '%dm%02ds' $((s / 60)) $((s % 60)); }
summary=()
status=0

# Runs `swift test` under a sanitizer into a log; prints the closing summary
# and counts the sanitizer reports. $1 sanitizer, $2 scratch, $3 label (the
# unit run sees none of the servers' MA_TEST_* settings), then swift test
# arguments.
run_tests() {
    local sanitizer=$1 scratch=$2 label=$3; shift 3
    local logfile=$scratch/sanitizers-$sanitizer-$label.log
    local start rc unset_servers=() variable
    if [ "$label" = unit ]; then
        for variable in $(compgen -e | grep -E '^MA_TEST_'); do unset_servers+=(-u "$variable"); done
    fi
    start=$(date +%s)
    log "$sanitizer: running the $label suite (log: $logfile)"
    env "${unset_servers[@]}" ASAN_OPTIONS="$asan_options" LSAN_OPTIONS="$lsan_options" TSAN_OPTIONS="$tsan_options" \
        swift test --skip-build --scratch-path "$scratch" --sanitize="$sanitizer" "${serial[@]}" "$@" >"$logfile" 2>&1
    rc=$?
    local took=$(( $(date +%s) - start ))
    local result reports
    # swift-testing's closing line (XCTest's "Executed 0 tests" only when it has none).
    result=$(grep -aE 'Test run with [0-9]+ tests?' "$logfile" | tail -1)
    [ -n "$result" ] || result=$(grep -aE 'Executed [0-9]+ tests?' "$logfile" | tail -1 | sed 's/^[[:space:]]*//')
    reports=$(grep -acE '^(WARNING: ThreadSanitizer|==[0-9]+==ERROR: (Address|Leak)Sanitizer)' "$logfile")
    log "$sanitizer: $label run took $(elapsed "$took"), exit $rc, $reports sanitizer report(s): ${result:-no summary line}"
    if [ "$reports" -gt 0 ]; then
        grep -aE '^(WARNING: ThreadSanitizer|==[0-9]+==ERROR|SUMMARY: )' "$logfile" | sort | uniq -c | sort -rn | head -20 >&2
    fi
    summary+=("$sanitizer $label run: $(elapsed "$took"), exit $rc, $reports report(s); ${result:-no summary line}")
    [ "$rc" = 0 ] && [ "$reports" = 0 ] || status=1
}

for sanitizer in "${sanitizers[@]}"; do
    case $sanitizer in
        address) scratch=.build-asan ;;
        thread) scratch=.build-tsan ;;
    esac
    mkdir -p "$scratch"
    buildlog=$scratch/sanitizers-$sanitizer-build.log
    log "$sanitizer: building the tests in $scratch (log: $buildlog)"
    start=$(date +%s)
    swift build --build-tests --scratch-path "$scratch" --sanitize="$sanitizer" >"$buildlog" 2>&1
    rc=$?
    took=$(( $(date +%s) - start ))
    log "$sanitizer: build took $(elapsed "$took"), exit $rc"
    summary+=("$sanitizer build: $(elapsed "$took"), exit $rc")
    if [ "$rc" != 0 ]; then
        tail -30 "$buildlog" >&2
        status=1
        continue
    fi

    skips=()
    for pattern in "${server_suites[@]}" "${always_skipped[@]}"; do skips+=(--skip "$pattern"); done
    run_tests "$sanitizer" "$scratch" unit "${skips[@]}" "${extra[@]}"

    if [ "$integration" = 1 ]; then
        filters=()
        for pattern in "${server_suites[@]}"; do
            case $pattern in EndToEndTests*) continue ;; esac
            filters+=(--filter "$pattern")
        done
        run_tests "$sanitizer" "$scratch" integration "${filters[@]}" --skip 'EndToEndTests\.' "${extra[@]}"
    fi
done

log "summary:"
for line in "${summary[@]}"; do log "  $line"; done
exit $status
