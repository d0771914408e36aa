/* pubsub.h: Pub/Sub hooks the dispatcher and the shard call. */
#ifndef RK_CORE_PUBSUB_H
#define RK_CORE_PUBSUB_H

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

#endif
