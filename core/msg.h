/* msg.h: the messages shards exchange through their mailboxes.
 *
 * A message is owned by exactly one thread at a time: the sender until
 * rk_mailbox_push() returns, then the receiver. Requests travel to the
 * owning shard and come back as replies in the same allocation. */
#ifndef RK_CORE_MSG_H
#define RK_CORE_MSG_H

#include <stdint.h>
#include "io/mailbox.h"
#include "io/buf.h"

struct rk_client;
struct rk_command;
struct rk_reply_slot;
struct rk_txn;
struct rk_shard;

enum rk_msg_type {
    MSG_REQ = 1,       /* single-shard command for the owner of its keys */
    MSG_REPLY,         /* the same request coming back with its reply */
    MSG_TXN_SCHEDULE,  /* coordinator -> participant */
    MSG_TXN_READY,     /* participant -> coordinator: promised and paused */
    MSG_TXN_REJECT,    /* participant -> coordinator: seq too old, retry */
    MSG_TXN_CANCEL,    /* coordinator -> participant */
    MSG_TXN_HOP,       /* coordinator -> participant: run t->hop */
    MSG_TXN_HOP_DONE,  /* participant -> coordinator */
    MSG_TXN_RELEASE,   /* coordinator -> participant: done, resume */
    MSG_BLOCK_FIRST = 32,  /* blocking.c's messages */
    MSG_BLOCK_LAST = 47,
    MSG_PUBSUB_FIRST = 48, /* pubsub.c's messages */
    MSG_PUBSUB_LAST = 63,
    MSG_MULTI_FIRST = 64,  /* multi.c's messages (WATCH bookkeeping) */
    MSG_MULTI_LAST = 79,
    MSG_PERSIST_FIRST = 80, /* storage/: snapshot, sink and save coordination */
    MSG_PERSIST_LAST = 95,
    MSG_LOAD_FIRST = 96,    /* storage/rdb_load.c's messages */
    MSG_LOAD_LAST = 111,
    MSG_AOF_FIRST = 112,    /* storage/aof*.c's messages (writer, loader, coordinator) */
    MSG_AOF_LAST = 143,
    MSG_REPL_FIRST = 144,   /* repl/'s messages (repl/repl.h): shards <-> the replication thread */
    MSG_REPL_LAST = 191,
    MSG_SCRIPT_ADD = 192,   /* core/script.c: a script compiled elsewhere, to cache here */
};

typedef struct rk_req {
    rk_msg m;
    struct rk_client *client;      /* dereferenced only on the home shard */
    struct rk_reply_slot *slot;    /* ditto */
    const struct rk_command *cmd;
    int home;
    int dbid;
    int resp;
    int argc;
    uint32_t client_flags;
    uint64_t client_id;
    rk_slice *argv;                /* points into the same allocation */
    rk_buf reply;
    int blocked;                   /* the command asked to block (ctx_block) */
    double block_timeout;
    rk_slice *block_argv;          /* ctx_block_argv's arguments, freed with the request */
} rk_req;

typedef struct rk_txn_msg {
    rk_msg m;
    struct rk_txn *t;              /* identity; dereferenced by participants only during a hop */
    struct rk_txn *exec;           /* HOP/HOP_DONE: the (sub-)transaction whose hop runs */
    uint64_t seq;
    int from;
} rk_txn_msg;

/* shard.c: sends a message to shard `to`. */
void shard_send(int to, rk_msg *m);
/* core/script.c: MSG_SCRIPT_ADD. */
struct rk_shard;
void script_handle_msg(struct rk_shard *s, void *msg);
/* client.c: handles a returning MSG_REPLY on the home shard. */
void client_handle_reply(rk_req *req);
/* client.c: runs a request from another shard's client here. */
void shard_exec_request(struct rk_shard *s, rk_req *req);
/* txn.c: queue remote work / stalled clients while the shard is paused. */
void txn_defer_msg(struct rk_shard *s, rk_msg *m);
void txn_stall_client(struct rk_shard *s, struct rk_client *c);
void txn_forget_client(struct rk_shard *s, struct rk_client *c);

#endif
