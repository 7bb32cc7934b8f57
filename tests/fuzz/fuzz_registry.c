/*
 * fuzz_registry.c — libFuzzer harness for the peer registry and router (plugins/janus_p2plink/registry.c).
 *
 * The fuzz bytes are a script: each step opens a connection with an id/token from a small pool (so ids collide,
 * re-attach and ID-TAKEN happen), sends a frame (structured from the pool, or raw bytes), closes, kicks, binds a
 * Janus session nonce, drops a bind reference, advances the clock, sweeps, asks for admin JSON, or lets the
 * "transport" finish closing sockets the registry asked to close. A recording fake transport (in the spirit of
 * tests/unit/fake_transport.c, with stricter checks) plays the WebSocket side.
 *
 * Invariants (any break aborts, and libFuzzer keeps the script as a reproducer):
 *  - the registry only sends to / closes a connection it holds a reference on (except the refusal it sends during
 *    the peer_open call itself, while the transport still owns the connection), and never takes a second
 *    reference on one connection;
 *  - every frame sent is one non-NULL, complete JSON object in strict UTF-8 (g_utf8_validate) of a type the stock
 *    client knows (or our P2PLINK-REFUSED extension, which it ignores), len == strlen;
 *  - every relayed OFFER/ANSWER/CANDIDATE/LEAVE/EXPIRE is addressed (dst) to the id of the connection that gets it;
 *    during a frame step every relayed frame carries src == the sender's registered id (no spoofing), and the
 *    sender itself only ever gets EXPIRE (for the dst it tried) and P2PLINK-REFUSED, never ERROR after OPEN;
 *  - pacing never asks for a negative pause, and an id held by one token never opens for another;
 *  - at the end, after every socket closed and every bind reference was dropped, no peer is registered, every
 *    connection reference was given back, and registry_free frees everything (LeakSanitizer checks the rest).
 * What it is not for: frame decoding details (fuzz_frame.c), threading (unit tests + integration).
 */

#include <stdio.h>

#include "registry.h"
#include "fuzz_input.h"
#include "registry_peers.h"

/* The connection as the fake transport sees it */
struct p2plink_conn {
	int slot;
	int refs;
	gboolean close_asked;
	guint sent;
};

#define SLOTS 8
#define MAX_STEPS 256

typedef struct slot {
	p2plink_conn *conn;	/* NULL: free slot */
	p2plink_peer *peer;	/* the transport's reference; NULL when the open was refused */
	p2plink_peer *bound;	/* a Janus session's reference (from bind), or NULL */
	char *id;
	char nonce[P2PLINK_BIND_NONCE_LEN + 1];
} slot;

static slot slots[SLOTS];
static gint64 now_for_close;	/* the script's clock, for closes done outside a step that has one */
static p2plink_conn *opening;	/* the connection inside a peer_open call, which may be sent to without a ref */
static const char *sender_id;	/* during a frame step: the id every relayed frame must carry as src */
static p2plink_conn *sender_conn;

static const char *const ids[] = { "alice", "bob", "carol", "dave", "alice-2", "b_0 x", "bad.id", "" };
static const char *const tokens[] = { "tok-1", "tok-2", "t", "bad token" };
static const char *const types[] = { "OFFER", "ANSWER", "CANDIDATE", "LEAVE", "EXPIRE", "HEARTBEAT", "OPEN", "?" };

/* The id the connection in slot i asked for (== its peer's id once open; set before peer_open, which delivers
 * queued frames inside the call) */
static const char *slot_id(int i) {
	return slots[i].id;
}

static void check_frame(p2plink_conn *conn, const char *text, size_t len) {
	FUZZ_CHECK(text != NULL);
	FUZZ_CHECK(len == strlen(text));
	FUZZ_CHECK(g_utf8_validate_len(text, len, NULL));
	json_error_t jerr;
	json_t *root = json_loadb(text, len, 0, &jerr);
	FUZZ_CHECK(json_is_object(root));
	const char *type = json_string_value(json_object_get(root, "type"));
	FUZZ_CHECK(type != NULL);
	gboolean relay = !strcmp(type, "OFFER") || !strcmp(type, "ANSWER") || !strcmp(type, "CANDIDATE") ||
		!strcmp(type, "LEAVE") || !strcmp(type, "EXPIRE");
	gboolean refused = !strcmp(type, P2PLINK_REFUSED_TYPE);
	FUZZ_CHECK(relay || refused || !strcmp(type, "OPEN") || !strcmp(type, "ERROR") || !strcmp(type, "ID-TAKEN"));
	if(!strcmp(type, "ERROR")) {
		/* Only a handshake refusal, inside peer_open: never to a connection that got OPEN */
		FUZZ_CHECK(conn == opening);
		json_t *payload = json_object_get(root, "payload");
		FUZZ_CHECK(json_is_string(json_object_get(payload, "type")));
		FUZZ_CHECK(json_is_string(json_object_get(payload, "msg")));
	}
	if(refused) {
		json_t *payload = json_object_get(root, "payload");
		FUZZ_CHECK(json_is_string(json_object_get(payload, "code")));
		FUZZ_CHECK(json_is_string(json_object_get(payload, "msg")));
		FUZZ_CHECK(json_is_string(json_object_get(payload, "for")));
		/* No connectionId: the stock client must not take it for one of its connections */
		FUZZ_CHECK(json_object_get(payload, "connectionId") == NULL);
		FUZZ_CHECK(strcmp(json_string_value(json_object_get(root, "dst")), slot_id(conn->slot)) == 0);
	}
	if(relay) {
		const char *src = json_string_value(json_object_get(root, "src"));
		const char *dst = json_string_value(json_object_get(root, "dst"));
		FUZZ_CHECK(src != NULL && dst != NULL);
		/* Addressed to whoever owns the receiving connection */
		const char *owner = slot_id(conn->slot);
		FUZZ_CHECK(owner != NULL && strcmp(dst, owner) == 0);
		if(sender_id != NULL && conn == sender_conn) {
			/* The sender is only ever answered: an EXPIRE for what it tried to reach */
			FUZZ_CHECK(!strcmp(type, "EXPIRE"));
		} else if(sender_id != NULL) {
			FUZZ_CHECK(strcmp(src, sender_id) == 0);
		}
	}
	json_decref(root);
}

static int fake_send(p2plink_conn *conn, const char *text, size_t len) {
	/* Sending without holding a reference would be a use-after-free in the real transport */
	FUZZ_CHECK(conn->refs == 1 || conn == opening);
	check_frame(conn, text, len);
	conn->sent++;
	return conn->close_asked ? -1 : 0;
}

static void fake_close(p2plink_conn *conn, const char *reason) {
	FUZZ_CHECK(conn->refs == 1 || conn == opening);
	FUZZ_CHECK(reason != NULL);
	conn->close_asked = TRUE;
}

static void fake_ref(p2plink_conn *conn) {
	FUZZ_CHECK(conn->refs == 0);	/* one peer, one connection reference */
	conn->refs++;
}

static void fake_unref(p2plink_conn *conn) {
	FUZZ_CHECK(conn->refs == 1);
	conn->refs--;
}

static const p2plink_transport_ops ops = {
	.send = fake_send, .close = fake_close, .ref = fake_ref, .unref = fake_unref,
};

static void observer(p2plink_registry_event event, const char *id, const char *other, void *data) {
	FUZZ_CHECK(id != NULL);
	(*(guint *)data)++;
}

/* The transport's side of a socket going away: peer_close, then the connection is freed */
static void slot_close(p2plink_registry *reg, int i) {
	slot *s = &slots[i];
	if(s->conn == NULL)
		return;
	if(s->peer != NULL)
		p2plink_registry_close(reg, s->peer, now_for_close);
	/* After peer_close the plugin must not hold the connection any more */
	FUZZ_CHECK(s->conn->refs == 0);
	g_free(s->conn);
	g_free(s->id);
	s->conn = NULL;
	s->peer = NULL;
	s->id = NULL;
	memset(s->nonce, 0, sizeof(s->nonce));
}

static void step_open(p2plink_registry *reg, fuzz_input *in, gint64 now) {
	int i = fuzz_u8(in) % SLOTS;
	uint8_t pick = fuzz_u8(in);
	slot_close(reg, i);
	slot *s = &slots[i];
	s->conn = g_new0(p2plink_conn, 1);
	s->conn->slot = i;
	s->id = g_strdup(ids[pick % G_N_ELEMENTS(ids)]);
	p2plink_open_result result = -1;
	/* Whoever holds the id (connected or reserved) keeps it: only its own token may open it */
	char *owner_before = p2plink_registry_owner_of(reg, s->id);
	opening = s->conn;
	s->peer = p2plink_registry_open(reg, s->conn, s->id, tokens[(pick >> 3) % G_N_ELEMENTS(tokens)],
		(pick & 0x80) ? "2001:db8::1" : "192.0.2.1", now, s->nonce, &result);
	opening = NULL;
	if(s->peer != NULL) {
		FUZZ_CHECK(result == P2PLINK_OPEN_OK);
		FUZZ_CHECK(s->conn->refs == 1 && strlen(s->nonce) == P2PLINK_BIND_NONCE_LEN);
		FUZZ_CHECK(strcmp(p2plink_peer_id(s->peer), s->id) == 0);
		FUZZ_CHECK(owner_before == NULL || strcmp(owner_before, p2plink_peer_owner(s->peer)) == 0);
	} else {
		/* A refusal is sent and closed on the spot, and the registry keeps nothing */
		FUZZ_CHECK(result != P2PLINK_OPEN_OK);
		FUZZ_CHECK(s->conn->refs == 0 && s->conn->close_asked && s->conn->sent == 1);
	}
	g_free(owner_before);
}

/* A frame from the pool (valid shapes, colliding ids) or raw fuzz bytes */
static char *make_frame(fuzz_input *in, size_t *len) {
	uint8_t how = fuzz_u8(in);
	if(how & 0x80) {
		size_t n = 0;
		uint8_t *raw = fuzz_bytes(in, fuzz_u8(in), &n);
		*len = n;
		return (char *)raw;
	}
	const char *type = types[how % G_N_ELEMENTS(types)];
	const char *dst = ids[(how >> 3) % G_N_ELEMENTS(ids)];
	/* 0..1020 bytes of payload, enough to hit queue byte limits */
	char *pad = g_strnfill((gsize)(fuzz_u8(in) % 64) * 16, 'x');
	char *text;
	if(how & 0x40)
		text = g_strdup_printf("{\"type\":\"%s\",\"payload\":{\"pad\":\"%s\"}}", type, pad);
	else
		text = g_strdup_printf("{\"type\":\"%s\",\"dst\":\"%s\",\"src\":\"spoofed\",\"payload\":{\"pad\":\"%s\"}}",
			type, dst, pad);
	g_free(pad);
	*len = strlen(text);
	return text;
}

static void step_frame(p2plink_registry *reg, fuzz_input *in, gint64 now) {
	int i = fuzz_u8(in) % SLOTS;
	size_t len = 0;
	char *text = make_frame(in, &len);
	slot *s = &slots[i];
	if(s->peer != NULL) {
		sender_id = p2plink_peer_id(s->peer);
		sender_conn = s->conn;
		gint64 pause = -1;
		p2plink_frame_result r = p2plink_registry_frame(reg, s->peer, text, len, now, &pause);
		sender_id = NULL;
		sender_conn = NULL;
		FUZZ_CHECK(r >= P2PLINK_FRAME_ROUTED && r <= P2PLINK_FRAME_BAD_TEXT);
		FUZZ_CHECK(pause >= 0);
		if(r == P2PLINK_FRAME_BAD_TEXT)
			FUZZ_CHECK(!g_utf8_validate_len(text, len, NULL));
		if(r == P2PLINK_FRAME_CLOSE || r == P2PLINK_FRAME_FLOOD || r == P2PLINK_FRAME_BAD_TEXT)
			slot_close(reg, i);	/* the transport disconnects the sender */
	}
	g_free(text);
}

static void check_admin_json(json_t *obj) {
	FUZZ_CHECK(json_is_object(obj));
	char *text = json_dumps(obj, JSON_COMPACT);
	FUZZ_CHECK(text != NULL);
	free(text);
	json_decref(obj);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
	fuzz_input in;
	fuzz_input_init(&in, data, size);
	p2plink_registry_config cfg;
	p2plink_registry_config_defaults(&cfg);
	/* Small limits so a short script reaches every bound; times in µs of a fake clock */
	cfg.concurrent_limit = 1 + fuzz_u8(&in) % 6;
	cfg.expire_timeout = 5;
	cfg.alive_timeout = 50;
	cfg.queue_max_messages = 3;
	cfg.queue_max_bytes = 2048;
	cfg.queue_total_bytes = 4096;
	cfg.max_counterparts = 2;
	/* A short grace and a tiny bucket, so scripts reach reservations, their end, pacing and FLOOD */
	cfg.id_grace = 20;
	cfg.frame_rate.per_second = 100000;	/* one token per 10 µs of the fake clock */
	cfg.frame_rate.burst = 4;
	cfg.flood_after = 40;
	p2plink_registry *reg = p2plink_registry_new(&cfg, &ops);
	guint events = 0;
	p2plink_registry_set_observer(reg, observer, &events);
	gint64 now = 1000;
	now_for_close = now;
	for(int step = 0; step < MAX_STEPS && fuzz_left(&in) > 0; step++) {
		uint8_t op = fuzz_u8(&in);
		switch(op % 10) {
			case 0:
				step_open(reg, &in, now);
				break;
			case 1: case 2:
				step_frame(reg, &in, now);
				break;
			case 3:
				slot_close(reg, fuzz_u8(&in) % SLOTS);
				break;
			case 4:
				now += fuzz_u8(&in);
				p2plink_registry_sweep(reg, now);
				break;
			case 5:
				p2plink_registry_kick_id(reg, ids[fuzz_u8(&in) % G_N_ELEMENTS(ids)], "kicked");
				break;
			case 6: {
				/* A Janus session claims the peer (only with the nonce it was given), or gives its claim back */
				slot *s = &slots[fuzz_u8(&in) % SLOTS];
				if(s->bound != NULL) {
					p2plink_peer_unref(s->bound);
					s->bound = NULL;
				} else if(s->conn != NULL) {
					s->bound = p2plink_registry_bind(reg, s->nonce[0] ? s->nonce : NULL);
					/* A nonce is single-use */
					if(s->bound != NULL)
						FUZZ_CHECK(p2plink_registry_bind(reg, s->nonce) == NULL);
				}
				break;
			}
			case 7: {
				slot *s = &slots[fuzz_u8(&in) % SLOTS];
				if(s->bound != NULL) {
					check_admin_json(p2plink_registry_peer_info(reg, s->bound));
					/* What a Janus session teardown does: kick, then drop its reference */
					if(fuzz_u8(&in) & 1)
						p2plink_registry_kick_peer(reg, s->bound, "session gone", now);
				}
				check_admin_json(p2plink_registry_stats(reg));
				check_admin_json(p2plink_registry_list_peers(reg, fuzz_u8(&in) % 4, fuzz_u8(&in) % 4));
				char *ids_json = p2plink_registry_discoverable_ids_json(reg);
				json_t *arr = json_loads(ids_json, 0, NULL);
				FUZZ_CHECK(json_is_array(arr) && json_array_size(arr) == registry_peers(reg));
				json_decref(arr);
				g_free(ids_json);
				break;
			}
			case 8:
				/* The transport finishes the closes the registry asked for */
				for(int i = 0; i < SLOTS; i++) {
					if(slots[i].conn != NULL && slots[i].conn->close_asked)
						slot_close(reg, i);
				}
				break;
			default:
				now += fuzz_u8(&in);
				break;
		}
		FUZZ_CHECK(registry_peers(reg) <= cfg.concurrent_limit);
		now_for_close = now;
	}
	/* Half the time the plugin goes away with sockets still open (registry_free closes them) */
	gboolean free_first = size > 0 && (data[0] & 0x80);
	if(!free_first) {
		for(int i = 0; i < SLOTS; i++)
			slot_close(reg, i);
		FUZZ_CHECK(registry_peers(reg) == 0);
	}
	for(int i = 0; i < SLOTS; i++) {
		if(slots[i].bound != NULL)
			p2plink_peer_unref(slots[i].bound);
		slots[i].bound = NULL;
	}
	if(free_first) {
		/* registry_free must hand every connection back, and the transport's peer references stay valid */
		p2plink_registry_free(reg);
		for(int i = 0; i < SLOTS; i++) {
			if(slots[i].conn == NULL)
				continue;
			FUZZ_CHECK(slots[i].conn->refs == 0);
			p2plink_peer_unref(slots[i].peer);	/* the transport's last reference */
			g_free(slots[i].conn);
			g_free(slots[i].id);
			memset(&slots[i], 0, sizeof(slots[i]));
		}
	} else {
		p2plink_registry_free(reg);
	}
	return 0;
}
