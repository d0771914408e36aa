/* object.h: values stored in the keyspace, and the key strings.
 *
 * Owner: the shard thread whose keyspace holds the object. An object moves
 * to another shard only as a copy (obj_dup on the receiving side).
 *
 * Strings follow Redis's encodings so OBJECT ENCODING answers the same:
 *   int    - the value is a decimal int64 that round-trips exactly (<= 20 chars)
 *   embstr - up to OBJ_EMBSTR_MAX bytes, stored in the same allocation as the header
 *   raw    - a separately allocated rk_str with spare capacity (APPEND, SETRANGE)
 * Integers in [0, OBJ_SHARED_INTEGERS) report refcount 2147483647 like
 * Redis's shared integers (we do not actually share them). */
#ifndef RK_CORE_OBJECT_H
#define RK_CORE_OBJECT_H

#include <stddef.h>
#include <stdint.h>
#include "io/buf.h"

/* Redis's type and encoding numbers (RDB and OBJECT use them). */
enum { OBJ_STRING = 0, OBJ_LIST = 1, OBJ_SET = 2, OBJ_ZSET = 3, OBJ_HASH = 4, OBJ_STREAM = 6 };
enum {
    ENC_RAW = 0, ENC_INT = 1, ENC_HT = 2, ENC_ZIPMAP = 3, ENC_LINKEDLIST = 4, ENC_ZIPLIST = 5,
    ENC_INTSET = 6, ENC_SKIPLIST = 7, ENC_EMBSTR = 8, ENC_QUICKLIST = 9, ENC_STREAM = 10,
    ENC_LISTPACK = 11,
};

#define OBJ_EMBSTR_MAX 44
#define OBJ_SHARED_INTEGERS 10000
#define OBJ_MAX_STRING (512LL * 1024 * 1024) /* default proto-max-bulk-len */

/* A length-counted, NUL-terminated string in the shard's heap. */
typedef struct rk_str {
    uint32_t len;
    uint32_t cap; /* bytes available in data, excluding the NUL */
    char data[];
} rk_str;

typedef struct rk_obj {
    uint8_t type;
    uint8_t encoding;
    uint16_t reserved;
    uint32_t lru; /* LRU clock (seconds, 24 bits) of the last access */
    union {
        int64_t ival; /* ENC_INT */
        rk_str *str;  /* ENC_RAW, ENC_EMBSTR (points just past the header for embstr) */
        void *ptr;    /* other types */
    } u;
} rk_obj;

rk_str *rkstr_new(const void *p, size_t len);        /* cap == len */
rk_str *rkstr_new_cap(const void *p, size_t len, size_t cap);
void rkstr_free(rk_str *s);
/* Ensures capacity for len+extra (grows geometrically below 1 MiB like sds). NULL on failure, s untouched. */
rk_str *rkstr_grow(rk_str *s, size_t extra);
static inline rk_slice rkstr_slice(const rk_str *s) { return (rk_slice){s->data, s->len}; }

/* The key type of the keyspace dicts: rk_str*. */
uint64_t rkstr_hash(const void *key);
int rkstr_equal(const void *a, const void *b);
void rkstr_destructor(void *key);

/* String objects. All return NULL on allocation failure. */
rk_obj *obj_new_string(const void *p, size_t len);   /* picks int/embstr/raw as Redis's tryObjectEncoding */
rk_obj *obj_new_raw(const void *p, size_t len);      /* always raw (for values about to be modified) */
rk_obj *obj_new_int(int64_t v);                      /* int encoding */
rk_obj *obj_new_string_noint(const void *p, size_t len); /* embstr or raw, never int (Redis's createStringObject) */
rk_obj *obj_dup(const rk_obj *o);
void obj_free(rk_obj *o);
void obj_destructor(void *o);                        /* dict val_free */
/* Makes a string object raw in place (for APPEND/SETRANGE/SETBIT): may
 * reallocate, so the caller stores the returned pointer. NULL on failure (o intact). */
rk_obj *obj_make_raw(rk_obj *o, size_t extra_cap);
/* The bytes of a string object. For ENC_INT they are formatted into tmp
 * (at least 24 bytes), so the slice is valid while tmp is. */
rk_slice obj_string_bytes(const rk_obj *o, char tmp[24]);
size_t obj_string_len(const rk_obj *o);
const char *obj_type_name(int type);         /* "string", "list", ... */
const char *obj_encoding_name(int encoding); /* "int", "embstr", "raw", ... */
/* Bytes of heap this value holds (for DEBUG OBJECT serializedlength-like uses, MEMORY USAGE). */
size_t obj_heap_size(const rk_obj *o);

/* Number parsing as Redis does it (string2ll / string2ld / strtod rules). */
int rk_str2ll(const char *s, size_t len, long long *out);   /* 1 ok, 0 not an exact integer */
int rk_str2ld(const char *s, size_t len, long double *out); /* 1 ok */
int rk_str2d(const char *s, size_t len, double *out);       /* 1 ok; accepts inf/-inf, rejects nan */
int rk_ll2str(char *buf, size_t cap, long long v);          /* returns length */
/* A SCAN cursor as Redis parses it (strtoull rules, no leading space, no
 * trailing junk). 1 ok, 0 invalid ("ERR invalid cursor"). */
int rk_parse_scan_cursor(rk_slice s, uint64_t *out);

/* Hooks for the other value types (added by the string family's author):
 * each type's file registers how to copy, free and measure its u.ptr, so
 * obj_dup/obj_free/obj_heap_size work for every type. Register at start-up,
 * before shard threads run. */
typedef struct rk_obj_type_ops {
    void *(*dup_ptr)(const rk_obj *o);     /* a deep copy of o->u.ptr, NULL on OOM */
    void (*free_ptr)(rk_obj *o);           /* frees o->u.ptr (not o) */
    size_t (*heap_size)(const rk_obj *o);  /* bytes held by o->u.ptr */
} rk_obj_type_ops;
void obj_register_type(int type, const rk_obj_type_ops *ops);

#endif
