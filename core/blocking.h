/* blocking.h: clients blocked on keys (BLPOP, BZPOPMIN, BLMOVE, ...). */
#ifndef RK_CORE_BLOCKING_H
#define RK_CORE_BLOCKING_H

#include <stdint.h>
#include "io/buf.h"

struct rk_client;
struct rk_shard;
struct rk_db;

void blocking_handle_msg(struct rk_shard *s, void *msg);
/* Owner side: the key changed; a waiter may be served. */
void blocking_key_touched(struct rk_shard *s, struct rk_db *db, rk_slice key);
int blocking_active(const struct rk_shard *s);
/* Home side. */
int client_is_blocked(const struct rk_client *c);
/* A command that re-ran for a blocked client finished: blocked_again
 * tells whether it asked to block once more. */
void blocking_rerun_finished(struct rk_client *c, int blocked_again);
void blocking_client_gone(struct rk_client *c);
void blocking_cron(struct rk_shard *s);
uint64_t blocking_clients_here(const struct rk_shard *s);

#endif
