#!/usr/bin/env bash
# Developer entry point: the two commands the README starts with.
#
#   tools/dev.sh run [ARGS...]  build ./build, then run sluiced -c etc/sluice.conf
#   tools/dev.sh test           build and run every test suite; the last line
#                               is "N passed, N failed" (the ASan, TSan and
#                               fuzz trees, the .deb and the package test's
#                               Debian root build at nice 19 while the plain
#                               build's suites run; each tree's recovery
#                               suite runs alongside its integration suite;
#                               the browser tests run in the ASan and TSan
#                               trees only)
#   tools/dev.sh build          configure and build ./build only
#   tools/dev.sh fuzz [SECONDS] build ./build-fuzz (clang, libFuzzer) and run
#                               every fuzz target for SECONDS (default
#                               FUZZ_SECONDS) on a copy of its corpus, as
#                               many targets at a time as there are cores
#
# On a fresh Debian 12 machine it installs the packages it needs first
# (as root; otherwise it prints the apt-get line to run).
#
# Environment: FUZZ_SECONDS per fuzz target (default 30 for fuzz, 10 in
# test, which only checks that every target runs clean); SKIP_ASAN=1,
# SKIP_TSAN=1, SKIP_FUZZ=1 and SKIP_PACKAGE=1 leave those stages out;
# SERIAL_SUITES=1 runs each tree's recovery suite after its integration
# suite; INTEGRATION_WORKERS (default 2) is how many pytest processes
# share each integration suite, file by file (pytest-xdist; 1 = one).
set -uo pipefail

cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
PYTHON=/usr/bin/python3
FUZZ_SECONDS_SET=${FUZZ_SECONDS:-}
FUZZ_SECONDS=${FUZZ_SECONDS:-30}

PACKAGES=(
	meson ninja-build gcc clang pkg-config
	libevent-dev libssl-dev uthash-dev libcjson-dev libcurl4-openssl-dev libwslay-dev etcd-server etcd-client
	librabbitmq-dev amqp-tools
	python3 python3-pika python3-pytest python3-pytest-xdist python3-paho-mqtt
	libmosquitto-dev mosquitto-clients strace iproute2
	libclang-rt-14-dev
	chromium rabbitmq-server prometheus
	nodejs npm
	libsystemd-dev systemd
	dpkg-dev debhelper debootstrap
)

# meson options of the sanitizer and fuzz trees
ASAN_MESON=(-Db_sanitize=address,undefined -Db_lundef=false)
TSAN_MESON=(-Db_sanitize=thread -Db_lundef=false)
FUZZ_MESON=(-Dfuzz=true -Dtests=disabled -Db_lundef=false)

say() { printf '==> %s\n' "$*"; }

ensure_packages() {
	local missing=() p
	for p in "${PACKAGES[@]}"; do
		# NodeSource's nodejs ships npm and conflicts with Debian's npm
		if [ "$p" = npm ] && command -v npm >/dev/null; then
			continue
		fi
		if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
			missing+=("$p")
		fi
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	if [ "$(id -u)" -ne 0 ]; then
		echo "Missing Debian packages. Install them with:" >&2
		echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
		exit 1
	fi
	say "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	# rabbitmq-server is installed for its rabbitmqadmin client only: keep
	# apt from starting a system RabbitMQ listening on every interface.
	local guard=
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
		chmod +x /usr/sbin/policy-rc.d
		guard=1
	fi
	local rc=0
	apt-get update && apt-get install -y "${missing[@]}" || rc=1
	[ -n "$guard" ] && rm -f /usr/sbin/policy-rc.d
	if [ $rc -ne 0 ]; then
		echo "dev.sh: apt-get failed" >&2
		exit 1
	fi
}

# Node packages the integration tests use, pinned by
# tests/integration/node/package-lock.json and installed next to the tests
# (node_modules is not committed): amqplib (a Node AMQP client) and
# playwright-core, which drives Debian's chromium for the UI tests. npm ci
# runs again whenever the lock file is newer than what was installed.
ensure_node_modules() {
	local dir=$ROOT/tests/integration/node
	[ -f "$dir/node_modules/.package-lock.json" ] &&
		[ ! "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ] &&
		return 0
	say "npm ci (tests/integration/node)"
	if ! (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error); then
		echo "dev.sh: npm ci failed; the amqplib and UI tests skip" >&2
		count "npm ci" 0 1
	fi
}

# configure DIR [meson options...]: meson setup only when DIR is not set up.
configure() {
	local dir=$1 log rc
	shift
	[ -f "$dir/build.ninja" ] && return 0
	log=$(mktemp)
	meson setup "$dir" "$@" >"$log" 2>&1
	rc=$?
	[ $rc -ne 0 ] && cat "$log" >&2
	rm -f "$log"
	return $rc
}

# build DIR [meson options...]
build() {
	local dir=$1
	configure "$@" || return 1
	ninja -C "$dir" || return 1
}

# up_to_date DIR TARGET: TARGET builds now. After a keep-going build this
# tells a current binary from a stale one left by an earlier build.
up_to_date() {
	ninja -C "$1" "$2" >/dev/null 2>&1 && [ -x "$1/$2" ]
}

# Background builds. While the plain build's suites run (mostly waiting
# on sockets and clients), the trees (and the .deb) of the later stages
# build at the lowest CPU priority, one after another, so that each
# stage finds its tree built. A stage shows what its background build
# printed, then runs its own ninja as before: a no-op, or the retry that
# shows and counts a failure (a failed .deb build counts at once).
PREBUILD_PID=
PREBUILD_LOG=

# prebuild: start the background builds of the stages that will run.
prebuild() {
	PREBUILD_LOG=$(mktemp -d)
	(
		renice -n 19 -p "$BASHPID" >/dev/null
		if [ "${SKIP_ASAN:-0}" != 1 ]; then
			{ configure build-asan "${ASAN_MESON[@]}" &&
				ninja -C build-asan -k 0; } >"$PREBUILD_LOG/build-asan" 2>&1
			touch "$PREBUILD_LOG/build-asan.done"
		fi
		if [ "${SKIP_TSAN:-0}" != 1 ]; then
			{ configure build-tsan "${TSAN_MESON[@]}" &&
				ninja -C build-tsan; } >"$PREBUILD_LOG/build-tsan" 2>&1
			touch "$PREBUILD_LOG/build-tsan.done"
		fi
		if [ "${SKIP_PACKAGE:-0}" != 1 ]; then
			build_package >"$PREBUILD_LOG/package.deb" 2>"$PREBUILD_LOG/package"
			echo $? >"$PREBUILD_LOG/package.rc"
			# the clean Debian root the package test installs the .deb
			# into (debootstrap: mostly the mirror and the disk), made
			# while the fuzz tree builds; a failure is the test's to report
			(
				[ "$(cat "$PREBUILD_LOG/package.rc")" = 0 ] &&
					"$PYTHON" tests/package/test_deb.py \
						"$(tail -n 1 "$PREBUILD_LOG/package.deb")" \
						>/dev/null 2>>"$PREBUILD_LOG/package"
				touch "$PREBUILD_LOG/package.done"
			) &
		fi
		if [ "${SKIP_FUZZ:-0}" != 1 ] && command -v clang >/dev/null; then
			{ CC=clang configure build-fuzz "${FUZZ_MESON[@]}" &&
				ninja -C build-fuzz -k 0; } >"$PREBUILD_LOG/build-fuzz" 2>&1
			touch "$PREBUILD_LOG/build-fuzz.done"
		fi
		wait
		true
	) &
	PREBUILD_PID=$!
	trap 'prebuild_stop' EXIT
}

# prebuild_wait DIR: wait until the background build of DIR is over (or
# all of them are) and show what it printed.
prebuild_wait() {
	local dir=$1
	[ -n "$PREBUILD_PID" ] || return 0
	while kill -0 "$PREBUILD_PID" 2>/dev/null && [ ! -e "$PREBUILD_LOG/$dir.done" ]; do
		sleep 1
	done
	if [ -s "$PREBUILD_LOG/$dir" ]; then
		say "background build ($dir)"
		cat "$PREBUILD_LOG/$dir"
	fi
}

prebuild_stop() {
	if [ -n "$PREBUILD_PID" ]; then
		pkill -P "$PREBUILD_PID" 2>/dev/null
		kill -- "$PREBUILD_PID" 2>/dev/null
		wait "$PREBUILD_PID" 2>/dev/null
		PREBUILD_PID=
	fi
	[ -n "$PREBUILD_LOG" ] && rm -rf "$PREBUILD_LOG"
}

# test_tree LABEL DIR [meson options...]: build (keeping going past
# failures, which count as one failed test), then run what did build.
test_tree() {
	local label=$1 dir=$2
	shift 2
	prebuild_wait "$dir"
	say "build ($dir)"
	if ! configure "$dir" "$@"; then
		count "build$label" 0 1
		return
	fi
	if ! ninja -C "$dir" -k 0; then
		count "build$label" 0 1
	fi
	# the plain tree is the first: the later stages' trees build meanwhile
	[ "$dir" = build ] && prebuild
	unit_suite "unit$label" "$dir"
	if up_to_date "$dir" daemon/sluiced; then
		tree_suites "$label" "$dir"
	else
		echo "sluiced did not build: integration suite not run" >&2
		count "integration$label" 0 1
		count "recovery$label" 0 1
	fi
}

# tree_suites LABEL DIR: the integration and recovery suites against
# DIR's sluiced. Both mostly wait on sockets, clients, timers and fsync
# (run one after the other on the plain build they kept about a third of
# one core busy), so the recovery suite runs alongside the integration
# suite, its output shown once it is over. SERIAL_SUITES=1 runs it after.
tree_suites() {
	local label=$1 bin=$2/daemon/sluiced
	local -a files=()
	mapfile -t files < <(integration_files "$2")
	if [ "${SERIAL_SUITES:-0}" = 1 ]; then
		shared_suite "integration$label" "$bin" "${files[@]}"
		integration_suite "recovery$label" "$bin" tests/recovery
		return
	fi
	suite_bg recovery "$bin" tests/recovery
	shared_suite "integration$label" "$bin" "${files[@]}"
	suite_bg_wait recovery "recovery$label"
	pytest_count "recovery$label" "${BG_LOG[recovery]}"
}

# shared_suite LABEL SLUICED PATH...: integration_suite with its test
# files shared out among INTEGRATION_WORKERS pytest processes (each file's
# tests stay together, in one process, in order). Each test starts its
# own broker on ports of its own, so files do not see each other; most
# tests wait on sockets and timers, and two processes halve the suite's
# time on two cores.
shared_suite() {
	local n=${INTEGRATION_WORKERS:-2}
	[ "$n" -gt 1 ] && XDIST=(-n "$n" --dist loadfile)
	integration_suite "$@"
	XDIST=()
}

# integration_files DIR: the integration test files of DIR's run. The
# plain tree leaves the browser (headless Chromium) tests to the ASan
# tree when that runs: they drive the management UI, whose pages and
# scripts are the same bytes in every build; the C they reach (HTTP API,
# static files) is the one the ASan run checks, and the plain run
# reaches it through the HTTP tests. Their time is mostly Chromium's.
integration_files() {
	local f
	for f in tests/integration/test_*.py; do
		if [ "$1" = build ] && [ "${SKIP_ASAN:-0}" != 1 ]; then
			case $f in
			tests/integration/test_ui_*.py | tests/integration/test_authz_ui.py) continue ;;
			esac
		fi
		printf '%s\n' "$f"
	done
}

# ------------------------------------------------------------------
# Counting. Each suite adds to TOTAL_PASS / TOTAL_FAIL and prints its line.

TOTAL_PASS=0
TOTAL_FAIL=0
SUMMARY=()

count() {               # count LABEL PASSED FAILED
	TOTAL_PASS=$((TOTAL_PASS + $2))
	TOTAL_FAIL=$((TOTAL_FAIL + $3))
	SUMMARY+=("$(printf '%-22s %d passed, %d failed' "$1:" "$2" "$3")")
	say "$1: $2 passed, $3 failed"
}

# unit_suite LABEL DIR: meson's unit suite, counted from its summary.
unit_suite() {
	local label=$1 dir=$2 log ok fail rc
	log=$(mktemp)
	meson test -C "$dir" --no-rebuild --suite unit --print-errorlogs 2>&1 | tee "$log"
	rc=${PIPESTATUS[0]}
	ok=$(awk '/^Ok:/ {print $2}' "$log")
	fail=$(awk '/^(Fail|Unexpected Pass|Timeout):/ {n += $NF} END {print n + 0}' "$log")
	if [ -z "$ok" ]; then
		ok=0
		# "No suitable tests defined." exits 0: an empty suite.
		[ "$rc" -ne 0 ] && fail=$((fail > 0 ? fail : 1))
	fi
	rm -f "$log"
	count "$label" "$ok" "$fail"
}

# integration_suite LABEL SLUICED [PATH...]: pytest on the PATHs (default
# tests/integration), counted from its last line.
integration_suite() {
	local label=$1 log
	log=$(mktemp)
	pytest_suite "$log" "${@:2}"
	pytest_count "$label" "$log"
}

# pytest_suite LOG SLUICED [PATH...]: pytest on the PATHs (default
# tests/integration) against SLUICED, with the options in XDIST (see
# shared_suite); its output goes to standard output and LOG, its exit
# status to LOG.rc.
XDIST=()
pytest_suite() {
	local log=$1 bin=$2
	shift 2
	[ $# -eq 0 ] && set -- tests/integration
	SLUICED=$ROOT/$bin timeout -k 10 1800 \
		"$PYTHON" -m pytest -q -p no:cacheprovider --durations=15 "${XDIST[@]}" "$@" 2>&1 | tee "$log"
	echo "${PIPESTATUS[0]}" >"$log.rc"
}

# pytest_count LABEL LOG...: count the pytest runs whose outputs are the
# LOGs (each with its LOG.rc) as one suite.
pytest_count() {
	local label=$1 log rc p f line passed=0 failed=0
	shift
	for log in "$@"; do
		rc=$(cat "$log.rc" 2>/dev/null || echo 1)
		# e.g. "3 failed, 40 passed, 2 skipped, 1 error in 12.3s"
		line=$(grep -E '[0-9]+ (passed|failed|errors?|xpassed|xfailed|skipped)|no tests ran' "$log" | tail -n 1)
		p=$(grep -oE '[0-9]+ (passed|xfailed)' <<<"$line" | awk '{n += $1} END {print n + 0}')
		f=$(grep -oE '[0-9]+ (failed|errors?|xpassed)' <<<"$line" | awk '{n += $1} END {print n + 0}')
		rm -f "$log" "$log.rc"
		# 5 = no tests collected; anything else unexplained by the counts
		# (interrupted, internal error, timeout) is one failure.
		if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ] && [ "$f" -eq 0 ]; then
			echo "pytest exited with status $rc" >&2
			f=1
		fi
		passed=$((passed + p))
		failed=$((failed + f))
	done
	count "$label" "$passed" "$failed"
}

# Suites alongside another, by key: suite_bg KEY SLUICED [PATH...] starts
# pytest_suite in the background, its output to BG_LOG[KEY] only;
# suite_bg_wait KEY TITLE waits for it and shows that output under TITLE
# (pytest_count then counts it).
declare -A BG_PID=() BG_LOG=()

suite_bg() {
	local key=$1
	BG_LOG[$key]=$(mktemp)
	pytest_suite "${BG_LOG[$key]}" "${@:2}" >/dev/null &
	BG_PID[$key]=$!
}

suite_bg_wait() {
	wait "${BG_PID[$1]}"
	say "$2 (ran alongside)"
	cat "${BG_LOG[$1]}"
}

# fuzz_suite DIR: every fuzz_* executable, FUZZ_SECONDS each, on a copy of
# its seed corpus (fuzzers add files to the corpus they are given). A
# target is one process on one core for a fixed wall-clock time: they run
# $(nproc) at a time, and report in name order.
fuzz_suite() {
	local dir=$1 passed=0 failed=0 t name work i n
	local -a targets=() netns=()
	work=$ROOT/tests/fuzz/corpus-run
	rm -rf "$work"
	mkdir -p "$work"
	# The network targets open and close thousands of loopback connections
	# a second; in a network namespace of their own, the sockets they leave
	# in TIME_WAIT cannot take the ports of anything else on the machine.
	if unshare -n sh -c 'ip link set lo up' 2>/dev/null; then
		netns=(unshare -n sh -c 'ip link set lo up && exec "$0" "$@"')
	fi
	while IFS= read -r t; do
		name=$(basename "$t")
		if ! up_to_date "$dir" "tests/fuzz/$name"; then
			echo "$name did not build" >&2
			failed=$((failed + 1))
			continue
		fi
		targets+=("$t")
	done < <(find "$ROOT/$dir/tests/fuzz" -maxdepth 1 -type f -name 'fuzz_*' -perm -u+x 2>/dev/null | sort)
	n=$(nproc 2>/dev/null || echo 1)
	for ((i = 0; i < ${#targets[@]}; i += n)); do
		for t in "${targets[@]:i:n}"; do
			fuzz_one "$t" "$work" &
		done
		wait
		for t in "${targets[@]:i:n}"; do
			name=$(basename "$t")
			name=${name#fuzz_}
			say "fuzz $name for ${FUZZ_SECONDS}s"
			if [ "$(cat "$work/$name.rc" 2>/dev/null)" = 0 ]; then
				passed=$((passed + 1))
				tail -n 3 "$work/$name.log"
			else
				failed=$((failed + 1))
				tail -n 40 "$work/$name.log"
			fi
		done
	done
	count "fuzz" "$passed" "$failed"
}

# fuzz_one TARGET WORK: run one fuzz target (in its own network namespace
# when netns is set) for FUZZ_SECONDS on WORK/NAME, a copy of its seeds;
# its output goes to WORK/NAME.log, its exit status to WORK/NAME.rc.
fuzz_one() {
	local t=$1 work=$2 name seeds
	name=$(basename "$t")
	name=${name#fuzz_}
	seeds=$ROOT/tests/fuzz/corpus/$name
	mkdir -p "$work/$name"
	[ -d "$seeds" ] && cp -r "$seeds/." "$work/$name/"
	(cd "$work" && "${netns[@]}" "$t" -max_total_time="$FUZZ_SECONDS" -timeout=30 \
		-rss_limit_mb=2048 -print_final_stats=1 "$work/$name") >"$work/$name.log" 2>&1
	echo $? >"$work/$name.rc"
}

# package_suite: build the .deb (tools/package.sh), then install it into
# a clean Debian 12 root and run the broker from it (tests/package).
package_suite() {
	local deb rc
	prebuild_wait package
	say "package (tools/package.sh)"
	if [ -n "$PREBUILD_LOG" ] && [ -e "$PREBUILD_LOG/package.rc" ]; then
		rc=$(cat "$PREBUILD_LOG/package.rc")
		deb=$(tail -n 1 "$PREBUILD_LOG/package.deb")
	else
		deb=$(build_package | tail -n 1)
		rc=${PIPESTATUS[0]}
	fi
	if [ "$rc" -ne 0 ] || [ -z "$deb" ]; then
		count "package" 0 1
		return
	fi
	SLUICE_DEB=$deb integration_suite "package" build/daemon/sluiced tests/package
}

# build_package: tools/package.sh into build/package; the .deb's path is
# the last line it prints.
build_package() {
	DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" tools/package.sh build/package
}

# tsan_suite: build ./build-tsan and run the unit tests, then every
# integration and recovery test with two I/O threads, so every connection
# crosses threads (the recovery suite drives the journal's threads, the
# spare's and the cluster's workers).
tsan_suite() {
	prebuild_wait build-tsan
	say "build (build-tsan)"
	if ! build build-tsan "${TSAN_MESON[@]}"; then
		count "build (tsan)" 0 1
		return
	fi
	export TSAN_OPTIONS="halt_on_error=1 second_deadlock_stack=1"
	unit_suite "unit (tsan)" build-tsan
	SLUICE_IO_THREADS=2 tree_suites " (tsan)" build-tsan
	unset TSAN_OPTIONS
}

cmd_test() {
	# The plain build runs everything with sockets on the core thread
	# (broker.io_threads = 0); the ASan build with the default I/O threads.
	SLUICE_IO_THREADS=0 test_tree "" build

	if [ "${SKIP_ASAN:-0}" != 1 ]; then
		export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
		export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
		test_tree " (asan)" build-asan "${ASAN_MESON[@]}"
		unset ASAN_OPTIONS UBSAN_OPTIONS
	fi

	if [ "${SKIP_TSAN:-0}" != 1 ]; then
		tsan_suite
	fi

	if [ "${SKIP_PACKAGE:-0}" != 1 ]; then
		package_suite
	fi

	if [ "${SKIP_FUZZ:-0}" != 1 ] && command -v clang >/dev/null; then
		if fuzz_build; then
			FUZZ_SECONDS=${FUZZ_SECONDS_SET:-10} fuzz_suite build-fuzz
		else
			count "build (fuzz)" 0 1
		fi
	fi

	echo
	printf '%s\n' "${SUMMARY[@]}"
	echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
	[ "$TOTAL_FAIL" -eq 0 ]
}

# fuzz_build: configure and build ./build-fuzz; false if it cannot.
fuzz_build() {
	say "build (build-fuzz, clang, libFuzzer)"
	if ! command -v clang >/dev/null; then
		echo "clang is needed for the fuzz targets" >&2
		return 1
	fi
	prebuild_wait build-fuzz
	CC=clang configure build-fuzz "${FUZZ_MESON[@]}" &&
		ninja -C build-fuzz -k 0
}

cmd_fuzz() {
	FUZZ_SECONDS=${1:-$FUZZ_SECONDS}
	if ! fuzz_build; then
		count "build (fuzz)" 0 1
	else
		fuzz_suite build-fuzz
	fi
	echo
	printf '%s\n' "${SUMMARY[@]}"
	echo "$TOTAL_PASS passed, $TOTAL_FAIL failed"
	[ "$TOTAL_FAIL" -eq 0 ]
}

cmd_run() {
	build build || exit 1
	exec build/daemon/sluiced -c etc/sluice.conf "$@"
}

case "${1:-}" in
run)
	shift
	ensure_packages
	cmd_run "$@"
	;;
test)
	ensure_packages
	ensure_node_modules
	cmd_test
	;;
build)
	ensure_packages
	build build
	;;
fuzz)
	ensure_packages
	cmd_fuzz "${2:-}"
	;;
*)
	echo "usage: tools/dev.sh run [SLUICED ARGS...] | test | build | fuzz [SECONDS]" >&2
	exit 2
	;;
esac
