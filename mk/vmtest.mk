# The QEMU bed on several kernels (tests/vmtest/README.md, "Kernel matrix"):
# the same binaries on Debian's stock 6.1 (bookworm), 6.12 (trixie) and the
# newest backports kernel, each with its own KVM unmodified; one tally.
# `make vmtest KERNELS="..."` picks any set; plain `make vmtest` (and so
# `make check`) keeps to the one default kernel.
VMTEST_MATRIX ?= bookworm trixie backports
.PHONY: vmtest-matrix
vmtest-matrix: all static
	PRIVMEM_VMTEST_KERNELS="$(VMTEST_MATRIX)" ./tests/vmtest/run.sh
