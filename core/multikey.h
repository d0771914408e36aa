/* multikey.h: running one command whose keys live on several shards, as an
 * ordered transaction (see txn.h). Called on the client's home shard. */
#ifndef RK_CORE_MULTIKEY_H
#define RK_CORE_MULTIKEY_H

#include <stdint.h>
#include "io/buf.h"

struct rk_client;
struct rk_command;

void multikey_run(struct rk_client *c, const struct rk_command *cmd, int argc, rk_slice *argv,
                  uint64_t shard_mask, const int *keypos, int nkeys);

/* Inside a running transaction whose participants include every shard of
 * the command's keys (EXEC): runs it atomically, appends its reply to
 * *reply, then calls done(t) on the coordinator. 0, or -1 when out of memory. */
int multikey_run_in_txn(struct rk_txn *t, const struct rk_command *cmd, int argc, rk_slice *argv, int dbid,
                        const int *keypos, int nkeys, rk_buf *reply, void (*done)(struct rk_txn *t));
/* Frees the state multikey_run_in_txn left in t (call before txn_finish). */
void multikey_release(struct rk_txn *t);

/* 0 when a key's group (MSET: key and value) runs past the arguments: the
 * command is malformed and must not be split. */
int multikey_args_complete(const struct rk_command *cmd, int argc, const int *keypos, int nkeys);

/* The EXEC transaction a whole-server command runs inside, or NULL. */
struct rk_txn *client_exec_txn(struct rk_client *c);
/* multi.c: continues EXEC after an owed reply arrived. */
void multi_exec_resume(struct rk_txn *t);

/* client.c hooks used by txn.c. */
int client_txn_begin(struct rk_client *c);
void client_txn_done(struct rk_client *c, rk_buf *reply);

struct rk_ctx;
struct rk_txn;
/* Runs ctx->cmd->proc with statistics and the slowlog (client.c). */
void cmd_call(struct rk_ctx *ctx);
/* The command asked to block (ctx_block): park the client (blocking.c). */
void client_block_from(struct rk_client *c, const struct rk_command *cmd, int argc, const rk_slice *argv,
                       double timeout);
/* A write changed this key: WATCH versions and blocked clients (multi.c, blocking.c). */
struct rk_shard;
struct rk_db;
void keyspace_touched(struct rk_shard *s, struct rk_db *db, rk_slice key);

#endif
