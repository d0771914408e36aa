/* pubsub.c: Pub/Sub (being written). */
#include "core/command.h"
#include "core/pubsub.h"

const rk_command rk_pubsub_commands[] = {{0}};
int pubsub_check_allowed(struct rk_client *c, const struct rk_command *cmd, rk_reply *r) { (void)c; (void)cmd; (void)r; return 0; }
void pubsub_handle_msg(struct rk_shard *s, rk_msg *m) { (void)s; (void)m; }
void pubsub_client_gone(struct rk_client *c) { (void)c; }
