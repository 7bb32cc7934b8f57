/*
 * registry_cluster.c — the registry's rules when the other end of a frame is on another node (cluster mode).
 *
 * What it is for: a single node's behaviour, kept when the sender and the receiver of a frame are connected to
 * different nodes. The sender's node routes the frame with what the receiver's node needs to apply the rules
 * (remote_frame.h: sender id and token hash, its share-link grant for the receiver, its node); the receiver's
 * node gates, delivers or queues it exactly as for a local sender, and every refusal goes back to the sender as
 * the same EXPIRE / P2PLINK-REFUSED frames a single node writes. The answer to each route comes back here
 * (remote_routed): delivered → counterparts recorded; nobody holds the id → the frame waits in the sender's
 * node's offline queue (routed again every retry, EXPIRE after expire_timeout as today); unreachable → EXPIRE +
 * P2PLINK-REFUSED "cluster-unavailable", never ERROR, never silently lost.
 * What it is not for: Redis, leases or sockets (the transport's peerjs_cluster.c does those through the
 * remote_* members of p2plink_transport_ops). Pure like registry.c: unit-tested with a recording remote.
 *
 * Ordering: the transport sends every route on one Redis connection, so routes leave in the order they were
 * made and their answers come back in that order. A frame for an id with a local queue goes behind the queue
 * (not routed ahead of it); the retry takes a queue out whole and routes it in order.
 * A refusal (NOTICE) comes on the subscription, another connection, so it can arrive before the answer to the
 * route it refuses. Each route of a node's own peer is numbered (seq); the refusal carries the number, and when
 * that route's answer has not come yet the refusal is remembered (refused_early) so that the answer makes no
 * counterpart: else the refused peer would get a LEAVE from a peer it never accepted.
 */

#include <string.h>

#include "counters.h"
#include "registry_private.h"

#define UNAVAILABLE_MSG "The server this peer is connected to cannot be reached right now"

static void route_body_locked(p2plink_registry *reg, const char *dst, const p2plink_remote_frame *f) {
	size_t len;
	char *body = p2plink_remote_frame_encode(f, &len);
	reg->ops.remote_route(dst, body, len);
}

void cluster_route_locked(p2plink_registry *reg, p2plink_peer *peer, const char *dst, p2plink_msg_type type,
		char *text, size_t len, gint64 now) {
	if(g_hash_table_contains(reg->queues, dst)) {
		/* Behind what already waits for it: the retry routes the queue in order */
		if(type == P2PLINK_MSG_LEAVE || type == P2PLINK_MSG_EXPIRE)
			g_free(text);
		else if(!enqueue_locked(reg, dst, peer->id, peer->owner, NULL, NULL, type, text, len, now)) {
			g_free(text);
			refuse_locked(reg, peer, dst, type, "queue-full",
				"Too many messages are waiting for a peer that is not connected");
		}
		return;
	}
	const char *grant = peer_table_lookup(peer->grants, dst);
	p2plink_remote_frame f = { P2PLINK_REMOTE_RELAY, type, peer->id, peer->owner, (char *)(grant ? grant : ""),
		(char *)reg->ops.node, now, text, len, ++reg->route_seq };
	route_body_locked(reg, dst, &f);
	g_free(text);
}

static void notice_locked(p2plink_registry *reg, p2plink_remote_kind kind, const char *dst, const char *src,
		char *text, size_t len, const char *route_node, guint64 seq) {
	p2plink_remote_frame f = { kind, kind == P2PLINK_REMOTE_LEAVE ? P2PLINK_MSG_LEAVE : P2PLINK_MSG_UNKNOWN,
		(char *)(src ? src : ""), "", "", (char *)(route_node ? route_node : reg->ops.node), 0, text, len,
		route_node ? seq : 0 };
	route_body_locked(reg, dst, &f);
	g_free(text);
}

void cluster_notice_locked(p2plink_registry *reg, p2plink_remote_kind kind, const char *dst, const char *src,
		char *text, size_t len) {
	notice_locked(reg, kind, dst, src, text, len, NULL, 0);
}

void cluster_release_locked(p2plink_registry *reg, p2plink_peer *peer) {
	if(reg->cluster && !peer->lease_lost)
		reg->ops.remote_release(peer->id, peer->owner);
}

void cluster_refuse_remote_locked(p2plink_registry *reg, const char *src, const char *dst, p2plink_msg_type type,
		const char *code, const char *msg, const char *route_node, guint64 seq) {
	size_t len;
	if(type != P2PLINK_MSG_LEAVE && type != P2PLINK_MSG_EXPIRE) {
		char *expire = p2plink_frame_encode_relay(P2PLINK_MSG_EXPIRE, dst, src, NULL, 0, &len);
		notice_locked(reg, P2PLINK_REMOTE_NOTICE, src, dst, expire, len, route_node, seq);
	}
	char *text = p2plink_frame_encode_refused(dst, src, code, msg, type, &len);
	notice_locked(reg, P2PLINK_REMOTE_NOTICE, src, dst, text, len, route_node, seq);
	reg->rejected++;
	p2plink_counters_refused(type, code);
}

static char *pair_key(const char *src, const char *dst) {
	return g_strconcat(src, "\n", dst, NULL);
}

/* A refusal of route `seq` from src (local) to dst reached this node before the route's answer */
static void refused_early_add_locked(p2plink_registry *reg, const char *src, const char *dst, guint64 seq) {
	/* Answers always come (a route Redis never took is answered UNREACHABLE), and each takes its entry out; a
	 * cluster client stopped mid-flight can leave some behind: those whose answer is past go when many pile up */
	if(g_hash_table_size(reg->refused_early) >= 4096) {
		GHashTableIter iter;
		gpointer value;
		g_hash_table_iter_init(&iter, reg->refused_early);
		while(g_hash_table_iter_next(&iter, NULL, &value)) {
			if(*(guint64 *)value <= reg->answered_seq)
				g_hash_table_iter_remove(&iter);
		}
	}
	char *key = pair_key(src, dst);
	guint64 *known = g_hash_table_lookup(reg->refused_early, key);
	if(known != NULL) {
		*known = MAX(*known, seq);
		g_free(key);
		return;
	}
	guint64 *value = g_new(guint64, 1);
	*value = seq;
	g_hash_table_insert(reg->refused_early, key, value);
}

/* The answer to route `seq` from src to dst: TRUE when a refusal of it (or of a later route to dst) came first */
static gboolean refused_early_take_locked(p2plink_registry *reg, const char *src, const char *dst, guint64 seq) {
	reg->answered_seq = MAX(reg->answered_seq, seq);
	if(g_hash_table_size(reg->refused_early) == 0)
		return FALSE;
	char *key = pair_key(src, dst);
	guint64 *refused = g_hash_table_lookup(reg->refused_early, key);
	gboolean was = refused != NULL && *refused >= seq;
	if(refused != NULL && seq >= *refused)
		g_hash_table_remove(reg->refused_early, key);
	g_free(key);
	return was;
}

gboolean remote_gate_allows_locked(const char *src, const char *grant, p2plink_peer *to) {
	if(!to->link_only)
		return TRUE;
	return (grant != NULL && *grant != '\0' && strcmp(grant, to->owner) == 0) ||
		peer_table_contains(to->contacted, src);
}

/* A peer's frame from another node, for a local id */
static void deliver_relay_locked(p2plink_registry *reg, const char *dst, p2plink_remote_frame *f, gint64 now) {
	p2plink_peer *peer = g_hash_table_lookup(reg->peers, dst);
	p2plink_peer *held = peer != NULL ? peer : g_hash_table_lookup(reg->reserved, dst);
	if(held != NULL && !remote_gate_allows_locked(f->src, f->grant, held)) {
		cluster_refuse_remote_locked(reg, f->src, dst, f->type, "link-required", LINK_REQUIRED_MSG, f->origin, f->seq);
		return;
	}
	if(peer != NULL && peer->conn != NULL) {
		send_text_locked(reg, peer, f->text, f->len);
		if(f->type == P2PLINK_MSG_LEAVE)
			peer_table_remove(peer->counterparts, f->src);
		else	/* the sender may be here by now: a frame routed again by the node that queued it */
			counterpart_add_locked(reg, peer, f->src, strcmp(f->origin, reg->ops.node) != 0 ? f->origin : NULL);
		reg->relayed++;
		p2plink_counters_relayed(f->type);
		return;
	}
	if(f->type == P2PLINK_MSG_LEAVE || f->type == P2PLINK_MSG_EXPIRE)
		return;
	/* Reserved for its owner (back soon, here or elsewhere: the retry follows it), or just gone: queued as for a
	 * local sender, EXPIRE to the sender's node after expire_timeout */
	char *text = g_steal_pointer(&f->text);
	const char *origin = strcmp(f->origin, reg->ops.node) != 0 ? f->origin : NULL;
	if(!enqueue_locked(reg, dst, f->src, f->src_owner, origin, f->grant, f->type, text, f->len, now)) {
		g_free(text);
		cluster_refuse_remote_locked(reg, f->src, dst, f->type, "queue-full",
			"Too many messages are waiting for a peer that is not connected", f->origin, f->seq);
	}
}

gboolean p2plink_registry_remote_deliver(p2plink_registry *reg, const char *dst, const char *body, size_t len,
		gint64 now) {
	p2plink_remote_frame f;
	if(!reg->cluster || dst == NULL || !p2plink_remote_frame_decode(body, len, &f))
		return FALSE;
	g_mutex_lock(&reg->mutex);
	p2plink_peer *peer = g_hash_table_lookup(reg->peers, dst);
	switch(f.kind) {
		case P2PLINK_REMOTE_RELAY:
			deliver_relay_locked(reg, dst, &f, now);
			break;
		case P2PLINK_REMOTE_LEAVE:
			/* Sent only to the leaver's counterparts; this copy of dst may not know it as one (dst moved here
			 * from another node, whose state stayed there), and a LEAVE for a peer a client has no connection
			 * with changes nothing for it */
			if(peer != NULL) {
				peer_table_remove(peer->counterparts, f.src);
				send_text_locked(reg, peer, f.text, f.len);
			}
			break;
		case P2PLINK_REMOTE_NOTICE:
			/* An EXPIRE or refusal from f.src: the frame it answers was published, and so counted here as reaching
			 * a counterpart; it did not, so f.src hears nothing when this peer leaves (as on one node, where a
			 * refused frame never makes a counterpart) */
			if(peer != NULL) {
				peer_table_remove(peer->counterparts, f.src);
				peer_table_remove(peer->contacted, f.src);
				send_text_locked(reg, peer, f.text, f.len);
				if(f.seq != 0 && strcmp(f.origin, reg->ops.node) == 0 && f.seq > reg->answered_seq)
					refused_early_add_locked(reg, dst, f.src, f.seq);
			}
			break;
		case P2PLINK_REMOTE_KICK:
			if(peer != NULL) {
				kick_locked(reg, peer, "kicked by the administrator", FALSE, now);
			} else if((peer = g_hash_table_lookup(reg->reserved, dst)) != NULL) {
				cluster_release_locked(reg, peer);
				unreserve_locked(reg, peer);
			}
			break;
	}
	unlock_and_deliver(reg);
	p2plink_remote_frame_clear(&f);
	return TRUE;
}

void p2plink_registry_remote_routed(p2plink_registry *reg, const char *dst, const char *body, size_t len,
		p2plink_remote_result result, const char *node, gint64 now) {
	p2plink_remote_frame f;
	/* Only a peer's own frames have an answer that matters: a notice, LEAVE or kick that finds nobody is moot */
	if(!reg->cluster || !p2plink_remote_frame_decode(body, len, &f))
		return;
	if(f.kind != P2PLINK_REMOTE_RELAY) {
		p2plink_remote_frame_clear(&f);
		return;
	}
	gboolean control = f.type == P2PLINK_MSG_LEAVE || f.type == P2PLINK_MSG_EXPIRE;
	g_mutex_lock(&reg->mutex);
	/* The sender, if it is still the same owner connected here (a frame routed again may be another node's) */
	p2plink_peer *src = g_hash_table_lookup(reg->peers, f.src);
	if(src != NULL && (src->conn == NULL || strcmp(src->owner, f.src_owner) != 0))
		src = NULL;
	gboolean mine = strcmp(f.origin, reg->ops.node) == 0;
	gboolean refused = mine && f.seq != 0 && refused_early_take_locked(reg, f.src, dst, f.seq);
	if(result == P2PLINK_REMOTE_DELIVERED) {
		if(src != NULL && mine && !refused) {
			if(f.type == P2PLINK_MSG_LEAVE) {
				peer_table_remove(src->counterparts, dst);
			} else {
				/* First contact opens the sender's own link-only gate for dst's answers, as on one node; a
				 * counterpart already known reached us first, or was reached before */
				if(!control && !peer_table_contains(src->counterparts, dst))
					set_add_bounded(&src->contacted, dst, reg->cfg.max_counterparts);
				counterpart_add_locked(reg, src, dst, node);
			}
		}
		reg->relayed++;
		p2plink_counters_relayed(f.type);
	} else if(result == P2PLINK_REMOTE_NOT_HELD && !control) {
		/* Nobody holds dst: it waits here, as it would on one node, and the retry looks for it again. Its queue's
		 * age is this node's clock at the first try (queued_since), so EXPIRE comes when it would on one node */
		char *text = g_steal_pointer(&f.text);
		if(!enqueue_locked(reg, dst, f.src, f.src_owner, mine ? NULL : f.origin, mine ? NULL : f.grant, f.type,
				text, f.len, f.queued_since)) {
			g_free(text);
			if(src != NULL)
				refuse_locked(reg, src, dst, f.type, "queue-full",
					"Too many messages are waiting for a peer that is not connected");
		}
		/* dst connected here while the route was out: it would otherwise wait for the next retry */
		p2plink_peer *here = g_hash_table_lookup(reg->peers, dst);
		if(here != NULL && here->conn != NULL)
			flush_queue_locked(reg, here);
	} else if(result == P2PLINK_REMOTE_UNREACHABLE && !control && src != NULL) {
		refuse_locked(reg, src, dst, f.type, "cluster-unavailable", UNAVAILABLE_MSG);
	}
	unlock_and_deliver(reg);
	p2plink_remote_frame_clear(&f);
}

void p2plink_registry_remote_lost(p2plink_registry *reg, const char *id, const char *owner, gint64 now) {
	g_mutex_lock(&reg->mutex);
	p2plink_peer *peer = id != NULL && owner != NULL ? held_locked(reg, id) : NULL;
	if(peer != NULL && strcmp(peer->owner, owner) == 0) {
		/* The owner is connected to another node now: nothing to release, and nobody to tell it left (those
		 * it signaled with reach it there; their LEAVE when they go is routed to it through its lease) */
		peer->lease_lost = TRUE;
		if(peer->reserved) {
			unreserve_locked(reg, peer);
		} else {
			g_clear_pointer(&peer->counterparts, g_hash_table_unref);
			kick_locked(reg, peer, "the id moved to another node", FALSE, now);
		}
	}
	unlock_and_deliver(reg);
}

void p2plink_registry_remote_node_down(p2plink_registry *reg, const char *node) {
	if(node == NULL)
		return;
	g_mutex_lock(&reg->mutex);
	/* Once per node death: every local peer's counterparts are looked at (bounded by max_counterparts each) */
	GHashTableIter peers;
	gpointer value;
	g_hash_table_iter_init(&peers, reg->peers);
	while(g_hash_table_iter_next(&peers, NULL, &value)) {
		p2plink_peer *peer = value;
		peer_table_iter iter;
		gpointer key, where;
		peer_table_iter_init(&iter, peer->counterparts);
		while(peer_table_iter_next(&iter, &key, &where)) {
			if(where == NULL || strcmp(where, node) != 0)
				continue;
			size_t len;
			char *text = p2plink_frame_encode_relay(P2PLINK_MSG_LEAVE, key, peer->id, NULL, 0, &len);
			send_text_locked(reg, peer, text, len);
			g_free(text);
			g_hash_table_iter_remove(&iter.iter);
		}
	}
	g_mutex_unlock(&reg->mutex);
}

guint p2plink_registry_remote_retry(p2plink_registry *reg, gint64 now) {
	(void)now;
	guint routed = 0;
	g_mutex_lock(&reg->mutex);
	if(!reg->cluster || g_hash_table_size(reg->queues) == 0) {
		g_mutex_unlock(&reg->mutex);
		return 0;
	}
	/* Oldest first; a queue for an id held here waits for its owner (flushed on OPEN) */
	GSList *away = NULL;
	for(GList *l = reg->queue_order.head; l != NULL; l = l->next) {
		offline_queue *q = l->data;
		if(held_locked(reg, q->dst) == NULL)
			away = g_slist_prepend(away, q);
	}
	away = g_slist_reverse(away);
	for(GSList *l = away; l != NULL; l = l->next) {
		offline_queue *q = l->data;
		g_hash_table_steal(reg->queues, q->dst);
		for(GList *fl = q->frames.head; fl != NULL; fl = fl->next) {
			queued_frame *qf = fl->data;
			const char *grant = qf->grant;
			if(qf->src_node == NULL) {
				p2plink_peer *src = g_hash_table_lookup(reg->peers, qf->src);
				grant = src != NULL ? peer_table_lookup(src->grants, q->dst) : NULL;
			}
			p2plink_remote_frame f = { P2PLINK_REMOTE_RELAY, qf->type, qf->src, qf->src_owner,
				(char *)(grant ? grant : ""), (char *)(qf->src_node ? qf->src_node : reg->ops.node), q->created,
				qf->text, qf->len, qf->src_node == NULL ? ++reg->route_seq : 0 };
			route_body_locked(reg, q->dst, &f);
			routed++;
		}
		queue_free(reg, q);
	}
	g_slist_free(away);
	g_mutex_unlock(&reg->mutex);
	return routed;
}

void p2plink_registry_kick_remote(p2plink_registry *reg, const char *id) {
	g_mutex_lock(&reg->mutex);
	if(reg->cluster && id != NULL && p2plink_id_is_valid(id))
		cluster_notice_locked(reg, P2PLINK_REMOTE_KICK, id, "", NULL, 0);
	g_mutex_unlock(&reg->mutex);
}

gboolean p2plink_registry_holds(p2plink_registry *reg, const char *id, const char *owner) {
	g_mutex_lock(&reg->mutex);
	p2plink_peer *peer = id != NULL && owner != NULL ? held_locked(reg, id) : NULL;
	gboolean holds = peer != NULL && !peer->lease_lost && strcmp(peer->owner, owner) == 0;
	g_mutex_unlock(&reg->mutex);
	return holds;
}

static gint compare_ids(gconstpointer a, gconstpointer b) {
	json_t *x = *(json_t * const *)a, *y = *(json_t * const *)b;
	return strcmp(json_string_value(json_object_get(x, "id")), json_string_value(json_object_get(y, "id")));
}

json_t *cluster_list_peers(p2plink_registry *reg, guint offset, guint limit) {
	/* Asked before the lock: it waits for Redis */
	json_t *remote = reg->ops.remote_list();
	GPtrArray *all = g_ptr_array_new_with_free_func((GDestroyNotify)json_decref);
	g_mutex_lock(&reg->mutex);
	GHashTableIter iter;
	gpointer value;
	g_hash_table_iter_init(&iter, reg->peers);
	while(g_hash_table_iter_next(&iter, NULL, &value)) {
		json_t *info = peer_info_locked(value);
		json_object_set_new(info, "node", json_string(reg->ops.node));
		g_ptr_array_add(all, info);
	}
	size_t i;
	json_t *lease;
	json_array_foreach(remote, i, lease) {
		const char *id = json_string_value(json_object_get(lease, "id"));
		const char *node = json_string_value(json_object_get(lease, "node"));
		/* This node's own leases are its peers above (or reservations, not listed on one node either) */
		if(id == NULL || node == NULL || strcmp(node, reg->ops.node) == 0 || g_hash_table_contains(reg->peers, id))
			continue;
		g_ptr_array_add(all, json_pack("{s:s,s:s,s:b,s:b}", "id", id, "node", node, "connected", TRUE,
			"link_only", json_is_true(json_object_get(lease, "link_only"))));
	}
	g_mutex_unlock(&reg->mutex);
	g_ptr_array_sort(all, compare_ids);
	json_t *page = json_array();
	for(guint n = offset; n < all->len && json_array_size(page) < limit; n++)
		json_array_append(page, g_ptr_array_index(all, n));
	json_t *answer = json_pack("{s:o,s:i,s:i,s:i,s:b}", "peers", page, "total", (int)all->len, "offset", offset,
		"limit", limit, "cluster", remote != NULL);
	g_ptr_array_free(all, TRUE);
	json_decref(remote);
	return answer;
}

void p2plink_registry_set_remote_peers(p2plink_registry *reg, guint peers) {
	g_mutex_lock(&reg->mutex);
	reg->remote_peers = peers;
	g_mutex_unlock(&reg->mutex);
}

guint p2plink_registry_peer_count(p2plink_registry *reg) {
	g_mutex_lock(&reg->mutex);
	guint n = g_hash_table_size(reg->peers);
	g_mutex_unlock(&reg->mutex);
	return n;
}
