# Hostile and slow clients of privmemd's socket, one instance at a time,
# --socket-group and SO_PEERCRED (tests/kernel/clients.sh). Needs root and
# the kernel lock, like ktest.
CHECK_STAGES += clientstest
.PHONY: clientstest
$(O)/slowclient: tests/kernel/slowclient.c | $(O)
	$(CC) $(CFLAGS) $< -o $@
clientstest: all $(O)/slowclient
	./tests/kernel/clients.sh
