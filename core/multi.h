/* multi.h: MULTI/EXEC/WATCH state of clients and the per-shard WATCH table. */
#ifndef RK_CORE_MULTI_H
#define RK_CORE_MULTI_H

#include <stdint.h>
#include "io/buf.h"
#include "io/reply.h"

struct rk_client;
struct rk_command;
struct rk_shard;
struct rk_db;

/* Dispatcher hooks (home shard). multi_intercept returns 1 when it took
 * the command (queued it, or answered an error), 0 to run it normally. */
int multi_active(const struct rk_client *c);
/* Commands queued (CLIENT LIST's multi=), -1 outside MULTI. */
int multi_queued(const struct rk_client *c);
int multi_intercept(struct rk_client *c, const struct rk_command *cmd, int argc, const rk_slice *argv);
/* A command was refused (unknown, arity, auth) while queuing: EXEC must abort. */
void multi_flag_error(struct rk_client *c);
/* RESET, and a connection going away: discard the queue, drop every WATCH. */
void multi_client_reset(struct rk_client *c);
/* The queued commands' flags: *has = OR of their flags, *lacks = OR of
 * their complements (Redis's mstate cmd_flags / cmd_inv_flags); 0 when none. */
void multi_queued_flags(const struct rk_client *c, uint32_t *has, uint32_t *lacks);
/* EXEC refused before it ran (READONLY, ...): discards the transaction and
 * answers "-EXECABORT Transaction discarded because of: <err>" as Redis. */
void multi_exec_abort(struct rk_client *c, const char *err);

/* Shard side: a key (or a whole db) changed; bumps WATCH versions. */
void watch_touch_key(struct rk_shard *s, int dbid, rk_slice key);
void watch_touch_db(struct rk_shard *s, struct rk_db *db);
int watch_active(const struct rk_shard *s);
void multi_handle_msg(struct rk_shard *s, void *msg);

#endif
