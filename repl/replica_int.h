/* replica_int.h: what repl/replica.c (the replication thread's side of a
 * replica) and repl/replica_shard.c (shard 0's side: the master client)
 * say to each other beyond repl/repl.h. Private to those two files.
 *
 * Flow of the applied stream: shard 0 batches the raw bytes of every
 * command its master client dispatched into replica_applied_msg
 * (MSG_REPL_APPLIED, at most REPLICA_APPLIED_CHUNK bytes each once full);
 * the replication thread feeds them to its backlog and its own replicas
 * and sends the same allocation back as MSG_REPL_APPLIED_BACK: a credit.
 * Bound: at most REPLICA_APPLIED_CREDITS messages in flight; without a
 * credit shard 0 pauses the master client's input (the bytes then wait in
 * the master's socket and output buffer, as Redis's do when a replica is
 * slow). */
#ifndef RK_REPL_REPLICA_INT_H
#define RK_REPL_REPLICA_INT_H

#include "repl/repl.h"

enum {
    /* repl thread -> shard 0: an APPLIED message comes back (a credit). */
    MSG_REPL_APPLIED_BACK = MSG_REPL_FIRST + 32,
};
_Static_assert((int)MSG_REPL_APPLIED_BACK <= (int)MSG_REPL_BLOCK4_LAST_, "replica messages stay in block 4");

#define REPLICA_APPLIED_CHUNK (64 * 1024)
#define REPLICA_APPLIED_CREDITS 8

/* MSG_REPL_APPLIED as shard 0 sends it: the public part first. */
typedef struct replica_applied_msg {
    repl_applied_msg a;          /* a.data: whole commands, in stream order */
    long long reploff;           /* shard 0's offset after the last byte of a.data */
    long long read_reploff;      /* reploff + the bytes received and not yet applied */
} replica_applied_msg;

#endif
