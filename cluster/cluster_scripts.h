/*
 * cluster_scripts.h — the Lua scripts every cluster operation is made of, so each is one atomic step in Redis.
 *
 * What it is for: the script texts and their SHA-1s (computed here with GLib, so EVALSHA can be pipelined right
 * behind SCRIPT LOAD on a fresh connection without waiting for its answer). Arguments and replies are listed
 * with each script in cluster_scripts.c and in docs/cluster.md.
 * What it is not for: sending them (cluster.c).
 */

#ifndef P2PLINK_CLUSTER_SCRIPTS_H
#define P2PLINK_CLUSTER_SCRIPTS_H

typedef enum p2plink_cluster_script_id {
	P2PLINK_SCRIPT_CLAIM,		/* acquire / renew / re-assert leases */
	P2PLINK_SCRIPT_RELEASE,		/* compare-and-delete one lease */
	P2PLINK_SCRIPT_ROUTE,		/* lease lookup + PUBLISH to the holder's channel */
	P2PLINK_SCRIPT_HEARTBEAT,	/* refresh this node's liveness key, read the nodes alive */
	P2PLINK_SCRIPT_FLAG,		/* the holder marks its lease link-only (or not) */
	P2PLINK_SCRIPT_LIST,		/* one page of the ids held in the cluster, with node and link-only mark */
	P2PLINK_SCRIPT_COUNT
} p2plink_cluster_script_id;

const char *p2plink_cluster_script_text(p2plink_cluster_script_id id);
/* 40 lowercase hex digits; computed once, never freed */
const char *p2plink_cluster_script_sha(p2plink_cluster_script_id id);

#endif
