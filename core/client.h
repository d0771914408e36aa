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
    CLIENT_WAIT_BLOCKING = 1u << 14, /* a blocking command runs on another shard: input waits */
    /* A replica's master client (client_adopt_master): no replies, and the
     * checks a master's stream must pass unrefused (READONLY, MASTERDOWN,
     * NOREPLICAS, MISCONF, OOM, CLIENT PAUSE, limits, timeout) are skipped. */
    CLIENT_MASTER = 1u << 15,
    CLIENT_INPUT_PAUSED = 1u << 16, /* client_set_input_paused: no parsing (a MULTI block finishes first) */
    CLIENT_DETACHING = 1u << 17,   /* client_detach_socket: no more input; the socket leaves when output is sent */
};

/* A replica's handshake values (REPLCONF), kept until PSYNC/SYNC hands the
 * socket to the replication thread. Home shard only; NULL until the first
 * REPLCONF. */
typedef struct rk_client_repl {
    long long listening_port;      /* REPLCONF listening-port, 0 unknown */
    char ip[256];                  /* REPLCONF ip-address, "" none (Redis's NET_HOST_STR_LEN bound) */
    int capa;                      /* REPL_CAPA_* (repl/repl.h) */
    int rdb_only;                  /* REPLCONF rdb-only 1 */
    int rdb_filter;                /* REPLCONF rdb-filter-only: the keyspace is excluded */
} rk_client_repl;

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

    rk_client_repl *repl;          /* REPLCONF values, NULL when none */
    /* Master client: the bytes of an open MULTI block, reported as applied
     * together when it closes (bounded by MULTI's own queue bound). */
    rk_buf master_pending;
    /* client_detach_socket: who takes the socket, and the home shard's list
     * of clients waiting for their output to drain (client.c). */
    void (*detach_fn)(struct rk_client *c, int fd, rk_buf *surplus, void *ud);
    void *detach_ud;
    struct rk_client *detach_next;

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

/* Once per loop iteration (shard.c's before_wait): detaches the sockets
 * whose output has drained (client_detach_socket). */
void clients_before_wait(struct rk_shard *s);

/* ---- replication (all on the home shard's thread) ----
 *
 * client_detach_socket: the client reads no more commands (bytes that
 * arrive go to its query buffer); as soon as nothing of it is in flight and
 * all its output is sent, its socket leaves the loop (rk_conn_take_fd) and
 * fn(c, fd, surplus, ud) runs with the fd (owned by fn from then on) and
 * the bytes received after the command running now (moved into *surplus:
 * fn owns them). The client is then closed without its socket being
 * touched again. fn never runs inside this call; it runs with fd -1 and
 * surplus NULL when the connection went away first or the fd could not be
 * taken (fn then frees ud's resources only). 0, or -1 when already
 * detaching (nothing changes). */
typedef void client_detach_fn(rk_client *c, int fd, rk_buf *surplus, void *ud);
int client_detach_socket(rk_client *c, client_detach_fn *fn, void *ud);

/* A replica's master client on shard s (on s's thread, inside its loop):
 * the connected socket fd joins s's loop (rk_loop_adopt) as an
 * authenticated client with CLIENT_MASTER, and the surplus bytes (already
 * read from the master past the sync) are processed as its first input.
 * The master-client hooks of g_shard_plugins (repl_master_applied) may run
 * for the surplus before this returns. NULL (errno set) when the loop
 * refused the fd or out of memory: the fd is then still the caller's.
 * Never counts against maxclients. */
rk_client *client_adopt_master(struct rk_shard *s, int fd, int dbid, const char *surplus, size_t n);
/* Raw bytes to the master client's socket (REPLCONF ACK), though its
 * command replies are suppressed. 0, or -1 when the connection is gone or
 * out of memory (the client is then closed). */
int client_master_write(rk_client *c, const char *p, size_t n);
/* Stops (on) or resumes (off) parsing and reading. A MULTI block already
 * begun is parsed to its end first (a pause never splits a transaction);
 * resuming re-runs the buffered input. */
void client_set_input_paused(rk_client *c, int on);
/* 1 when nothing of c is in flight (requests, transactions, blocked
 * commands) and no MULTI is open: every command parsed so far took effect. */
int client_idle(const rk_client *c);
/* The replication thread's view reaches shard s (MSG_REPL_STATE, on s's
 * thread): stored as s->repl_view. Until the first one, clients see the
 * view the config gives (a replica with its link down when replicaof is
 * set), as Redis is a replica from its first client. */
struct rk_repl_view;
void client_repl_view_set(struct rk_shard *s, const struct rk_repl_view *v);

#endif
