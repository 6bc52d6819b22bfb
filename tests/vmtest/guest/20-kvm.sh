#!/bin/sh
# The rebuilt kvm.ko and kvm-amd.ko load (on QEMU's SVM), give /dev/kvm, and
# carry module BTF (CO-RE and tp_btf against KVM types resolve through it).
. /vmtest/lib.sh
for m in kvm kvm_amd; do
	if [ -d /sys/module/$m ]; then
		vt_pass "${m}_loaded"
	else
		vt_fail "${m}_loaded" "/sys/module/$m missing (see insmod failures above)"
	fi
done
vt_check dev_kvm test -c /dev/kvm
for m in kvm kvm_amd; do
	vt_check "btf_$m" test -s /sys/kernel/btf/$m
done
# Vermagic and taint, for the record.
vt_info "kvm: $(cat /sys/module/kvm/taint 2>/dev/null) taint, kernel tainted=$(cat /proc/sys/kernel/tainted)"
