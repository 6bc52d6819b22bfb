/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * A table from a VM id (any 64-bit key, 0 included) to an entry of the
 * caller's type, for the per-VM side books of the recorder, replay,
 * export, the trace writer and what-if. Open addressing with linear
 * probing, doubled at half full: a lookup on the event path is a probe or
 * two and no allocation.
 *
 * Entries start zeroed. A pointer to one is good until the next insertion
 * (growing moves them).
 */
#ifndef PRIVMEM_VMTAB_H
#define PRIVMEM_VMTAB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pm_vmtab {
	uint64_t *keys;
	bool *used;
	unsigned char *vals;
	size_t size;		/* of one entry */
	size_t cap, n;
};

/* struct pm_vmtab t = PM_VMTAB_INIT(struct my_entry); */
#define PM_VMTAB_INIT(type) { .size = sizeof(type) }
void pm_vmtab_init(struct pm_vmtab *t, size_t entry_size);
void pm_vmtab_free(struct pm_vmtab *t);
/* Forgets every entry, keeps the memory. */
void pm_vmtab_clear(struct pm_vmtab *t);

/* The entry of key, added (zeroed, *added set) if absent; NULL when out of memory. */
void *pm_vmtab_get(struct pm_vmtab *t, uint64_t key, bool *added);
void *pm_vmtab_find(const struct pm_vmtab *t, uint64_t key);
/*
 * Every entry once, in no useful order:
 *	for (size_t i = 0; (e = pm_vmtab_next(t, &i, &key)); )
 * key may be NULL.
 */
void *pm_vmtab_next(const struct pm_vmtab *t, size_t *pos, uint64_t *key);

#endif
