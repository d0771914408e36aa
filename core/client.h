/* client.h: one client connection, living on the shard that accepted it.
 *
 * Owner: the home shard's thread. Requests it sends to other shards carry
 * a pointer back to it, which only the home shard dereferences when the
 * reply returns. A client is freed only when its connection is gone AND no
 * request or transaction of it is in flight (`inflight` == 0), so a late
 * reply never finds freed memory.
 *
 * Reply order: each command takes the next reply slot; replies are written
 * to the socket strictly in slot order (see client.c). */
#ifndef RK_CORE_CLIENT_H
#define RK_CORE_CLIENT_H

#include <stdint.h>
#include "io/buf.h"
#include "io/loop.h"
#include "io/resp.h"

struct rk_shard;
struct rk_command;

enum rk_client_flag {
    CLIENT_AUTHENTICATED = 1u << 0,
    CLIENT_CLOSE_AFTER_REPLY = 1u << 1,
    CLIENT_CLOSE_ASAP = 1u << 2,
    CLIENT_REPLY_OFF = 1u << 3,
    CLIENT_REPLY_SKIP_NEXT = 1u << 4,
    CLIENT_REPLY_SKIP = 1u << 5,   /* the current command's reply is dropped */
    CLIENT_NO_EVICT = 1u << 6,
    CLIENT_NO_TOUCH = 1u << 7,
    CLIENT_IN_TXN = 1u << 8,       /* waiting for a multi-shard transaction */
    CLIENT_CONN_GONE = 1u << 9,    /* socket closed; freed when inflight drops to 0 */
    CLIENT_PUBSUB = 1u << 10,
    CLIENT_STALLED = 1u << 11,
    CLIENT_PROCESSING = 1u << 12,  /* inside process_input: completions must not re-enter it */
    CLIENT_BLOCKED = 1u << 13,     /* waiting on keys (blocking.c) */
    CLIENT_WAIT_BLOCKING = 1u << 14, /* a blocking command runs on another shard: input waits */     /* waiting in the shard's stalled list (txn.c) */
};

/* One reply that cannot be written yet because an earlier one is pending. */
typedef struct rk_reply_slot {
    struct rk_reply_slot *next;
    int done;
    rk_buf data;
} rk_reply_slot;

/* Bound on requests a client may have outstanding at other shards; when
 * reached the client stops parsing until replies return. */
#define CLIENT_MAX_INFLIGHT 1024

typedef struct rk_client {
    uint64_t id;
    struct rk_shard *home;
    rk_conn *conn;                 /* NULL once the connection is gone */
    struct rk_client *prev, *next; /* home shard's list */
    uint32_t flags;
    int db;
    int resp;
    char *name;                    /* CLIENT SETNAME, NULL when unset */
    char *lib_name, *lib_ver;      /* CLIENT SETINFO */
    char peer[64], local[64];
    int64_t ctime_ms, last_interaction_ms;
    const struct rk_command *last_cmd;

    rk_buf qbuf;                   /* unparsed input */
    resp_parser parser;
    resp_args args;
    uint64_t qbuf_peak;

    /* Ordered replies: slots for replies that wait behind a pending one. */
    rk_reply_slot *slots_head, *slots_tail;
    uint32_t inflight;             /* requests/transactions not yet answered */

    struct rk_multi_state *multi;  /* MULTI queue and WATCHed keys (multi.c), NULL when none */
    struct rk_blocked *blocked;    /* the command this client is blocked on (blocking.c) */
    /* While EXEC runs a whole-server command (multi.c): its transaction, the
     * buffer its synchronous replies go to, and how many replies are owed. */
    struct rk_txn *exec_txn;
    rk_buf *exec_redirect;
    int exec_pending, exec_waiting;

    /* Pub/Sub (pubsub.c): subscriptions of this client. */
    uint32_t nsubs, npsubs, nssubs;
    void *pubsub;                  /* pubsub.c's per-client state, NULL when none */

    /* Output-buffer soft-limit tracking. */
    int64_t obuf_soft_since_ms;
    uint64_t tot_net_in, tot_net_out, tot_cmds;
} rk_client;

/* The reply slot a command executing now should write to. Local commands
 * with nothing pending write straight into the connection's buffer. */
rk_buf *client_reply_buf(rk_client *c);
/* Frees a client whose connection is gone and nothing is in flight. */
void client_maybe_free(rk_client *c);
/* Marks the client for closing after its pending replies are sent. */
void client_close_after_reply(rk_client *c);
/* Formats the CLIENT LIST / CLIENT INFO line (Redis's fields) into out. */
void client_info_line(const rk_client *c, rk_buf *out);
/* Runs the client's parsed-but-unexecuted input again (after a pause ends). */
void client_resume(rk_client *c);

/* Event-loop callbacks (see io/loop.h) and per-shard client housekeeping. */
void *client_on_accept(void *shard, rk_conn *conn);
void client_on_data(void *client, const char *data, size_t len);
void client_on_close(void *client);
void clients_cron(struct rk_shard *s);
/* Checks the client's output buffer against its class's limits (pushes). */
void client_check_output_limits(rk_client *c);
/* Closes a client as soon as possible (CLIENT KILL, limits). */
void client_kill(rk_client *c);
/* Re-runs a blocked client's command through the normal routing (blocking.c). */
void client_rerun(rk_client *c, int argc, rk_slice *argv);
/* Next client id: unique across shards. */
uint64_t client_next_id(void);

#endif
