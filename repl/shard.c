/* shard.c: replication's plugin in every shard loop. It only routes: the
 * MSG_REPL_* messages that reach a shard go to the module that owns their
 * block (repl/repl.h), and the feed gets its per-iteration slot.
 *
 * Thread: every shard, each for itself. */
#include <assert.h>
#include <stdlib.h>

#include "repl/repl.h"

static void route_msg(rk_shard *s, rk_msg *m)
{
    int t = m->type;
    if (t < MSG_REPL_FEED_START)
        repl_cmd_handle_msg(s, m);
    else if (t < MSG_REPL_SNAP_REQ)
        repl_feed_handle_msg(s, m);
    else if (t < MSG_REPL_MASTER_ATTACH)
        persist_repl_snapshot_msg(s, m);
    else if (t <= MSG_REPL_BLOCK4_LAST_)
        replica_shard_msg(s, m);
    else
        assert(0 && "MSG_REPL_* type without an owner");
}

static void on_tick(rk_shard *s)
{
    if (s->id == 0)
        replica_shard_on_tick(s);
}

void repl_install_plugins(void)
{
    g_shard_plugins.repl_on_tick = on_tick;
    replica_shard_install();
    repl_commands_install();
    g_shard_plugins.repl_msg = route_msg;
    g_shard_plugins.repl_before_wait = repl_feed_before_wait;
    g_shard_plugins.repl_on_stop = repl_feed_on_stop;
}
