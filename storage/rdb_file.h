/* rdb_file.h: whole RDB files. A writer that produces what Redis 7.0 writes
 * (version 10: header, AUX fields, per-database SELECTDB + RESIZEDB, keys
 * with optional millisecond expires, EOF, CRC-64) piece by piece into a
 * buffer or a file descriptor; and a reader for versions 1..12 that checks
 * the file as untrusted input and hands every key to a callback.
 *
 * Threads: a writer or a load belongs to the calling thread; values are
 * allocated on its heap. */
#ifndef RK_STORAGE_RDB_FILE_H
#define RK_STORAGE_RDB_FILE_H
#include <stddef.h>
#include <stdint.h>
#include "core/object.h"
#include "io/buf.h"
#include "storage/rdb_value.h"

#define RDB_FILE_MIN_VERSION 1
#define RDB_FILE_MAX_VERSION 12

/* Redis's RDB opcodes. */
enum {
    RDB_OPCODE_SLOT_INFO = 0xF4,
    RDB_OPCODE_FUNCTION2 = 0xF5,
    RDB_OPCODE_FUNCTION = 0xF6,
    RDB_OPCODE_MODULE_AUX = 0xF7,
    RDB_OPCODE_IDLE = 0xF8,
    RDB_OPCODE_FREQ = 0xF9,
    RDB_OPCODE_AUX = 0xFA,
    RDB_OPCODE_RESIZEDB = 0xFB,
    RDB_OPCODE_EXPIRETIME_MS = 0xFC,
    RDB_OPCODE_EXPIRETIME = 0xFD,
    RDB_OPCODE_SELECTDB = 0xFE,
    RDB_OPCODE_EOF = 0xFF,
};

/* ---- writing ----------------------------------------------------------- */

/* The AUX fields of the header, as Redis 7.0 writes them. */
typedef struct rdb_aux_info {
    long long ctime;       /* unix seconds */
    long long used_mem;    /* bytes */
    int repl_stream_db;
    char repl_id[41];      /* 40 hex digits + NUL */
    long long repl_offset;
    int aof_base;          /* 1 when the file is an AOF preamble */
    int omit_repl;         /* 1: no repl-stream-db, repl-id, repl-offset (Redis 7.0 writes
                              them only with replication info, rdbPopulateSaveInfo) */
    /* The function libraries at the cut (function_codes_blob), written
     * after the AUX fields as Redis writes them before the databases: a
     * FUNCTION2 record each (RDB), or FUNCTION LOAD commands (a RESP AOF
     * base). malloc'd; the sink that receives the start frees it. NULL: none
     * (with functions_len RDB_AUX_FUNCTIONS_OOM: they could not be
     * gathered, and the sink fails rather than write a file without them). */
    char *functions;
    size_t functions_len;
} rdb_aux_info;
#define RDB_AUX_FUNCTIONS_OOM ((size_t)-1)

/* Bytes are staged in `stage` and handed on (to `out` or `fd`) in chunks;
 * the CRC covers every byte handed on. Any failure is sticky in `failed`. */
typedef struct rdb_writer {
    rk_buf *out;      /* buffer sink, or NULL */
    int fd;           /* fd sink when out is NULL */
    int checksum;     /* rdbchecksum: 0 writes a zero CRC */
    int compress;     /* rdbcompression */
    int failed;       /* 0, or the errno of the first failure (ENOMEM, EIO...) */
    uint64_t crc;
    uint64_t written; /* bytes handed on */
    rk_buf stage;
    rk_buf value;     /* scratch: one serialized value */
} rdb_writer;

void rdb_writer_init_buf(rdb_writer *w, rk_buf *out, int checksum, int compress);
void rdb_writer_init_fd(rdb_writer *w, int fd, int checksum, int compress);
/* Frees the writer's scratch buffers (the sink is the caller's). */
void rdb_writer_release(rdb_writer *w);

/* Each returns 0, or -1 (w->failed set; the sink then holds a partial
 * file the caller discards). Order: header, then per database select_db
 * followed by its keys, then finish. */
int rdb_writer_header(rdb_writer *w, const rdb_aux_info *aux);
int rdb_writer_aux(rdb_writer *w, const char *name, const void *val, size_t vlen);
int rdb_writer_aux_int(rdb_writer *w, const char *name, long long v);
int rdb_writer_select_db(rdb_writer *w, int dbid, uint64_t db_size, uint64_t expires_size);
/* expire_ms < 0: no expire. */
int rdb_writer_key(rdb_writer *w, const void *key, size_t klen, const rk_obj *val, long long expire_ms);
/* One key record as Redis writes it ([EXPIRETIME_MS] [IDLE | FREQ] type key
 * value) appended to out, for writers that stage bytes themselves (the
 * snapshot). scratch is a reusable buffer. expire_ms, idle_s, freq < 0:
 * absent. 0, or -1 on allocation failure (out may hold a partial record). */
int rdb_put_key(rk_buf *out, rk_buf *scratch, const void *key, size_t klen, const rk_obj *val, long long expire_ms,
                long long idle_s, int freq, int compress);
/* One function library: the FUNCTION2 opcode and its code as a string. */
int rdb_writer_function(rdb_writer *w, const void *code, size_t len);
/* EOF, checksum, and the last flush. */
int rdb_writer_finish(rdb_writer *w);
/* Hands the staged bytes on (done automatically every 64 KiB). */
int rdb_writer_flush(rdb_writer *w);

/* ---- reading ----------------------------------------------------------- */

/* One key. `value` is the callee's (keep it or obj_free it); `key` is
 * borrowed and not NUL-terminated. expire_ms is -1 when the key has none. Return 0 to go on, or
 * non-zero to stop the load with an error. */
typedef int rdb_load_cb(void *ud, int dbid, const char *key, size_t klen, rk_obj *value, long long expire_ms);

/* Everything a checker wants to see; any hook may be NULL. Offsets are
 * where the item starts in the file. */
typedef struct rdb_load_hooks {
    rdb_load_cb *key;
    void (*version)(void *ud, int rdbver);
    void (*aux)(void *ud, size_t offset, const char *name, const char *val, size_t vlen);
    void (*select_db)(void *ud, size_t offset, int dbid);
    void (*resize_db)(void *ud, size_t offset, uint64_t db_size, uint64_t expires_size);
    /* status: 1 verified, 0 the file stores no checksum (zero or version < 5). */
    void (*checksum)(void *ud, size_t offset, int status);
    /* A function library (its code, decoded; borrowed for the call). */
    void (*function)(void *ud, size_t offset, const char *code, size_t len);
    const rdb_limits *limits; /* NULL: Redis's defaults */
} rdb_load_hooks;

/* ---- walking the structure without decoding values ---------------------- */

/* What the walker hands out, one file item at a time. */
enum rdb_item_kind { RDB_ITEM_AUX = 1, RDB_ITEM_SELECTDB, RDB_ITEM_RESIZEDB, RDB_ITEM_KEY, RDB_ITEM_EOF,
                     RDB_ITEM_FUNCTION };

typedef struct rdb_item {
    int kind;
    size_t offset;            /* the item's first byte: its opcode, or a key's type byte */
    int dbid;                 /* the database of a key; SELECTDB's new number */
    /* AUX: NUL-terminated, borrowed until the next call. */
    const char *aux_name, *aux_val;
    size_t aux_vlen;
    /* RESIZEDB */
    uint64_t db_size, expires_size;
    /* KEY */
    int type;                 /* RDB_TYPE_* */
    long long expire_ms;      /* -1: none */
    const char *key;          /* key bytes: into the file when key_in_file, else the
                                 walker's (NUL-terminated) copy, valid until the next call */
    size_t klen;
    int key_in_file;          /* the key is stored plainly, not integer or LZF encoded */
    size_t key_off;           /* the key's encoded string; the type byte is at key_off - 1 */
    size_t val_off, val_len;  /* the value body after the key (its size measured, not decoded) */
    /* FUNCTION: `type` is its opcode (FUNCTION2, or 7.0-rc's FUNCTION),
     * val_off/val_len the record after the opcode; the code, decoded (and
     * for FUNCTION turned into the shebang form), borrowed until the next call. */
    const char *func_code;
    size_t func_len;
    /* EOF: the CRC covers [0, offset + 1). */
    int checksum_stored;      /* 1: a non-zero CRC follows; 0: none (version < 5, or zeros) */
    uint64_t checksum;
} rdb_item;

/* Cursor over one file in memory. The walker reads the structure (header,
 * AUX, SELECTDB, RESIZEDB, EXPIRETIME(_MS), IDLE, FREQ, SLOT_INFO, key
 * records, EOF) and measures each value with rdb_value_skip_body. Never
 * reads outside [p, p+len); the first bad byte's offset lands in `bad`. */
typedef struct rdb_walker {
    const unsigned char *p;
    size_t len, pos;
    int rdbver;
    int dbid;
    int done;                 /* EOF handed out */
    unsigned char *scratch[2];/* rk_malloc'd copies behind the last item */
    rk_buf fn;                /* the last FUNCTION item's code */
    char *err;
    size_t errlen;
    size_t bad;
} rdb_walker;

/* Checks the header (signature, version 1..12). 0, or -1 with the reason in
 * err and the offset in w->bad. Release the walker either way. */
int rdb_walker_init(rdb_walker *w, const unsigned char *p, size_t len, char *err, size_t errlen);
/* The next item: 1, 0 once EOF was handed out, -1 on error (err, w->bad).
 * The stored checksum is not verified here: the caller has the bytes. */
int rdb_walker_next(rdb_walker *w, rdb_item *it);
void rdb_walker_release(rdb_walker *w);

/* ---- reading whole files ------------------------------------------------- */

/* Parses a whole file in p[0, len). 0 on success; -1 with the reason in err
 * and the offset of the first bad byte in *err_offset (may be NULL). */
int rdb_file_load(const unsigned char *p, size_t len, rdb_load_cb *cb, void *ud, char *err, size_t errlen,
                  size_t *err_offset);
int rdb_file_load_hooks(const unsigned char *p, size_t len, const rdb_load_hooks *hooks, void *ud, char *err,
                        size_t errlen, size_t *err_offset);

#endif
