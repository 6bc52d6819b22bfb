#!/bin/sh
# make bench, in the QEMU bed (TCG emulation: absolute numbers are slow;
# the ratios, taken in the same run with alternating rounds, are the point).
# Prints "VMTEST: INFO BENCH <name> <value>" lines for tests/bench/run.sh.
. /vmtest/lib.sh
S=/run/pmb.sock
T=/tmp/bench
ROUNDS=${BENCH_ROUNDS:-3}
mkdir -p $T
cat >$T/enforce.yaml <<'Y'
mode: enforce
defaults:
  to_shared: {max_request: 1GiB}
  to_private: {max_request: 1GiB}
Y
P=
on() { # [policy]
	if [ -n "$1" ]; then privmemd -s $S -c "$1" >$T/d.log 2>&1 & else privmemd -s $S >$T/d.log 2>&1 & fi
	P=$!
	vt_wait_for $T/d.log ready 120 || vt_fail bench_privmemd "not ready in 120 s: $(tail -n 3 $T/d.log)"
}
off() { [ -n "$P" ] && kill $P && wait $P 2>/dev/null; P=; rm -rf /sys/fs/bpf/privmem; }
# one measurement: ns for the workload
exits() { testvmm --swprot --requests 0 --exits 5000 --json $T/x.json >/dev/null 2>&1; jpath $T/x.json exit_loop.ns; }
convs() { testvmm --swprot --requests 500 --size 4096 --json $T/c.json >/dev/null 2>&1; jpath $T/c.json run_ns; }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

for w in exits convs; do
	: >$T/$w.bare; : >$T/$w.obs; : >$T/$w.enf
	r=0
	while [ $r -lt "$ROUNDS" ]; do
		$w >>$T/$w.bare
		on; $w >>$T/$w.obs; off
		on $T/enforce.yaml; $w >>$T/$w.enf; off
		r=$((r + 1))
	done
	b=$(median <$T/$w.bare); o=$(median <$T/$w.obs); e=$(median <$T/$w.enf)
	vt_info "BENCH ${w}_bare_ns $b"
	vt_info "BENCH ${w}_privmemd_ns $o"
	vt_info "BENCH ${w}_enforce_ns $e"
	vt_info "BENCH ${w}_privmemd_ratio $(awk -v b=$b -v a=$o 'BEGIN {printf "%.3f", b / a}')"
	vt_info "BENCH ${w}_enforce_ratio $(awk -v b=$b -v a=$e 'BEGIN {printf "%.3f", b / a}')"
done
vt_pass bench_ran
