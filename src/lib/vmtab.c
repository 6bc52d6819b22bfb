// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
#include <stdlib.h>
#include <string.h>
#include "vmtab.h"

#define VMTAB_MIN 64

void pm_vmtab_init(struct pm_vmtab *t, size_t entry_size)
{
	memset(t, 0, sizeof(*t));
	t->size = entry_size;
}

void pm_vmtab_free(struct pm_vmtab *t)
{
	free(t->keys);
	free(t->used);
	free(t->vals);
	pm_vmtab_init(t, t->size);
}

void pm_vmtab_clear(struct pm_vmtab *t)
{
	if (t->cap)
		memset(t->used, 0, t->cap * sizeof(*t->used));
	t->n = 0;
}

/* VM ids are kernel pointers: the multiply spreads their aligned low bits. */
static size_t slot(const struct pm_vmtab *t, uint64_t key)
{
	size_t i = (size_t)((key * 0x9e3779b97f4a7c15ull) >> 32) & (t->cap - 1);

	while (t->used[i] && t->keys[i] != key)
		i = (i + 1) & (t->cap - 1);
	return i;
}

static int grow(struct pm_vmtab *t)
{
	struct pm_vmtab n = { .size = t->size, .cap = t->cap ? t->cap * 2 : VMTAB_MIN, .n = t->n };

	n.keys = malloc(n.cap * sizeof(*n.keys));
	n.used = calloc(n.cap, sizeof(*n.used));
	n.vals = malloc(n.cap * n.size);
	if (!n.keys || !n.used || !n.vals) {
		pm_vmtab_free(&n);
		return -1;
	}
	for (size_t i = 0; i < t->cap; i++) {
		size_t s;

		if (!t->used[i])
			continue;
		s = slot(&n, t->keys[i]);
		n.used[s] = true;
		n.keys[s] = t->keys[i];
		memcpy(n.vals + s * n.size, t->vals + i * t->size, t->size);
	}
	pm_vmtab_free(t);
	*t = n;
	return 0;
}

void *pm_vmtab_get(struct pm_vmtab *t, uint64_t key, bool *added)
{
	size_t i;

	if (added)
		*added = false;
	if (t->cap) {
		i = slot(t, key);
		if (t->used[i])
			return t->vals + i * t->size;
	}
	if ((t->n + 1) * 2 > t->cap && grow(t))
		return NULL;
	i = slot(t, key);
	t->used[i] = true;
	t->keys[i] = key;
	memset(t->vals + i * t->size, 0, t->size);
	t->n++;
	if (added)
		*added = true;
	return t->vals + i * t->size;
}

void *pm_vmtab_find(const struct pm_vmtab *t, uint64_t key)
{
	size_t i;

	if (!t->cap)
		return NULL;
	i = slot(t, key);
	return t->used[i] ? t->vals + i * t->size : NULL;
}

void *pm_vmtab_next(const struct pm_vmtab *t, size_t *pos, uint64_t *key)
{
	for (; *pos < t->cap; (*pos)++) {
		if (!t->used[*pos])
			continue;
		if (key)
			*key = t->keys[*pos];
		return t->vals + (*pos)++ * t->size;
	}
	return NULL;
}
