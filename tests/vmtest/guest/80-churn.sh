#!/bin/sh
# #16.3 thousands of VMs come and go, some closed through a passed fd (the
# last reference dropped in another process), under an enforcing policy.
# Then every kernel per-VM map is back at its baseline, enforcement still
# denies what it must, nothing was refused for want of state, and
# privmemd's memory is reported.
. /vmtest/lib.sh
vt_needs_swprot churn
S=/run/pm.sock
T=/tmp/churn
mkdir -p $T
CHURN=${VMTEST_CHURN:-3000}
cat >$T/pol.yaml <<'Y'
mode: enforce
defaults:
  to_private: {max_request: 1MiB}
  to_shared: {max_request: 1MiB}
Y
privmemd -s $S -c $T/pol.yaml --keep-destroyed 1 --max-destroyed 16 >$T/d.log 2>&1 &
P=$!
vt_wait_for $T/d.log ready 120
grep -q ready $T/d.log || { vt_fail churn_privmemd "$(tail -n 3 $T/d.log)"; exit 1; }

maps="vm_ids vm_kstats vm_rules vm_mem vm_lsm_buckets dead_vms vm_attr"
counts() { # OUT: "name=entries ..." of the kernel's per-VM maps
	privmem -s $S status --json >$T/st.json || return 1
	for m in $maps; do printf '%s=%s ' $m "$(jpath $T/st.json kernel_state.maps.$m.entries)"; done >"$1"
}
rss() { awk '/^VmRSS/ {print $2}' /proc/$P/status; }
counts $T/base
rss0=$(rss)
vt_info "churn: baseline $(cat $T/base), privmemd RSS ${rss0} kB"

t0=$(date +%s)
testvmm --swprot --churn $CHURN --churn-pass-every 7 --json $T/c.json >/dev/null 2>$T/c.err ||
	vt_fail churn_testvmm "$(cat $T/c.err)"
t1=$(date +%s)
vt_eq churn_vms "$(jpath $T/c.json churn.vms)" $CHURN
vt_eq churn_passed "$(jpath $T/c.json churn.passed)" $((CHURN / 7))
vt_eq churn_fd_leak "$(jpath $T/c.json churn.fd_leak)" 0
# each churned VM made one 2 MiB to_private attempt: every one refused, none converted
vt_eq churn_all_denied "$(jpath $T/c.json churn.attempt_errno.EPERM)" $CHURN
vt_eq churn_no_conversion "$(jpath $T/c.json churn.conversions)" 0

same_as_base() { counts $T/now && [ "$(cat $T/now)" = "$(cat $T/base)" ]; }
vt_until 60 churn_maps_back_to_baseline same_as_base
vt_info "churn: $CHURN VMs in $((t1 - t0)) s; maps after $(cat $T/now)"
privmem -s $S status --json >$T/st.json
for f in ids kstats mem lsm_buckets attr dead; do
	vt_eq churn_state_never_full_$f "$(jpath $T/st.json kernel_state.full.$f)" 0
done

# enforcement still holds for a VM made after the churn (a plain VM: a
# SW_PROTECTED one's own setup, 60 MiB made private, is refused by this policy)
testvmm --requests 5 --size 2097152 --dir shared --json $T/after.json >/dev/null 2>$T/after.err ||
	vt_fail churn_after_testvmm "$(cat $T/after.err)"
vt_eq churn_then_enforced "$(jpath $T/after.json attr_errors.EPERM)" 5
# destroyed VMs are kept a bounded time and count, then forgotten (counted)
forgotten() { privmem -s $S status --json >$T/st.json && [ "$(jpath $T/st.json vms)" -le 16 ]; }
vt_until 30 churn_books_bounded forgotten
rss1=$(rss)
vt_info "churn: privmemd RSS ${rss0} kB before, ${rss1} kB after $CHURN VMs; books hold $(jpath $T/st.json vms) VMs"
[ -n "$rss1" ] && [ "$rss1" -lt $((rss0 + 20480)) ] && vt_pass "churn_rss_bounded (${rss0} -> ${rss1} kB)" ||
	vt_fail churn_rss_bounded "${rss0} -> ${rss1} kB"
kill $P; wait $P
