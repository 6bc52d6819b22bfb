#!/bin/sh
# The BPF LSM must be active, or an LSM program attaches and enforces nothing.
. /vmtest/lib.sh
if ! lsm=$(cat /sys/kernel/security/lsm 2>&1); then
	vt_fail lsm_bpf_active "cannot read /sys/kernel/security/lsm: $lsm"
	exit 0
fi
case ",$lsm," in
*,bpf,*) vt_pass lsm_bpf_active ;;
*) vt_fail lsm_bpf_active "bpf not in the active LSMs: $lsm" ;;
esac
