/* pubsub.h: Pub/Sub hooks the dispatcher and the shard call.
 *
 * Ownership (see pubsub.c): a channel or shard channel belongs to the shard
 * rk_key_shard(channel); patterns are registered on every shard; a client's
 * own subscriptions live on its home shard. Every function here runs on the
 * thread of the shard it is given (or the client's home shard). */
#ifndef RK_CORE_PUBSUB_H
#define RK_CORE_PUBSUB_H

#include <stdint.h>
#include "io/mailbox.h"
#include "io/reply.h"

struct rk_client;
struct rk_command;
struct rk_shard;

/* Called by the dispatcher before a command runs for client c. Returns 0 to
 * go on, or -1 after replying an error into r (RESP2 subscribed clients may
 * only run (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PING, QUIT and RESET). */
int pubsub_check_allowed(struct rk_client *c, const struct rk_command *cmd, rk_reply *r);
/* Messages of types MSG_PUBSUB_FIRST..MSG_PUBSUB_LAST arriving at shard s. */
void pubsub_handle_msg(struct rk_shard *s, rk_msg *m);
/* The client's connection is gone: drop its subscriptions everywhere. */
void pubsub_client_gone(struct rk_client *c);
/* RESET: drops every subscription of the client (no replies), clears
 * CLIENT_PUBSUB. Home shard only. */
void pubsub_client_reset(struct rk_client *c);
/* For INFO (run it in a hop on each shard): channels and shard channels
 * owned by s (sum them over shards), and patterns registered on s (every
 * shard holds all of them: take one shard's value, not the sum). */
void pubsub_shard_counts(struct rk_shard *s, uint64_t *channels, uint64_t *patterns,
                         uint64_t *shard_channels);

#endif
