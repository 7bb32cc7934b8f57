/*
 * p2plink_errors.c — the error table and the admin / peer answers built from it. See p2plink_errors.h.
 */

#include <string.h>

#include "links.h"
#include "p2plink_errors.h"
#include "store.h"

static const p2plink_error_info errors[P2PLINK_E_COUNT] = {
#define P2PLINK_ERROR_ROW(id, code, http, admin, sentence) [P2PLINK_E_##id] = { code, http, admin, sentence },
	P2PLINK_ERRORS(P2PLINK_ERROR_ROW)
#undef P2PLINK_ERROR_ROW
};

const p2plink_error_info *p2plink_error_info_of(p2plink_error_id id) {
	if((int)id < 0 || id >= P2PLINK_E_COUNT)
		id = P2PLINK_E_INTERNAL;
	return &errors[id];
}

p2plink_error_id p2plink_error_by_code(const char *code) {
	for(int i = 0; code != NULL && i < P2PLINK_E_COUNT; i++) {
		if(!strcmp(errors[i].code, code))
			return (p2plink_error_id)i;
	}
	return P2PLINK_E_INTERNAL;
}

p2plink_error_id p2plink_error_of_gerror(const GError *error) {
	if(error == NULL)
		return P2PLINK_E_INTERNAL;
	/* The store and the link rules name their errors with codes of this list (store.c, links.c) */
	if(error->domain == P2PLINK_STORE_ERROR)
		return p2plink_error_by_code(p2plink_store_error_code(error->code));
	if(error->domain == P2PLINK_LINK_ERROR)
		return p2plink_error_by_code(p2plink_link_error_code(error->code));
	return P2PLINK_E_INTERNAL;
}

json_t *p2plink_error_admin(p2plink_error_id id, const char *sentence) {
	const p2plink_error_info *info = p2plink_error_info_of(id);
	return json_pack("{s:s,s:i,s:s,s:s}", "p2plink", "error", "error_code", info->admin_code, "code", info->code,
		"error", sentence ? sentence : info->sentence);
}

json_t *p2plink_error_peer(p2plink_error_id id, const char *sentence, int *status) {
	const p2plink_error_info *info = p2plink_error_info_of(id);
	*status = info->http_status;
	return json_pack("{s:{s:s,s:s}}", "error", "code", info->code, "msg", sentence ? sentence : info->sentence);
}
