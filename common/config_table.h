/*! \file   config_table.h
 * \brief  Configuration as a table: one row per option (category, name, type, range, default, where it goes)
 * \details What this file is for: reading every option of a module from one table, Redis config.c style, so that
 * an option is declared once (its range and default next to its name) and every bad value is reported, not only
 * the first, before the module refuses to start. The values come through a lookup callback, so the code is pure:
 * the Janus glue feeds it janus_config items (p2plink_config_jcfg_lookup in jcfg_values.h), a unit test a table of
 * strings or the sample .jcfg (tests/unit/test_peerjs_config.c and test_p2plink_config.c check the samples against
 * the rows, with the reader in tests/unit/jcfg_sample.h).
 * What it is not for: checks that involve several options or parse a value's contents (CIDR lists, "secure needs
 * a certificate"): those stay with the module, after p2plink_config_apply, adding to the same error list.
 *
 * Use: a struct holding the values, a table of P2PLINK_CONFIG_* rows pointing into it by offsetof, then
 * p2plink_config_apply (defaults first, then what the lookup finds) and p2plink_config_clear when done.
 */

#ifndef P2PLINK_CONFIG_TABLE_H
#define P2PLINK_CONFIG_TABLE_H

#include <stddef.h>

#include <glib.h>

typedef enum p2plink_config_type {
	P2PLINK_CONFIG_INT,		/* gint64, within [min, max] */
	P2PLINK_CONFIG_BOOL,	/* gboolean: true/false, yes/no, 1/0 (like janus_is_true) */
	P2PLINK_CONFIG_STRING,	/* char *, owned by the target (g_free'd by p2plink_config_clear); NULL when unset */
	P2PLINK_CONFIG_ENUM,	/* int: the index of the value in choices */
} p2plink_config_type;

typedef struct p2plink_config_option {
	const char *category;		/* .jcfg category ("general", "stun", ...) */
	const char *name;
	p2plink_config_type type;
	gint64 min, max;			/* P2PLINK_CONFIG_INT */
	const char *default_value;	/* as written in the .jcfg; NULL: unset (strings only) */
	const char * const *choices;	/* P2PLINK_CONFIG_ENUM, NULL-terminated */
	size_t offset;				/* where the value goes in the target struct */
	/* The sample .jcfg shows an example value for this option, not its default (paths, addresses, lists) */
	gboolean sample_is_example;
} p2plink_config_option;

#define P2PLINK_CONFIG_INT_ROW(cat, name, lo, hi, def, type_, field) \
	{ cat, name, P2PLINK_CONFIG_INT, lo, hi, def, NULL, offsetof(type_, field), FALSE }
#define P2PLINK_CONFIG_BOOL_ROW(cat, name, def, type_, field) \
	{ cat, name, P2PLINK_CONFIG_BOOL, 0, 0, def, NULL, offsetof(type_, field), FALSE }
#define P2PLINK_CONFIG_STRING_ROW(cat, name, def, example, type_, field) \
	{ cat, name, P2PLINK_CONFIG_STRING, 0, 0, def, NULL, offsetof(type_, field), example }
#define P2PLINK_CONFIG_ENUM_ROW(cat, name, choices, def, type_, field) \
	{ cat, name, P2PLINK_CONFIG_ENUM, 0, 0, def, choices, offsetof(type_, field), FALSE }

/* The configured text of category.name, or NULL when the option is not set */
typedef const char *(*p2plink_config_lookup)(void *ctx, const char *category, const char *name);

/* Sets every row's target to its default, then to the looked-up value where one is set and valid. A value that
 * does not parse or is out of range adds one sentence to errors (g_strdup'd; errors may be NULL) and leaves the
 * default. Returns the number of such errors. */
guint p2plink_config_apply(const p2plink_config_option *table, guint rows, void *target,
	p2plink_config_lookup lookup, void *ctx, GPtrArray *errors);
/* Adds one bad-option sentence (taken, freed when errors is NULL) to errors: the one way p2plink_config_apply and
 * the modules' checks after it report a bad value. Returns 1, for a caller's count of bad options. */
guint p2plink_config_report(GPtrArray *errors, char *sentence);
/* Frees the strings the table put into target */
void p2plink_config_clear(const p2plink_config_option *table, guint rows, void *target);
/* The row for category.name, or NULL */
const p2plink_config_option *p2plink_config_find(const p2plink_config_option *table, guint rows,
	const char *category, const char *name);
/* Parses text as row's type into *out (the same rules p2plink_config_apply uses): TRUE when valid. A string is
 * always valid; the result of a string is not stored (out may be NULL for any type). */
gboolean p2plink_config_parse(const p2plink_config_option *row, const char *text, void *out);

/* Lookup over a GHashTable of "category.name" → value (tests, and anyone holding plain strings) */
const char *p2plink_config_hash_lookup(void *hash_table, const char *category, const char *name);

#endif
