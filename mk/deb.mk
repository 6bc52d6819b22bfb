# Packaging (issue 13): `make deb` builds build/deb/privmem_VERSION_ARCH.deb
# with debhelper from debian/ and lints it; `make debtest` installs it into
# a fresh Debian root and runs the installed programs against testvmm.
.PHONY: deb debtest
deb:
	./tests/deb/build.sh
debtest: deb $(O)/testvmm
	./tests/deb/run.sh
CHECK_STAGES += debtest
