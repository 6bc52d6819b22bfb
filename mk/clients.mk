# Hostile and slow clients of privmemd's socket, one instance at a time,
# --socket-group and SO_PEERCRED (tests/kernel/clients.sh). Needs root and
# the kernel lock, like ktest.
CHECK_STAGES += clientstest
.PHONY: clientstest
$(O)/slowclient: tests/kernel/slowclient.c | $(O)
	$(CC) $(CFLAGS) $< -o $@
clientstest: all $(O)/slowclient $(O)/gtcompare
	./tests/kernel/clients.sh
# the /metrics server's threads on loopback (no BPF, no lock): a unit test
# (in UNIT_TESTS by its name; this rule adds the server and libmicrohttpd)
$(O)/test_metrics_http: tests/unit/test_metrics_http.c $(O)/daemon/metrics_http.o $(O)/daemon/metrics_render.o $(LIB)
	$(CC) $(CFLAGS) -Isrc/daemon $^ -o $@ $(LDLIBS_LIB) $(LDLIBS_HTTP) $(LDLIBS_CMOCKA) -lpthread
