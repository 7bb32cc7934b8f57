/*
 * jcfg_values.h — typed reads of Janus .jcfg items, shared by our plugin and transport.
 *
 * Janus hands every config value over as a string; these helpers apply a default when an item is absent and
 * refuse (with the item named in the log) values that do not parse, instead of silently using atoi's 0.
 * Static inline on purpose: both modules live in one process loaded RTLD_GLOBAL, so exported helpers would clash.
 */

#ifndef P2PLINK_JCFG_VALUES_H
#define P2PLINK_JCFG_VALUES_H

#include <errno.h>
#include <stdlib.h>

#include <config.h>
#include <debug.h>
#include <utils.h>

static inline const char *p2plink_jcfg_string(janus_config *config, janus_config_category *cat, const char *name,
		const char *fallback) {
	janus_config_item *item = config ? janus_config_get(config, cat, janus_config_type_item, name) : NULL;
	return (item && item->value) ? item->value : fallback;
}

static inline gboolean p2plink_jcfg_bool(janus_config *config, janus_config_category *cat, const char *name,
		gboolean fallback) {
	const char *value = p2plink_jcfg_string(config, cat, name, NULL);
	return value ? janus_is_true(value) : fallback;
}

/* Returns FALSE (and logs) if the item is present but not an integer in [min, max] */
static inline gboolean p2plink_jcfg_int(janus_config *config, janus_config_category *cat, const char *name,
		gint64 min, gint64 max, gint64 *value) {
	const char *text = p2plink_jcfg_string(config, cat, name, NULL);
	if(text == NULL)
		return TRUE;
	char *end = NULL;
	errno = 0;
	long long parsed = strtoll(text, &end, 10);
	if(errno != 0 || end == text || *end != '\0' || parsed < min || parsed > max) {
		JANUS_LOG(LOG_ERR, "Invalid value for %s: '%s' (expected an integer between %"G_GINT64_FORMAT" and %"
			G_GINT64_FORMAT")\n", name, text, min, max);
		return FALSE;
	}
	*value = parsed;
	return TRUE;
}

/* p2plink_config_lookup (config_table.h) over a parsed .jcfg: ctx is the janus_config (NULL: nothing is set) */
static inline const char *p2plink_jcfg_lookup(void *ctx, const char *category, const char *name) {
	janus_config *config = ctx;
	janus_config_category *cat = config ? janus_config_get(config, NULL, janus_config_type_category, category) : NULL;
	janus_config_item *item = cat ? janus_config_get(config, cat, janus_config_type_item, name) : NULL;
	return (item && item->value) ? item->value : NULL;
}

#endif
