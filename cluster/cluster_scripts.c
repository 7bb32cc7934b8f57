/*
 * cluster_scripts.c — the Lua scripts. See cluster_scripts.h.
 *
 * Why Lua and not MULTI: each operation reads before it writes (is the lease there, whose is it), and a script is
 * the only way Redis runs a read-then-write with nothing in between. Node ids and lease `since` are compared by
 * bytes and numbers here, never with Lua's `<` on strings: Redis sets LC_COLLATE from the environment, and strcoll
 * order would differ between nodes' expectations and the C rule in cluster_lease.c.
 */

#include <string.h>

#include <glib.h>

#include "cluster_scripts.h"

/* Shared helpers, prepended to the scripts that need them */
#define LUA_HELPERS \
	"local function before(a, b)\n" \
	"  local n = math.min(#a, #b)\n" \
	"  for i = 1, n do\n" \
	"    local x, y = string.byte(a, i), string.byte(b, i)\n" \
	"    if x ~= y then return x < y end\n" \
	"  end\n" \
	"  return #a < #b\n" \
	"end\n" \
	"local function part(s) return struct.pack('>I4', #s) .. s end\n"

/* CLAIM — KEYS: one lease key per id. ARGV: mode ("acquire" | "assert"), node, lease PX, key prefix, then per key
 * three values: peer id, owner hash, since (µs; ignored in acquire mode, where Redis TIME is used).
 * Applies the rule of cluster_lease.h to each key. New or taken leases are written as a hash {node, owner, since}
 * with PX; a taken lease's previous holder gets a drop envelope ('D', see cluster_envelope.h) on its channel.
 * Reply: three entries per key: decision ("new" | "mine" | "take" | "lose"), the previous (or, for "lose", the
 * current) holder node ("" when none), and the lease's since after the call; in acquire mode then one more: "1"
 * when the lease is marked link-only (a same-owner take-over keeps the mark: the peer stays hidden on its new
 * node), else "". A lease taken from another owner loses the mark. */
static const char script_claim[] = LUA_HELPERS
	"local mode, node, px, prefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4]\n"
	"local t = redis.call('TIME')\n"
	"local now = tonumber(t[1]) * 1000000 + tonumber(t[2])\n"
	"local out = {}\n"
	"for i, key in ipairs(KEYS) do\n"
	"  local id, owner = ARGV[2 + 3 * i], ARGV[3 + 3 * i]\n"
	"  local since = tonumber(ARGV[4 + 3 * i])\n"
	"  local cur = redis.call('HMGET', key, 'node', 'owner', 'since')\n"
	"  local cnode, cowner, csince = cur[1], cur[2], tonumber(cur[3] or '0')\n"
	"  local d\n"
	"  if not cnode then d = 'new'\n"
	"  elseif cowner == owner and cnode == node then d = 'mine'\n"
	"  elseif mode == 'acquire' then\n"
	"    if cowner == owner then d = 'take' else d = 'lose' end\n"
	"  elseif since == csince then\n"
	"    if before(node, cnode) then d = 'take' else d = 'lose' end\n"
	"  elseif (cowner == owner) == (since > csince) then d = 'take'\n"
	"  else d = 'lose' end\n"
	"  if mode == 'acquire' and (d == 'new' or d == 'take') then\n"
	"    since = now\n"
	"    if cnode and since <= csince then since = csince + 1 end\n"
	"  end\n"
	"  local s = string.format('%d', since)\n"
	"  if d == 'new' or d == 'take' then\n"
	"    redis.call('HSET', key, 'node', node, 'owner', owner, 'since', s)\n"
	"    if cowner and cowner ~= owner then redis.call('HDEL', key, 'lo') end\n"
	"    redis.call('PEXPIRE', key, px)\n"
	"    if d == 'take' then\n"
	"      local body = string.format('%d', csince) .. ' ' .. cowner\n"
	"      redis.call('PUBLISH', prefix .. 'node:' .. cnode, 'P2C1D' .. part(node) .. part(id) .. part(body))\n"
	"    end\n"
	"    out[#out + 1] = d; out[#out + 1] = cnode or ''; out[#out + 1] = s\n"
	"  elseif d == 'mine' then\n"
	"    redis.call('PEXPIRE', key, px)\n"
	"    out[#out + 1] = d; out[#out + 1] = cnode; out[#out + 1] = string.format('%d', csince)\n"
	"  else\n"
	"    out[#out + 1] = d; out[#out + 1] = cnode; out[#out + 1] = string.format('%d', csince)\n"
	"  end\n"
	"end\n"
	"if mode == 'acquire' then out[#out + 1] = redis.call('HGET', KEYS[1], 'lo') or '' end\n"
	"return out\n";

/* FLAG — KEYS[1]: the lease. ARGV: node, owner, "1" (link-only) or "" (not). Only the holder marks its lease.
 * Reply: 1 marked, 0 not this node's and owner's. */
static const char script_flag[] =
	"local cur = redis.call('HMGET', KEYS[1], 'node', 'owner')\n"
	"if cur[1] ~= ARGV[1] or cur[2] ~= ARGV[2] then return 0 end\n"
	"if ARGV[3] == '1' then redis.call('HSET', KEYS[1], 'lo', '1') else redis.call('HDEL', KEYS[1], 'lo') end\n"
	"return 1\n";

/* LIST — no keys (it reads what SCAN finds: a read-only script, never replicated as writes). ARGV: cursor, key
 * prefix, page size. Reply: the next cursor ("0" when done), then per lease found: id, node, link-only mark ("1"
 * or ""). A lease that expires between SCAN and HMGET is left out. */
static const char script_list[] =
	"local prefix = ARGV[2] .. 'id:'\n"
	"local page = redis.call('SCAN', ARGV[1], 'MATCH', prefix .. '*', 'COUNT', ARGV[3])\n"
	"local out = { page[1] }\n"
	"for _, key in ipairs(page[2]) do\n"
	"  local cur = redis.call('HMGET', key, 'node', 'lo')\n"
	"  if cur[1] then\n"
	"    out[#out + 1] = string.sub(key, #prefix + 1); out[#out + 1] = cur[1]; out[#out + 1] = cur[2] or ''\n"
	"  end\n"
	"end\n"
	"return out\n";

/* RELEASE — KEYS[1]: the lease. ARGV: node, owner. Deletes it only if it is still this node's and this owner's.
 * Reply: 1 deleted, 0 not ours (expired, or taken over since). */
static const char script_release[] =
	"local cur = redis.call('HMGET', KEYS[1], 'node', 'owner')\n"
	"if cur[1] == ARGV[1] and cur[2] == ARGV[2] then\n"
	"  redis.call('DEL', KEYS[1])\n"
	"  return 1\n"
	"end\n"
	"return 0\n";

/* ROUTE — KEYS[1]: the destination's lease. ARGV: this node, key prefix, the envelope.
 * Reply: {"sent", node} | {"undelivered", node} (its channel has no subscriber: the node lost Redis or died)
 * | {"self", node} (this node holds it: nothing published) | {"not-held", ""}. */
static const char script_route[] =
	"local n = redis.call('HGET', KEYS[1], 'node')\n"
	"if not n then return {'not-held', ''} end\n"
	"if n == ARGV[1] then return {'self', n} end\n"
	"if redis.call('PUBLISH', ARGV[2] .. 'node:' .. n, ARGV[3]) == 0 then return {'undelivered', n} end\n"
	"return {'sent', n}\n";

/* HEARTBEAT — KEYS[1]: the node set, KEYS[2]: this node's liveness key. ARGV: this node, its value
 * ("<incarnation> <peers>"), liveness PX, key prefix. Refreshes the key, and removes from the set every node whose
 * key expired. Reply: flat list node, value, node, value ... of the nodes alive (this one included). */
static const char script_heartbeat[] =
	"redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])\n"
	"redis.call('SADD', KEYS[1], ARGV[1])\n"
	"local out = {}\n"
	"for _, n in ipairs(redis.call('SMEMBERS', KEYS[1])) do\n"
	"  local v = redis.call('GET', ARGV[4] .. 'alive:' .. n)\n"
	"  if v then out[#out + 1] = n; out[#out + 1] = v\n"
	"  else redis.call('SREM', KEYS[1], n) end\n"
	"end\n"
	"return out\n";

static const char *const script_texts[P2PLINK_SCRIPT_COUNT] = {
	[P2PLINK_SCRIPT_CLAIM] = script_claim,
	[P2PLINK_SCRIPT_RELEASE] = script_release,
	[P2PLINK_SCRIPT_ROUTE] = script_route,
	[P2PLINK_SCRIPT_HEARTBEAT] = script_heartbeat,
	[P2PLINK_SCRIPT_FLAG] = script_flag,
	[P2PLINK_SCRIPT_LIST] = script_list,
};

const char *p2plink_cluster_script_text(p2plink_cluster_script_id id) {
	return script_texts[id];
}

const char *p2plink_cluster_script_sha(p2plink_cluster_script_id id) {
	static char *shas[P2PLINK_SCRIPT_COUNT];
	static gsize once = 0;
	if(g_once_init_enter(&once)) {
		for(int i = 0; i < P2PLINK_SCRIPT_COUNT; i++)
			shas[i] = g_compute_checksum_for_string(G_CHECKSUM_SHA1, script_texts[i], -1);
		g_once_init_leave(&once, 1);
	}
	return shas[id];
}
