#!/bin/sh
# Real private memory on a KVM_X86_SW_PROTECTED_VM (see swprot_probe.c).
. /vmtest/lib.sh
vt_needs_swprot swprot
exec swprot_probe
