/* t_hash.h: the hash value type (OBJ_HASH), for its commands and for
 * whoever must read or build hashes without a client (RDB, tests, benches).
 *
 * Encodings, as Redis 7.0:
 *   ENC_LISTPACK  u.ptr is a listpack of field,value,field,value,...
 *   ENC_HT        u.ptr is a dict of rk_str* field -> rk_str* value
 * A listpack hash becomes a hashtable when it would hold more than
 * max_entries fields or a field/value longer than max_value bytes; the
 * conversion is one-way.
 *
 * Owner: the shard thread holding the object. Every function that changes a
 * hash leaves it intact when it fails (-1: out of memory). */
#ifndef RK_CORE_T_HASH_H
#define RK_CORE_T_HASH_H

#include <stdint.h>
#include "core/dict.h"
#include "core/object.h"

typedef struct hash_limits {
    long long max_entries; /* hash-max-listpack-entries */
    long long max_value;   /* hash-max-listpack-value */
} hash_limits;

/* An empty listpack-encoded hash object; NULL on allocation failure. */
rk_obj *hash_new(void);
unsigned long hash_length(const rk_obj *o);
/* Converts a listpack hash to a hashtable. 0 / -1 (o unchanged). */
int hash_convert_to_ht(rk_obj *o);

/* Sets field to value, converting first when the limits require it.
 * 1 when the field was added, 0 when it was updated, -1 on OOM. */
int hash_set(rk_obj *o, rk_slice field, rk_slice value, const hash_limits *lim);
/* 1 and *value (bytes valid until the hash changes, or in tmp for a
 * listpack integer) when found, 0 when absent, -1 on OOM. */
int hash_get(rk_obj *o, rk_slice field, rk_slice *value, char tmp[24]);
/* 1 deleted, 0 absent, -1 OOM (nothing deleted). */
int hash_delete(rk_obj *o, rk_slice field);

/* Visits every field/value pair; the hash must not change meanwhile. */
typedef struct hash_iter {
    rk_obj *o;
    unsigned char *next_field; /* listpack: the next pair's field entry */
    dict_iter di;              /* hashtable */
    char fbuf[24], vbuf[24];   /* listpack integers, formatted */
} hash_iter;
void hash_iter_init(hash_iter *it, rk_obj *o);
/* 1 with the pair (valid until the next call), 0 at the end. */
int hash_iter_next(hash_iter *it, rk_slice *field, rk_slice *value);
void hash_iter_release(hash_iter *it);

#endif
