/* stream.h: the stream value (OBJ_STREAM, ENC_STREAM) and its consumer
 * groups. Owner: the shard thread holding the key, like every value.
 *
 * Model (differs from Redis's rax of listpacks, see docs/architecture.md):
 *   entries   a vector of live entries sorted by ID: e[head .. head+n).
 *             XADD appends (IDs only grow), trimming advances head, XDEL
 *             closes the gap. Seeks are binary searches: O(log n).
 *   groups    sorted by name (byte order, as Redis's rax lists them); each
 *             holds its PEL (nacks sorted by ID) and its consumers (sorted
 *             by name), each consumer the sorted IDs it owns.
 * The RDB form (Redis's listpack nodes) is built and parsed by
 * storage/rdb_value.c with stream_node_* below.
 *
 * Invariants (stream_check asserts them in debug paths and after loads):
 *   entry IDs strictly increase and are <= last_id;
 *   every consumer PEL ID has a nack in its group naming that consumer,
 *   and every nack is in its consumer's PEL. */
#ifndef RK_CORE_STREAM_H
#define RK_CORE_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "core/object.h"

typedef struct sid {
    uint64_t ms, seq;
} sid;

/* One entry: 2*nfields strings, each a 4-byte length then its bytes. */
typedef struct s_entry {
    sid id;
    uint32_t nfields;
    uint32_t bytes; /* of data */
    unsigned char data[];
} s_entry;

typedef struct s_consumer {
    rk_str *name;
    int64_t seen_time;
    sid *pel; /* sorted */
    size_t npel, cap;
} s_consumer;

typedef struct s_nack {
    sid id;
    int64_t delivery_time;
    uint64_t delivery_count;
    s_consumer *consumer;
} s_nack;

#define SCG_INVALID_ENTRIES_READ (-1)

typedef struct s_group {
    rk_str *name;
    sid last_id;
    int64_t entries_read;
    s_nack *pel; /* sorted by id */
    size_t npel, cap;
    s_consumer **cons; /* sorted by name */
    size_t ncons, capc;
} s_group;

typedef struct stream {
    s_entry **e;
    size_t head, n, cap;
    sid last_id, first_id, max_deleted;
    uint64_t entries_added;
    s_group **g; /* sorted by name */
    size_t ng, capg;
} stream;

static inline s_entry *stream_at(const stream *s, size_t i) { return s->e[s->head + i]; }

int sid_cmp(const sid *a, const sid *b);
int sid_incr(sid *id); /* 0, or -1 at the maximum */
int sid_decr(sid *id); /* 0, or -1 at 0-0 */
static inline int sid_is_zero(const sid *id) { return id->ms == 0 && id->seq == 0; }
/* "ms-seq" into buf (at least 44 bytes); returns the length. */
int sid_format(char *buf, const sid *id);
void sid_encode(unsigned char out[16], const sid *id); /* big endian */
void sid_decode(const unsigned char in[16], sid *id);

rk_obj *stream_new_obj(void); /* an empty stream value; NULL on OOM */
stream *stream_of(const rk_obj *o);

/* An entry from field/value pairs (2*nfields slices); NULL on OOM. */
s_entry *stream_entry_new(sid id, uint32_t nfields, const rk_slice *fv);
/* The i-th string (0 <= i < 2*nfields) of an entry. */
rk_slice stream_entry_str(const s_entry *e, uint32_t i);
/* Appends an entry whose ID is above every entry's (takes it). 0 / -1 OOM. */
int stream_append(stream *s, s_entry *e);
/* Index of the first entry with ID >= id (s->n when none). */
size_t stream_seek(const stream *s, const sid *id);
/* The entry with exactly this ID, or NULL. */
s_entry *stream_find(const stream *s, const sid *id);
/* Removes entry i (0-based among live entries). */
void stream_remove_at(stream *s, size_t i);
/* Drops the first k entries. */
void stream_drop_front(stream *s, size_t k);
/* first_id after removals: the first live entry's ID, or 0-0 when empty. */
void stream_refresh_first_id(stream *s);

s_group *stream_group_find(const stream *s, const char *name, size_t len);
/* A new group; NULL when it exists (*exists set) or on OOM. */
s_group *stream_group_create(stream *s, const char *name, size_t len, sid last_id, int64_t entries_read, int *exists);
void stream_group_destroy(stream *s, s_group *g);

s_consumer *stream_consumer_find(const s_group *g, const char *name, size_t len);
s_consumer *stream_consumer_create(s_group *g, const char *name, size_t len, int64_t now); /* NULL on OOM */
/* Deletes the consumer and its pending entries; returns how many it had. */
size_t stream_consumer_delete(s_group *g, s_consumer *c);

/* The nack with this ID, or NULL. */
s_nack *stream_nack_find(const s_group *g, const sid *id);
/* Index of the first nack with ID >= id. */
size_t stream_nack_seek(const s_group *g, const sid *id);
/* Adds a nack owned by c (which must be absent). NULL on OOM. */
s_nack *stream_nack_add(s_group *g, const sid *id, s_consumer *c, int64_t time, uint64_t count);
/* Removes a nack (and its ID from its consumer's PEL). */
void stream_nack_remove(s_group *g, const sid *id);
/* Moves a nack to consumer c (c may be its owner). 0 / -1 OOM. */
int stream_nack_assign(s_group *g, s_nack *n, s_consumer *c);
/* Index of the first ID >= id in a consumer's PEL. */
size_t stream_consumer_seek(const s_consumer *c, const sid *id);

size_t stream_heap_size(const stream *s);
/* The commands that rebuild the value at key (Redis's rewriteStreamObject:
 * XADD per entry, XSETID, XGROUP CREATE, XCLAIM ... JUSTID FORCE per
 * pending entry, XGROUP CREATECONSUMER for idle consumers). emit returns
 * 0, or -1 to stop (returned). */
typedef int stream_emit_fn(void *ud, int argc, const rk_slice *argv);
int stream_emit_commands(const rk_obj *o, rk_slice key, stream_emit_fn *emit, void *ud);
/* Asserts the invariants above; returns 0, or -1 (with why) when a loaded
 * value breaks them. */
int stream_validate(const stream *s, const char **why);

#endif
