/* aof_export.h: a dataset as Redis commands, the way Redis 7.0's
 * rewriteAppendOnlyFileRio writes an AOF without an RDB preamble:
 *   SELECT <db>            before the first key of a database (and again
 *                          whenever the database changes)
 *   SET key value          strings
 *   RPUSH key e1 .. en     lists, head to tail
 *   SADD key m1 .. mn      sets
 *   ZADD key s1 m1 ..      sorted sets, scores as "%.17g"
 *   HMSET key f1 v1 ..     hashes (Redis 7.0 writes HMSET, not HSET)
 *   PEXPIREAT key <ms>     after the value, when the key has a TTL
 * Collections are batched AOF_REWRITE_ITEMS_PER_CMD (64) items per command.
 *
 * Used by `ringkv-check-aof --export` (keys read from an RDB base) and by
 * the AOF rewrite when aof-use-rdb-preamble is no.
 *
 * Threads: an exporter belongs to its caller; it reads the values it is
 * given (which the caller's thread owns) and appends to the caller's buffer. */
#ifndef RK_STORAGE_AOF_EXPORT_H
#define RK_STORAGE_AOF_EXPORT_H
#include <stddef.h>
#include "core/object.h"
#include "io/buf.h"

/* The buffer is handed to `flush` whenever it holds at least this many
 * bytes between two items, so it stays below this plus one item (64 items
 * of a collection, or one string value). */
#define AOF_EXPORT_FLUSH_AT (64u * 1024)

typedef struct aof_exporter {
    rk_buf *out;
    int db;             /* the database the emitted stream has selected; -1 none yet */
    /* Drains out (write it somewhere, then clear it): 0, or -1 to stop the
     * export. NULL: out just grows. */
    int (*flush)(void *ud, rk_buf *out);
    void *ud;
    unsigned long long keys; /* keys exported */
} aof_exporter;

void aof_export_init(aof_exporter *x, rk_buf *out, int (*flush)(void *ud, rk_buf *out), void *ud);
/* Makes db the selected database of the emitted stream (a SELECT when it
 * differs). 0, or -1 (OOM or the flush failed). */
int aof_export_select(aof_exporter *x, int db);
/* Forgets which database is selected: the next select emits SELECT even
 * for the same number (at a file boundary, where the loader starts at 0). */
void aof_export_reset_db(aof_exporter *x);
/* One key: SELECT if needed, the commands that build val, and PEXPIREAT
 * when expire_ms >= 0. 0, -1 on OOM or a failed flush, -2 for a type that
 * has no AOF form here (streams, modules: ringkv stores none). */
int aof_export_key(aof_exporter *x, int db, const char *key, size_t klen, const rk_obj *val, long long expire_ms);
/* Hands whatever is buffered to flush. 0 / -1. */
int aof_export_flush(aof_exporter *x);

#endif
