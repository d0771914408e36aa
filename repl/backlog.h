/* backlog.h: the replication backlog and the PSYNC decision (issue 6).
 *
 * Owner: the replication thread. Pure state: no I/O, no threads, no locks;
 * nothing here is safe to call from another thread.
 *
 * ---- Offsets (Redis's convention, reproduced) -----------------------------
 * master_repl_offset counts every byte of the merged stream ever produced
 * (repl_merge_offset). Byte number k of the stream (1-based) sits at offset
 * k, so after N bytes master_repl_offset == N and the next byte to come is
 * N + 1. A backlog created at master_repl_offset M starts empty with
 * first_byte_offset == M + 1 ("virtually the first byte we have is the next
 * byte that will be generated", createReplicationBacklog). After feeding it
 * holds the bytes [first_byte_offset, first_byte_offset + histlen), and
 * first_byte_offset + histlen == master_repl_offset + 1 always.
 * A replica's `PSYNC <replid> <offset>` sends ITS offset + 1: the first byte
 * it wants. offset == master_repl_offset + 1 is valid and means "nothing to
 * send".
 *
 * INFO numbers: repl_backlog_active (1 when a backlog exists),
 * repl_backlog_size (the configured size; with no backlog the caller prints
 * its config value), repl_backlog_first_byte_offset (0 with no backlog),
 * repl_backlog_histlen (0 with no backlog). They equal Redis 7.0's exactly
 * until the backlog has wrapped. Once more than size bytes were fed, this
 * ring keeps exactly the newest size bytes (histlen == size,
 * first_byte_offset == master_repl_offset - size + 1, Redis 6.2's numbers),
 * whereas Redis 7.0 trims its shared replication buffer by whole blocks
 * (16 KiB or larger, sized by the allocator), so its histlen is between size
 * and size + one block. That surplus depends on jemalloc's usable sizes and
 * cannot be reproduced; a replica lagging by size .. size + one block bytes
 * gets a full resync here where Redis 7.0 might continue.
 *
 * ---- Bounds ---------------------------------------------------------------
 * Memory: exactly size bytes of ring + the struct, allocated at create /
 * resize. feed never allocates and never fails. 1 <= size <= 2^62; the
 * caller clamps the config value to REPL_BACKLOG_MIN_SIZE as Redis does
 * (resizeReplicationBacklog); unit tests use smaller rings. */
#ifndef RK_REPL_BACKLOG_H
#define RK_REPL_BACKLOG_H

#include <stddef.h>

#include "io/buf.h"

/* Redis's CONFIG_REPL_BACKLOG_MIN_SIZE: repl-backlog-size below it is
 * raised to it (the caller applies this; create/resize take any size >= 1). */
#define REPL_BACKLOG_MIN_SIZE (16 * 1024LL)

typedef struct backlog backlog;

/* An empty backlog of size bytes whose next byte is master_repl_offset + 1.
 * NULL on size < 1, master_repl_offset < 0, or allocation failure. */
backlog *backlog_create(long long size, long long master_repl_offset);
void backlog_free(backlog *b); /* NULL is fine */

/* Appends len bytes of the merged stream (p may be NULL when len == 0):
 * master_repl_offset += len, the oldest bytes beyond size are dropped. */
void backlog_feed(backlog *b, const char *p, size_t len);

/* CONFIG SET repl-backlog-size: keeps the newest min(histlen, new_size)
 * bytes. 0, or -1 (new_size < 1 or allocation failure: nothing changed). */
int backlog_resize(backlog *b, long long new_size);

/* The bytes from offset (a PSYNC offset: the first byte wanted) to the end of
 * the stream, as at most two borrowed pieces in order, valid until the next
 * feed / resize / free. Returns the number of pieces (0 when offset ==
 * master_repl_offset + 1, else 1 or 2; unused pieces are {NULL, 0}), or -1
 * when b is NULL or offset is outside [first_byte_offset,
 * first_byte_offset + histlen]. */
int backlog_read_from(const backlog *b, long long offset, rk_slice out[2]);

/* INFO replication; all accept NULL (no backlog). */
int backlog_active(const backlog *b);
long long backlog_size(const backlog *b);             /* 0 with NULL */
long long backlog_first_byte_offset(const backlog *b); /* 0 with NULL */
long long backlog_histlen(const backlog *b);          /* 0 with NULL */
long long backlog_master_repl_offset(const backlog *b); /* 0 with NULL */

/* ---- PSYNC ---------------------------------------------------------------
 * The master's identity, as Redis keeps it: replid (40 hex chars), replid2
 * (the previous master's id after a promotion, else 40 '0's) valid up to and
 * including second_repl_offset (else -1), and master_repl_offset. */
#define REPL_ID_LEN 40
typedef struct repl_ids {
    char replid[REPL_ID_LEN + 1];
    char replid2[REPL_ID_LEN + 1];
    long long second_repl_offset;
    long long master_repl_offset;
} repl_ids;

enum { PSYNC_CONTINUE = 1, PSYNC_FULLRESYNC = 2 };

/* Why a full resync, one per log line of masterTryPartialResynchronization. */
enum {
    PSYNC_OK = 0,
    PSYNC_FORCED,        /* replid "?": "Full resync requested by replica %s" */
    PSYNC_ID_MISMATCH,   /* neither replid nor replid2: "Replication ID mismatch
                            (Replica asked for '%s', my replication IDs are
                            '%s' and '%s')" */
    PSYNC_ID2_TOO_FAR,   /* replid2 with offset > second_repl_offset: "Requested
                            offset for second ID was %lld, but I can reply up
                            to %lld" */
    PSYNC_NO_BACKLOG,    /* no backlog or offset outside it: "Unable to partial
                            resync with replica %s for lack of backlog (Replica
                            request was: %lld)." (+ warning below) */
};

typedef struct psync_decision {
    int action;          /* PSYNC_CONTINUE or PSYNC_FULLRESYNC */
    int reason;          /* PSYNC_OK with CONTINUE, else the reason above */
    int offset_ahead;    /* NO_BACKLOG and offset > master_repl_offset: Redis
                            also logs "Warning: replica %s tried to PSYNC with
                            an offset that is greater than the master
                            replication offset." */
    const char *replid;  /* the id to announce (always ids->replid, also when
                            the replica came with replid2), borrowed from ids */
    long long offset;    /* CONTINUE: the first byte to send (the PSYNC
                            offset); FULLRESYNC: ids->master_repl_offset (the
                            caller announces the offset of its cut) */
    rk_slice data[2];    /* CONTINUE: backlog_read_from(b, offset) */
    int npieces;
} psync_decision;

/* Redis 7.0's masterTryPartialResynchronization, decision only: ids compared
 * case-insensitively (strcasecmp); CONTINUE when the replica's replid equals
 * replid, or equals replid2 with offset <= second_repl_offset, AND a backlog
 * exists with first_byte_offset <= offset <= first_byte_offset + histlen;
 * FULLRESYNC otherwise (`PSYNC ? -1` included). replid is NUL-terminated (any
 * length); parsing the offset (an error reply on a non-integer) is the
 * caller's, as in syncCommand. Returns out->action. */
int psync_decide(const repl_ids *ids, const backlog *b, const char *replid, long long offset,
                 psync_decision *out);

/* The reply line for a decision: "+CONTINUE <replid>\r\n" (capa psync2) or
 * "+CONTINUE\r\n"; "+FULLRESYNC <replid> <fullresync_offset>\r\n". Returns
 * the length written (NUL-terminated), or -1 when cap is too small (128
 * always suffices). */
int psync_reply(const psync_decision *d, int capa_psync2, long long fullresync_offset, char *buf,
                size_t cap);

#endif
