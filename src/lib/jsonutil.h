/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The json-c helpers every program of privmem shares: reading a value by
 * its dotted path, adding a counter, and the one-line error that scripts
 * can always parse.
 */
#ifndef PRIVMEM_JSONUTIL_H
#define PRIVMEM_JSONUTIL_H

#include <stdbool.h>
#include <stdint.h>
#include <json-c/json.h>

/*
 * "to_shared.bytes", "vms.0.id": object keys, and indices where the value
 * is an array. NULL when a step is missing (or is JSON null).
 */
json_object *pm_json_at(json_object *o, const char *path);
/* The number at path, or missing when there is none: the caller says what missing reads as. */
uint64_t pm_json_u64(json_object *o, const char *path, uint64_t missing);
/* The string at path; "" when it is missing or not a string. */
const char *pm_json_str(json_object *o, const char *path);

void pm_json_add_u64(json_object *o, const char *key, uint64_t v);
/* {"i": v[i], ...} for the nonzero v[i] (log2 slots, exit reasons, rules). */
json_object *pm_json_sparse(const uint64_t *v, unsigned n);

/*
 * The error line of a program: {"error":MSG} on stdout in JSON mode, so
 * that a script reads JSON whatever happens; "PROG: MSG" on stderr
 * otherwise. prog NULL: MSG alone, for FILE:LINE:COLUMN messages that
 * editors jump to.
 */
void pm_json_err(bool json, const char *prog, const char *msg);

#endif
