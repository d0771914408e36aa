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

/* 0 when a key's group (MSET: key and value) runs past the arguments: the
 * command is malformed and must not be split. */
int multikey_args_complete(const struct rk_command *cmd, int argc, const int *keypos, int nkeys);

/* client.c hooks used by txn.c. */
int client_txn_begin(struct rk_client *c);
void client_txn_done(struct rk_client *c, rk_buf *reply);

struct rk_ctx;
/* Runs ctx->cmd->proc with statistics and the slowlog (client.c). */
void cmd_call(struct rk_ctx *ctx);

#endif
