#!/bin/sh
# testvmm --vm-type 1 on the bed's SW_PROTECTED_VM-enabled KVM: real
# MAP_GPA_RANGE hypercall exits, real private-memory faults, real
# conversions; its own ground truth must add up (tests/vmm/README.md).
. /vmtest/lib.sh
vt_needs_swprot testvmm_swprot
T=/tmp/swp
mkdir -p $T
command -v testvmm >/dev/null || { vt_skip testvmm_swprot "no testvmm in the guest (make static)"; exit 0; }
command -v jpath >/dev/null || { vt_skip testvmm_swprot "no jpath in the guest (make static)"; exit 0; }

# eq NAME GOT WANT
eq() { if [ "$2" = "$3" ]; then vt_pass "$1"; else vt_fail "$1" "got '$2', want '$3'"; fi; }
j() { jpath "$T/$1.json" "$2"; }

testvmm --vm-type 1 --seed 1 --requests 37 --faults 5 --json $T/a.json >/dev/null 2>$T/a.err
rc=$?
if [ $rc -ne 0 ] || [ ! -s $T/a.json ]; then
	vt_fail swprot_runs "exit $rc: $(tail -n 3 $T/a.err)"
	exit 1
fi
vt_pass swprot_runs
vt_info "$(grep 'requests/s' $T/a.err)"

eq swprot_hypercalls "$(j a requests.hypercall)" 37
eq swprot_no_mailbox "$(j a requests.mailbox)" 0
eq swprot_memory_faults "$(j a requests.memory_fault)" 5
eq swprot_outcome "$(j a outcome)" completed
eq swprot_handled "$(j a handled_requests)" 42
# Exits by reason: 37 hypercall (3), 5 memory faults (39, KVM_RUN -1/EFAULT), one hlt (5), nothing else.
eq swprot_exits_hypercall "$(j a exits.3)" 37
eq swprot_exits_memory_fault "$(j a exits.39)" 5
eq swprot_exits_hlt "$(j a exits.5)" 1
eq swprot_exit_reasons "$(jpath $T/a.json exits | tr -cd ':' | wc -c)" 3
eq swprot_kvm_run_errors "$(j a kvm_run_errors)" 5

# Every attribute change succeeded: conversions == attempts, no errors.
for d in to_private to_shared; do
	eq "swprot_${d}_all_converted" "$(j a $d.conversions)" "$(j a $d.attempts)"
	eq "swprot_${d}_bytes" "$(j a $d.bytes)" "$(j a $d.attempt_bytes)"
done
eq swprot_no_attr_errors "$(j a attr_errors)" "{}"
eq swprot_no_failed_requests "$(j a guest_failed_requests)/$(j a guest_seen_failures)" 0/0

# The books: one attribute call per hypercall, one per fault (to_private,
# as each fault is a private access).
hp=$(j a hypercall_dirs.to_private)
hs=$(j a hypercall_dirs.to_shared)
eq swprot_dirs_sum $((hp + hs)) 37
eq swprot_to_private_attempts "$(j a to_private.attempts)" $((hp + 5))
eq swprot_to_shared_attempts "$(j a to_shared.attempts)" "$hs"
eq swprot_by_source "$(j a by_source.hypercall.attempts)/$(j a by_source.memory_fault.attempts)" 37/5
# Discards follow successful changes: PUNCH_HOLE per to_shared, MADV_DONTNEED per to_private.
eq swprot_punches "$(j a discards)/$(j a discard_errors)" "$(j a to_shared.conversions)/0"
eq swprot_punch_bytes "$(j a discard_bytes)" "$(j a to_shared.bytes)"
eq swprot_shared_discards "$(j a shared_discards)/$(j a shared_discard_errors)" "$(j a to_private.conversions)/0"
# Setup: data region [2 MiB, 64 MiB) and the 2 MiB fault window made private, outside the books.
eq swprot_setup "$(j a setup_attr_calls)/$(j a setup_attr_bytes)/$(j a setup_attr_size_log2_hist)" \
	'2/67108864/{"21":1,"25":1}'
eq swprot_gmem_created "$(j a gmem.created)/$(j a gmem.flags)" 2/0

# Faults: page gpa (the access was at +0x80), 4 KiB, KVM_MEMORY_EXIT_FLAG_PRIVATE, one
# page after the other from the fault window at 64 MiB; each plugged a slot.
bad=
i=0
while [ $i -lt 5 ]; do
	f="$(j a memory_faults.$i.gpa)/$(j a memory_faults.$i.size)/$(j a memory_faults.$i.flags)"
	[ "$f" = "$((67108864 + i * 4096))/4096/8" ] || bad="$bad fault $i: $f;"
	i=$((i + 1))
done
if [ -z "$bad" ]; then vt_pass swprot_faults_private; else vt_fail swprot_faults_private "$bad"; fi
eq swprot_slots_plugged "$(j a slots_plugged)" 5

# Hypercalls as the guest made them: all listed, all answered 0, ENCRYPTED
# exactly for the to_private ones, the 2 MiB hint exactly when it fits.
# (One pass over the file: testvmm's key order is fixed.)
hcs() { sed -n 's/.*"hypercalls":\[\([^]]*\)\].*/\1/p' "$T/$1.json" | tr '}' '\n' |
	sed -n 's/.*"gpa":\([0-9]*\),"npages":\([0-9]*\),"attrs":\([0-9]*\),"ret":\(-\{0,1\}[0-9]*\).*/\1 \2 \3 \4/p'; }
hcs a >$T/a.hcs
bad=
np=0
while read -r g n at r; do
	[ "$r" = 0 ] || bad="$bad gpa $g: ret $r;"
	[ $((at & 16)) -ne 0 ] && np=$((np + 1))
	fit=0; [ $((g % 2097152)) -eq 0 ] && [ $((n % 512)) -eq 0 ] && fit=1
	[ $((at & 1)) -eq $fit ] || bad="$bad gpa $g: attrs $at for npages $n;"
	[ $((at & ~17)) -eq 0 ] || bad="$bad gpa $g: attrs $at;"
done <$T/a.hcs
eq swprot_hypercalls_parsed "$(wc -l <$T/a.hcs)" 37
eq swprot_hypercalls_listed "$(j a hypercalls_listed)" 37
if [ -z "$bad" ]; then vt_pass swprot_hypercall_args; else vt_fail swprot_hypercall_args "$bad"; fi
eq swprot_encrypted_is_to_private "$np" "$hp"

# The same seed gives the same requests as host mode (type 0 on this KVM):
# identical to_shared books, and to_private plus the 5 faults' pages.
if testvmm --seed 1 --requests 37 --json $T/h.json >/dev/null 2>$T/h.err; then
	eq swprot_same_stream_to_shared "$(j a to_shared.attempt_bytes)/$(j a to_shared.attempt_size_log2_hist)" \
		"$(j h to_shared.attempt_bytes)/$(j h to_shared.attempt_size_log2_hist)"
	eq swprot_same_stream_to_private "$(j a to_private.attempt_bytes)" "$(($(j h to_private.attempt_bytes) + 5 * 4096))"
else
	vt_fail swprot_same_stream "host-mode testvmm: $(tail -n 2 $T/h.err)"
fi

# Killed mid-run: the ground truth up to the 10th request is on disk first.
testvmm --swprot --seed 1 --requests 37 --faults 5 --kill-after-requests 10 --json $T/k.json >/dev/null 2>$T/k.err
rc=$?
eq swprot_kill_status $rc 137
eq swprot_kill_truth "$(j k outcome)/$(j k handled_requests)/$(j k requests.hypercall)/$(j k exits.3)/$(j k exits.5)" \
	"killed/10/10/10/"
eq swprot_kill_books "$(($(j k to_private.attempts) + $(j k to_shared.attempts)))" 10

# Rate, for the record: 4 KiB requests and faults (nested KVM under TCG: slow, but real).
if testvmm --swprot --seed 2 --requests 300 --size 4096 --faults 100 --json $T/r.json >/dev/null 2>$T/r.err; then
	vt_pass swprot_rate_run
	vt_info "rate: $(grep 'requests/s' $T/r.err | sed 's/^testvmm: swprot: //')"
else
	vt_fail swprot_rate_run "$(tail -n 2 $T/r.err)"
fi
