#!/bin/bash
# make tracetest: the trace format's tests and every documented corruption
# case, through binaries built with ASan+UBSan (build/asan/). No kernel, no
# root. Checks the warning or error text and the exit status that
# privmem-trace(5) and privmem(8) document.
set -u
cd "$(dirname "$0")/../.."
. tests/lib.sh
CLI=$B/asan/privmem
lib_tmp tracetest
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:exitcode=99
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1:exitcode=99

# expect NAME RC STDERR_REGEX -- CMD...: exit status and one stderr line matching
expect() {
	local name=$1 rc=$2 re=$3 got
	shift 4
	"$@" >"$T/out" 2>"$T/err"
	got=$?
	if [ "$got" != "$rc" ]; then
		bad "$name: exit $got, want $rc: $(head -c 600 "$T/err")"
	elif [ -n "$re" ] && ! grep -qE -- "$re" "$T/err"; then
		bad "$name: stderr lacks /$re/: $(head -c 600 "$T/err")"
	elif grep -qE 'Sanitizer|runtime error' "$T/err"; then
		bad "$name: sanitizer report: $(grep -m3 -E 'Sanitizer|runtime error' "$T/err")"
	else
		ok "$name"
	fi
}

jnum() { jv "$2" ".$1"; }

# 1. the format's unit tests under ASan+UBSan (cmocka's tally folded into ours)
"$B/asan/test_trace" >"$T/unit" 2>&1
rc=$?
sed 's/^/  [asan test_trace] /; s/\[  PASSED  \]/passed:/; s/\[  FAILED  \]/failed:/' "$T/unit" | grep -vE '^\s*\[asan test_trace\] \[ (RUN|      OK) ' | tail -n 12
if [ $rc = 0 ] && ! grep -qE 'Sanitizer|runtime error' "$T/unit"; then ok "test_trace under ASan+UBSan"; else bad "test_trace under ASan+UBSan (rc=$rc)"; fi

# 2. a clean synthetic trace: 5 chunks of 10000 events
"$B/tracegen" -o "$T/good.pmtrace" -n 50000 -c 10000 -v 2 >"$T/chunks" || bad "tracegen"
mapfile -t OFF < <(awk '{print $2}' "$T/chunks")
[ "${#OFF[@]}" = 5 ] && ok "tracegen: 5 chunks" || bad "tracegen: ${#OFF[@]} chunks"
expect "clean trace: exit 0, no warning" 0 '' -- "$CLI" replay "$T/good.pmtrace"
[ ! -s "$T/err" ] && ok "clean trace: stderr empty" || bad "clean trace: stderr: $(cat "$T/err")"
"$CLI" replay "$T/good.pmtrace" --json >"$T/good.json" 2>/dev/null
[ "$(jnum events "$T/good.json")" = 50000 ] && ok "clean trace: 50000 events" || bad "clean trace: $(jnum events "$T/good.json") events"

# 3. a flipped byte in a middle chunk: skipped with its offset, the rest read, exit 3
cp "$T/good.pmtrace" "$T/flip.pmtrace"
pos=$((OFF[2] + 36 + 200))
printf '\xa5' | dd of="$T/flip.pmtrace" bs=1 seek=$pos conv=notrunc status=none
expect "bad CRC chunk: exit 3, offset named" 3 "^privmem: warning: .*flip.pmtrace: offset ${OFF[2]}: bad chunk \(CRC mismatch\), [0-9]+ bytes skipped$" -- "$CLI" replay "$T/flip.pmtrace"
[ "$(wc -l <"$T/err")" = 1 ] && ok "bad CRC chunk: one warning line" || bad "bad CRC chunk: $(wc -l <"$T/err") lines"
"$CLI" replay "$T/flip.pmtrace" --json >"$T/flip.json" 2>/dev/null
[ "$(jnum events "$T/flip.json")" = 40000 ] && ok "bad CRC chunk: the other 40000 events read" || bad "bad CRC chunk: $(jnum events "$T/flip.json") events"
eq "bad CRC chunk: trace.bad_chunks" "$(jv "$T/flip.json" .trace.bad_chunks)" 1

# 4. a truncated tail (a crash mid-write)
head -c $((OFF[4] + 100)) "$T/good.pmtrace" >"$T/trunc.pmtrace"
expect "truncated tail: exit 3" 3 "offset ${OFF[4]}: truncated chunk at end of file, 100 bytes skipped$" -- "$CLI" replay "$T/trunc.pmtrace"
"$CLI" replay "$T/trunc.pmtrace" --json >"$T/trunc.json" 2>/dev/null
[ "$(jnum events "$T/trunc.json")" = 40000 ] && ok "truncated tail: 40000 events read" || bad "truncated tail: $(jnum events "$T/trunc.json")"

# 5. header damage, empty files, noise, another version: errors, exit 1
cp "$T/good.pmtrace" "$T/zero.pmtrace"
dd if=/dev/zero of="$T/zero.pmtrace" bs=1 count=64 conv=notrunc status=none
expect "zeroed header: exit 1" 1 '^privmem: .*zero.pmtrace: not a privmem trace \(bad magic at offset 0\)$' -- "$CLI" replay "$T/zero.pmtrace"
: >"$T/empty.pmtrace"
expect "empty file: exit 1" 1 '^privmem: .*empty.pmtrace: empty file: no trace header$' -- "$CLI" replay "$T/empty.pmtrace"
head -c 65536 /dev/urandom >"$T/noise.pmtrace"
expect "random bytes: exit 1" 1 'not a privmem trace \(bad magic at offset 0\)$' -- "$CLI" replay "$T/noise.pmtrace"
cp "$T/good.pmtrace" "$T/v2.pmtrace"
printf '\x02' | dd of="$T/v2.pmtrace" bs=1 seek=8 conv=notrunc status=none
expect "version 2: exit 1" 1 'trace format version 2\.[0-9]+ is not supported: this privmem reads version 1\.x$' -- "$CLI" replay "$T/v2.pmtrace"
cp "$T/good.pmtrace" "$T/hdr.pmtrace"
printf 'X' | dd of="$T/hdr.pmtrace" bs=1 seek=30 conv=notrunc status=none
expect "header CRC: exit 1" 1 'corrupt header \(CRC mismatch\)$' -- "$CLI" replay "$T/hdr.pmtrace"
head -c 10 "$T/good.pmtrace" >"$T/short.pmtrace"
expect "10-byte file: exit 1" 1 'truncated header' -- "$CLI" replay "$T/short.pmtrace"
expect "missing file: exit 1" 1 'No such file or directory$' -- "$CLI" replay "$T/nosuch.pmtrace"
expect "JSON error on stdout" 1 '' -- "$CLI" -j replay "$T/zero.pmtrace"
[ "$(jv "$T/out" '.error | test("bad magic")')" = true ] && ok "errors are JSON with -j" || bad "JSON error: $(cat "$T/out")"

# 6. noise everywhere after the header: never a crash, the rest read
for i in 1 2 3 4 5 6; do
	cp "$T/good.pmtrace" "$T/noisy.pmtrace"
	size=$(stat -c %s "$T/noisy.pmtrace")
	pos=$(( (RANDOM * 32768 + RANDOM) % (size - OFF[0]) + OFF[0] ))
	head -c $((1 + RANDOM % 3000)) /dev/urandom | dd of="$T/noisy.pmtrace" bs=1 seek=$pos conv=notrunc status=none
	"$CLI" replay "$T/noisy.pmtrace" --json >/dev/null 2>"$T/err"
	rc=$?
	if { [ $rc = 0 ] || [ $rc = 3 ]; } && ! grep -qE 'Sanitizer|runtime error' "$T/err"; then
		ok "noise at $pos: exit $rc"
	else
		bad "noise at $pos: exit $rc $(head -c 300 "$T/err")"
	fi
done

# 7. a directory: files in name order; a broken one is skipped with a warning, exit 3
mkdir "$T/dir"
"$B/tracegen" -o "$T/dir/privmem-20260101T000000Z-000001.pmtrace" -n 1000 -s 1 >/dev/null
"$B/tracegen" -o "$T/dir/privmem-20260101T000001Z-000002.pmtrace" -n 1000 -s 2 >/dev/null
expect "directory: exit 0" 0 '' -- "$CLI" replay "$T/dir" --json
[ "$(jnum events "$T/out")" = 2000 ] && ok "directory: both files read" || bad "directory: $(jnum events "$T/out")"
cp "$T/zero.pmtrace" "$T/dir/privmem-20260101T000002Z-000003.pmtrace"
expect "directory with a broken file: exit 3" 3 'privmem-20260101T000002Z-000003.pmtrace: not a privmem trace .*; file skipped$' -- "$CLI" replay "$T/dir" --json
mkdir "$T/nodir"
expect "directory without traces: exit 1" 1 'no \*\.pmtrace files' -- "$CLI" replay "$T/nodir"

# 8. windows: two halves add up to the whole; relative and wall-clock times
"$CLI" replay "$T/good.pmtrace" --to 400000000ns --json >"$T/w1.json" 2>/dev/null; r1=$?
"$CLI" replay "$T/good.pmtrace" --from 400000001ns --json >"$T/w2.json" 2>/dev/null; r2=$?
a=$(jnum events "$T/w1.json"); b=$(jnum events "$T/w2.json")
[ $r1 = 0 ] && [ $r2 = 0 ] && [ $((a + b)) = 50000 ] && [ "$a" -gt 0 ] && [ "$b" -gt 0 ] && ok "window halves: $a + $b events" || bad "window halves: rc $r1/$r2, $a + $b"
att() { jv "$1" '[.vms[].to_shared.attempts] | add'; }
a1=$(att "$T/w1.json") a2=$(att "$T/w2.json")
eq "window halves: to_shared attempts add up" "$([ -n "$a1" ] && [ -n "$a2" ] && echo $((a1 + a2)))" "$(att "$T/good.json")"
"$CLI" replay "$T/good.pmtrace" --from -200ms --json >"$T/w3.json" 2>/dev/null
last=$(jv "$T/good.json" .trace.last_ts); first3=$(jv "$T/w3.json" .trace.first_ts)
[ -n "$first3" ] && [ -n "$last" ] && [ $((last - first3)) -le 200000000 ] && [ "$(jnum events "$T/w3.json")" -lt 25000 ] && ok "--from -200ms: the last 200 ms" || bad "--from -200ms: $first3 vs $last"
w=$(jv "$T/good.json" .trace.first_wall)
"$CLI" replay "$T/good.pmtrace" --from "$w" --json >"$T/w4.json" 2>/dev/null
[ "$(jnum events "$T/w4.json")" -ge 49990 ] && ok "--from wall clock ($w)" || bad "--from wall clock: $(jnum events "$T/w4.json")"
vm=$(jv "$T/good.json" '.vms[0].id')
"$CLI" replay "$T/good.pmtrace" --vm "${vm:0:6}" --json >"$T/w5.json" 2>/dev/null
[ -n "$vm" ] && [ "$(jv "$T/w5.json" '.vms | length')" = 1 ] && [ "$(jv "$T/w5.json" '.vms[0].id')" = "$vm" ] &&
	ok "--vm prefix selects one VM" || bad "--vm prefix: $(jv "$T/w5.json" '[.vms[].id]')"
[ "$(jv "$T/w5.json" ".timeline | .bucket_ns == 1000000000 and (.vms | length) == 1 and .vms[0].id == \"$vm\" and .vms[0].buckets[0].ts > 0")" = true ] &&
	ok "timeline of the VM" || bad "timeline: $(jv "$T/w5.json" .timeline | head -c 200)"

# 9. usage errors: exit 2
expect "no file: exit 2" 2 'a trace file is required' -- "$CLI" replay
expect "bad --from: exit 2" 2 "--from 'soon': not a time" -- "$CLI" replay "$T/good.pmtrace" --from soon
expect "empty --vm: exit 2" 2 "--vm '': give a VM name" -- "$CLI" replay "$T/good.pmtrace" --vm ''
expect "--vm no name in the trace: exit 1" 1 'no VM in the trace matches --vm xyz' -- "$CLI" replay "$T/good.pmtrace" --vm xyz
expect "unknown --vm: exit 1" 1 'no VM in the trace matches --vm 0000dead' -- "$CLI" replay "$T/good.pmtrace" --vm 0000dead
expect "from after to: exit 2" 2 '--from is after --to' -- "$CLI" replay "$T/good.pmtrace" --from 10s --to 5s
expect "export without --format: exit 2" 2 '--format chrome is required' -- "$CLI" export "$T/good.pmtrace"
expect "export --format svg: exit 2" 2 '--format svg: unknown' -- "$CLI" export "$T/good.pmtrace" --format svg

# 10. export: valid trace-event JSON, also from a damaged file (exit 3)
expect "export: exit 0" 0 '' -- "$CLI" export "$T/good.pmtrace" --format chrome -o "$T/good.chrome.json"
"$B/chromecheck" "$T/good.chrome.json" 2>&1 | sed 's/^/  /'
[ "${PIPESTATUS[0]}" = 0 ] && ok "export: chromecheck" || bad "export: chromecheck"
expect "export of a damaged file: exit 3" 3 'bad chunk \(CRC mismatch\)' -- "$CLI" export "$T/flip.pmtrace" --format chrome -o "$T/flip.chrome.json"
"$B/chromecheck" "$T/flip.chrome.json" >/dev/null 2>&1 && ok "export of a damaged file: still valid JSON" || bad "export of damaged: chromecheck"

# 11. hostile files (tests/fuzz/regress): a replay books at most 16384 VMs and says so;
# fake chunk headers and receding times cost linear time
R=tests/fuzz/regress/fuzz_trace
expect "200000 VMs: 16384 booked, exit 3" 3 'more than 16384 VMs: 183616 events' -- "$CLI" replay "$R/oom-many-vms" --json
[ "$(jnum events "$T/out")" = 16384 ] && ok "200000 VMs: events 16384" || bad "200000 VMs: events $(jnum events "$T/out")"
expect "4 MiB of fake chunk headers: exit 3" 3 'bad chunk' -- timeout 10 "$CLI" replay "$R/slow-fake-chunk-headers"
expect "60000 receding seconds: exit 0" 0 '' -- timeout 10 "$CLI" replay "$R/slow-receding-time" --json

finish
