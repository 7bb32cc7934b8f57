/*
 * fuzz_admin.c — libFuzzer harness for the Admin API request decoder (plugins/janus_p2plink/admin.c).
 *
 * The input is the JSON an administrator sends in "message_plugin" (Janus parses it; we get a json_t). It runs
 * against a real registry holding a few peers (through a minimal fake transport), so list_peers paging and
 * kick_peer really happen. First byte: bit 0 asks with no registry (transport not loaded).
 * Checks: the answer is always a JSON object tagged "p2plink"; an error has an error_code from 480..484, a code
 * from p2plink_errors.h and a sentence;
 * kicked answers name a peer that was connected and is gone afterwards; pages never exceed the limit; everything
 * is freed (LeakSanitizer).
 * What it is not for: authentication (Janus checks admin_secret before we are called).
 */

#include <stdio.h>

#include "admin.h"
#include "fuzz_input.h"
#include "registry_peers.h"

struct p2plink_conn {
	int refs;
};

static int conn_send(p2plink_conn *conn, const char *text, size_t len) {
	FUZZ_CHECK(text != NULL && len == strlen(text));
	return 0;
}
static void conn_close(p2plink_conn *conn, const char *reason) {}
static void conn_ref(p2plink_conn *conn) { conn->refs++; }
static void conn_unref(p2plink_conn *conn) { FUZZ_CHECK(conn->refs > 0); conn->refs--; }

static const p2plink_transport_ops ops = {
	.send = conn_send, .close = conn_close, .ref = conn_ref, .unref = conn_unref,
};

static const char *const peer_ids[] = { "alice", "bob", "carol-1", "d_2" };

static void check_answer(json_t *answer, p2plink_registry *reg, guint before) {
	FUZZ_CHECK(json_is_object(answer));
	const char *tag = json_string_value(json_object_get(answer, "p2plink"));
	FUZZ_CHECK(tag != NULL);
	if(!strcmp(tag, "error")) {
		json_int_t code = json_integer_value(json_object_get(answer, "error_code"));
		FUZZ_CHECK(code >= P2PLINK_ADMIN_ERROR_INVALID_REQUEST && code <= P2PLINK_ADMIN_ERROR_UNAVAILABLE);
		const char *msg = json_string_value(json_object_get(answer, "error"));
		FUZZ_CHECK(msg != NULL && msg[0] != '\0');
		/* A stable code from the one list (p2plink_errors.h) */
		const char *machine = json_string_value(json_object_get(answer, "code"));
		FUZZ_CHECK(machine != NULL && p2plink_error_by_code(machine) != P2PLINK_E_INTERNAL);
	} else if(!strcmp(tag, "peers")) {
		json_t *peers = json_object_get(answer, "peers");
		FUZZ_CHECK(json_is_array(peers));
		FUZZ_CHECK(json_array_size(peers) <= (size_t)json_integer_value(json_object_get(answer, "limit")));
		FUZZ_CHECK(json_integer_value(json_object_get(answer, "total")) == before);
	} else if(!strcmp(tag, "kicked")) {
		FUZZ_CHECK(json_is_string(json_object_get(answer, "id")));
		FUZZ_CHECK(registry_peers(reg) == before - 1);
	} else {
		FUZZ_CHECK(!strcmp(tag, "stats"));
		FUZZ_CHECK(json_integer_value(json_object_get(answer, "peers")) == before);
	}
	char *text = json_dumps(answer, JSON_COMPACT);
	FUZZ_CHECK(text != NULL);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	if(size < 1)
		return 0;
	gboolean no_registry = data[0] & 1;
	json_error_t jerr;
	/* Janus hands over any JSON value as the request; NULL is possible too */
	json_t *message = json_loadb((const char *)data + 1, size - 1, JSON_DECODE_ANY, &jerr);
	if(no_registry) {
		json_t *answer = p2plink_admin_handle(NULL, message);
		FUZZ_CHECK(json_is_object(answer));
		FUZZ_CHECK(json_integer_value(json_object_get(answer, "error_code")) >= P2PLINK_ADMIN_ERROR_INVALID_REQUEST);
		json_decref(answer);
		json_decref(message);
		return 0;
	}
	p2plink_registry_config cfg;
	p2plink_registry_config_defaults(&cfg);
	p2plink_registry *reg = p2plink_registry_new(&cfg, &ops);
	p2plink_conn conns[G_N_ELEMENTS(peer_ids)] = { { 0 } };
	p2plink_peer *peers[G_N_ELEMENTS(peer_ids)];
	for(size_t i = 0; i < G_N_ELEMENTS(peer_ids); i++) {
		char nonce[P2PLINK_BIND_NONCE_LEN + 1];
		p2plink_open_result result;
		peers[i] = p2plink_registry_open(reg, &conns[i], peer_ids[i], "token", "192.0.2.9", 1000, nonce, &result);
		FUZZ_CHECK(peers[i] != NULL);
	}
	guint before = registry_peers(reg);
	json_t *answer = p2plink_admin_handle(reg, message);
	check_answer(answer, reg, before);
	json_decref(answer);
	json_decref(message);
	/* The transport closes every socket (kicked ones included), then the plugin goes away */
	for(size_t i = 0; i < G_N_ELEMENTS(peer_ids); i++)
		p2plink_registry_close(reg, peers[i], 1000);
	FUZZ_CHECK(registry_peers(reg) == 0);
	p2plink_registry_free(reg);
	for(size_t i = 0; i < G_N_ELEMENTS(peer_ids); i++)
		FUZZ_CHECK(conns[i].refs == 0);
	return 0;
}
