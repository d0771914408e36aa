/* rdb_value.h: one value in Redis's RDB encoding (type byte + value), the
 * unit DUMP/RESTORE exchange and RDB files are made of.
 *
 * Writing produces exactly what Redis 7.0 writes (RDB version 10) for the
 * same value and encoding; reading accepts what any RDB version 1..10 may
 * hold for strings, lists, sets, sorted sets and hashes, treats the input as
 * untrusted (every length is bounds-checked, blobs are validated) and builds
 * our own encodings, converting as the limits require.
 *
 * Threads: the functions touch only their arguments; objects are allocated
 * on the calling thread's heap (the shard that will own them). */
#ifndef RK_STORAGE_RDB_VALUE_H
#define RK_STORAGE_RDB_VALUE_H
#include <stddef.h>
#include <stdint.h>
#include "core/config.h"
#include "core/object.h"
#include "io/buf.h"

#define RDB_VERSION 10

/* Redis's RDB object type bytes. */
enum {
    RDB_TYPE_STRING = 0,
    RDB_TYPE_LIST = 1,
    RDB_TYPE_SET = 2,
    RDB_TYPE_ZSET = 3,
    RDB_TYPE_HASH = 4,
    RDB_TYPE_ZSET_2 = 5,
    RDB_TYPE_MODULE = 6,
    RDB_TYPE_MODULE_2 = 7,
    RDB_TYPE_HASH_ZIPMAP = 9,
    RDB_TYPE_LIST_ZIPLIST = 10,
    RDB_TYPE_SET_INTSET = 11,
    RDB_TYPE_ZSET_ZIPLIST = 12,
    RDB_TYPE_HASH_ZIPLIST = 13,
    RDB_TYPE_LIST_QUICKLIST = 14,
    RDB_TYPE_STREAM_LISTPACKS = 15,
    RDB_TYPE_HASH_LISTPACK = 16,
    RDB_TYPE_ZSET_LISTPACK = 17,
    RDB_TYPE_LIST_QUICKLIST_2 = 18,
    RDB_TYPE_STREAM_LISTPACKS_2 = 19,
    RDB_TYPE_SET_LISTPACK = 20,
    RDB_TYPE_STREAM_LISTPACKS_3 = 21,
};

/* The encoding thresholds a loaded value must respect. */
typedef struct rdb_limits {
    long long list_fill;                   /* list-max-listpack-size */
    long long hash_entries, hash_value;    /* hash-max-listpack-* */
    long long set_intset_entries;          /* set-max-intset-entries */
    long long zset_entries, zset_value;    /* zset-max-listpack-* */
} rdb_limits;

/* The limits of cfg, or Redis's defaults when cfg is NULL. */
void rdb_limits_from_config(rdb_limits *lim, const rk_config *cfg);

/* Appends o's type byte and value; strings longer than 20 bytes are LZF
 * compressed when `compress` and it saves space. 0, or -1 on allocation
 * failure (out may hold a partial value: the caller truncates). */
int rdb_value_write(rk_buf *out, const rk_obj *o, int compress);

/* Parses one type byte + value from p[0, len). On success returns the
 * object and sets *consumed; on failure returns NULL with a reason in err
 * (corrupt or unsupported input, or out of memory). lim NULL: defaults. */
rk_obj *rdb_value_read(const unsigned char *p, size_t len, size_t *consumed, int rdbver,
                       const rdb_limits *lim, char *err, size_t errlen);

/* Primitive writers (also for the snapshot writer). 0 / -1 on OOM. */
int rdb_write_len(rk_buf *out, uint64_t len);
int rdb_write_string(rk_buf *out, const void *p, size_t len, int compress);

/* For the RDB file reader, where the key sits between the type byte and the
 * value. On failure *consumed is how far parsing got (the bad byte's
 * offset, roughly); otherwise as rdb_value_read. */
rk_obj *rdb_value_read_body(int type, const unsigned char *p, size_t len, size_t *consumed, int rdbver,
                            const rdb_limits *lim, char *err, size_t errlen);
/* One RDB string (plain, integer or LZF encoded): rk_malloc'd, NUL
 * terminated bytes, or NULL with a reason; *consumed as above. */
unsigned char *rdb_read_string(const unsigned char *p, size_t len, size_t *consumed, size_t *outlen, char *err,
                               size_t errlen);
/* One RDB length (not a special encoding). 0, or -1 with a reason. */
int rdb_read_len(const unsigned char *p, size_t len, size_t *consumed, uint64_t *out, char *err, size_t errlen);

/* For the parallel loader, whose loading thread only finds where each value
 * ends and leaves the decoding to the shard owning the key. Measures one
 * value body (after the type byte) by walking its lengths and counts:
 * allocates nothing, decompresses nothing, does not validate blobs (the
 * decoder does). 0 with *consumed the body's size, or -1 with a reason
 * (truncated, impossible length, unsupported type) and *consumed how far
 * it got. Accepts exactly the types rdb_value_read_body accepts. */
int rdb_value_skip_body(int type, const unsigned char *p, size_t len, size_t *consumed, char *err, size_t errlen);
/* One RDB string without copying it: 1 when stored plainly (*data, *dlen
 * point into p), 0 when integer or LZF encoded (decode it with
 * rdb_read_string), -1 with a reason. *consumed is its encoded size (or how
 * far parsing got on error). */
int rdb_string_view(const unsigned char *p, size_t len, size_t *consumed, const unsigned char **data, size_t *dlen,
                    char *err, size_t errlen);

#endif
