/* rdb_file.c: whole RDB files (see rdb_file.h): the version-10 writer and
 * the version 1..12 reader. Values themselves are rdb_value.c's business.
 *
 * Threads: the caller's; nothing here is shared.
 *
 * Invariants: the writer's CRC covers exactly the bytes handed to the sink,
 * in order; after a failure it writes nothing more. The reader never reads
 * outside [p, p+len), reports the first bad byte's offset, and frees any
 * value it built but could not hand over. */
#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/alloc.h"
#include "storage/crc64.h"
#include "storage/rdb_file.h"

#define RDB_REDIS_VER "7.0.15"
#define RDB_FLUSH_AT (64 * 1024)

/* ======================================================================
 * Writing
 * ====================================================================== */

static void writer_init(rdb_writer *w, rk_buf *out, int fd, int checksum, int compress)
{
    memset(w, 0, sizeof *w);
    w->out = out;
    w->fd = fd;
    w->checksum = checksum;
    w->compress = compress;
    rk_buf_init(&w->stage);
    rk_buf_init(&w->value);
}

void rdb_writer_init_buf(rdb_writer *w, rk_buf *out, int checksum, int compress)
{
    assert(out);
    writer_init(w, out, -1, checksum, compress);
}

void rdb_writer_init_fd(rdb_writer *w, int fd, int checksum, int compress)
{
    assert(fd >= 0);
    writer_init(w, NULL, fd, checksum, compress);
}

void rdb_writer_release(rdb_writer *w)
{
    rk_buf_free(&w->stage);
    rk_buf_free(&w->value);
}

static int writer_fail(rdb_writer *w, int err)
{
    if (!w->failed)
        w->failed = err ? err : EIO;
    return -1;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

int rdb_writer_flush(rdb_writer *w)
{
    if (w->failed)
        return -1;
    if (w->stage.len == 0)
        return 0;
    if (w->out) {
        if (rk_buf_append(w->out, w->stage.data, w->stage.len) != 0)
            return writer_fail(w, ENOMEM);
    } else if (write_all(w->fd, w->stage.data, w->stage.len) != 0) {
        return writer_fail(w, errno);
    }
    w->crc = rk_crc64(w->crc, w->stage.data, w->stage.len);
    w->written += w->stage.len;
    rk_buf_clear(&w->stage);
    return 0;
}

/* Runs after each piece: a failed append is recorded, a full stage flushed. */
static int staged(rdb_writer *w, int rc)
{
    if (rc != 0)
        return writer_fail(w, ENOMEM);
    if (w->stage.len >= RDB_FLUSH_AT)
        return rdb_writer_flush(w);
    return 0;
}

static int put_byte(rdb_writer *w, unsigned char b)
{
    return rk_buf_append(&w->stage, &b, 1);
}

int rdb_writer_aux(rdb_writer *w, const char *name, const void *val, size_t vlen)
{
    if (w->failed)
        return -1;
    int rc = put_byte(w, RDB_OPCODE_AUX);
    if (rc == 0)
        rc = rdb_write_string(&w->stage, name, strlen(name), w->compress);
    if (rc == 0)
        rc = rdb_write_string(&w->stage, val, vlen, w->compress);
    return staged(w, rc);
}

int rdb_writer_aux_int(rdb_writer *w, const char *name, long long v)
{
    char num[24];
    int n = rk_ll2str(num, sizeof num, v);
    return rdb_writer_aux(w, name, num, (size_t)n);
}

int rdb_writer_header(rdb_writer *w, const rdb_aux_info *aux)
{
    char magic[16];
    int n = snprintf(magic, sizeof magic, "REDIS%04d", RDB_VERSION);
    if (w->failed)
        return -1;
    if (staged(w, rk_buf_append(&w->stage, magic, (size_t)n)) != 0)
        return -1;
    /* Same fields, same order, as Redis 7.0's rdbSaveInfoAuxFields. */
    if (rdb_writer_aux(w, "redis-ver", RDB_REDIS_VER, strlen(RDB_REDIS_VER)) != 0 ||
        rdb_writer_aux_int(w, "redis-bits", (long long)(sizeof(void *) * 8)) != 0 ||
        rdb_writer_aux_int(w, "ctime", aux->ctime) != 0 || rdb_writer_aux_int(w, "used-mem", aux->used_mem) != 0 ||
        rdb_writer_aux_int(w, "repl-stream-db", aux->repl_stream_db) != 0 ||
        rdb_writer_aux(w, "repl-id", aux->repl_id, strnlen(aux->repl_id, sizeof aux->repl_id)) != 0 ||
        rdb_writer_aux_int(w, "repl-offset", aux->repl_offset) != 0 ||
        rdb_writer_aux_int(w, "aof-base", aux->aof_base) != 0)
        return -1;
    return 0;
}

int rdb_writer_select_db(rdb_writer *w, int dbid, uint64_t db_size, uint64_t expires_size)
{
    assert(dbid >= 0);
    if (w->failed)
        return -1;
    int rc = put_byte(w, RDB_OPCODE_SELECTDB);
    if (rc == 0)
        rc = rdb_write_len(&w->stage, (uint64_t)dbid);
    if (rc == 0)
        rc = put_byte(w, RDB_OPCODE_RESIZEDB);
    if (rc == 0)
        rc = rdb_write_len(&w->stage, db_size);
    if (rc == 0)
        rc = rdb_write_len(&w->stage, expires_size);
    return staged(w, rc);
}

static int put_u64le(rk_buf *b, uint64_t v)
{
    unsigned char le[8];
    for (int i = 0; i < 8; i++)
        le[i] = (unsigned char)(v >> (8 * i));
    return rk_buf_append(b, le, 8);
}

int rdb_writer_key(rdb_writer *w, const void *key, size_t klen, const rk_obj *val, long long expire_ms)
{
    if (w->failed)
        return -1;
    /* rdb_value_write emits type + value; the file wants type, key, value. */
    rk_buf_clear(&w->value);
    if (rdb_value_write(&w->value, val, w->compress) != 0)
        return writer_fail(w, ENOMEM);
    assert(w->value.len >= 1);
    int rc = 0;
    if (expire_ms >= 0) {
        rc = put_byte(w, RDB_OPCODE_EXPIRETIME_MS);
        if (rc == 0)
            rc = put_u64le(&w->stage, (uint64_t)expire_ms);
    }
    if (rc == 0)
        rc = put_byte(w, (unsigned char)w->value.data[0]);
    if (rc == 0)
        rc = rdb_write_string(&w->stage, key, klen, w->compress);
    if (rc == 0)
        rc = rk_buf_append(&w->stage, w->value.data + 1, w->value.len - 1);
    return staged(w, rc);
}

int rdb_writer_finish(rdb_writer *w)
{
    if (w->failed)
        return -1;
    /* The CRC covers the EOF byte: flush it first, then append the CRC. */
    if (staged(w, put_byte(w, RDB_OPCODE_EOF)) != 0 || rdb_writer_flush(w) != 0)
        return -1;
    uint64_t crc = w->checksum ? w->crc : 0;
    if (staged(w, put_u64le(&w->stage, crc)) != 0)
        return -1;
    return rdb_writer_flush(w);
}

/* ======================================================================
 * Reading
 * ====================================================================== */

typedef struct loader {
    const unsigned char *p;
    size_t len, pos;
    int rdbver;
    const rdb_load_hooks *hooks;
    void *ud;
    char *err;
    size_t errlen;
    size_t bad; /* offset of the first bad byte */
} loader;

/* Records the failure at offset `at`. */
__attribute__((format(printf, 3, 4))) static int lfail(loader *l, size_t at, const char *fmt, ...)
{
    if (l->err && l->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(l->err, l->errlen, fmt, ap);
        va_end(ap);
    }
    l->bad = at;
    return -1;
}

static int need(loader *l, size_t n, const char *what)
{
    if (l->len - l->pos < n)
        return lfail(l, l->len, "unexpected end of file reading %s", what);
    return 0;
}

static uint64_t get_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static int load_len(loader *l, uint64_t *out, const char *what)
{
    char why[96];
    size_t used = 0;
    if (rdb_read_len(l->p + l->pos, l->len - l->pos, &used, out, why, sizeof why) != 0)
        return lfail(l, l->pos + used, "bad %s: %s", what, why);
    l->pos += used;
    return 0;
}

/* An rk_malloc'd, NUL-terminated string. */
static unsigned char *load_str(loader *l, size_t *slen, const char *what)
{
    char why[96];
    size_t used = 0;
    unsigned char *s = rdb_read_string(l->p + l->pos, l->len - l->pos, &used, slen, why, sizeof why);
    if (!s) {
        lfail(l, l->pos + used, "bad %s: %s", what, why);
        return NULL;
    }
    l->pos += used;
    return s;
}

static int load_header(loader *l)
{
    if (need(l, 9, "the header") != 0)
        return -1;
    if (memcmp(l->p, "REDIS", 5) != 0)
        return lfail(l, 0, "wrong signature: not an RDB file");
    int ver = 0;
    for (int i = 5; i < 9; i++) {
        if (l->p[i] < '0' || l->p[i] > '9')
            return lfail(l, (size_t)i, "bad RDB version number");
        ver = ver * 10 + (l->p[i] - '0');
    }
    if (ver < RDB_FILE_MIN_VERSION || ver > RDB_FILE_MAX_VERSION)
        return lfail(l, 5, "can't handle RDB format version %d", ver);
    l->rdbver = ver;
    l->pos = 9;
    if (l->hooks->version)
        l->hooks->version(l->ud, ver);
    return 0;
}

static int load_aux(loader *l, size_t at)
{
    size_t nlen, vlen;
    unsigned char *name = load_str(l, &nlen, "AUX field name");
    if (!name)
        return -1;
    unsigned char *val = load_str(l, &vlen, "AUX field value");
    if (!val) {
        rk_free(name);
        return -1;
    }
    if (l->hooks->aux)
        l->hooks->aux(l->ud, at, (const char *)name, (const char *)val, vlen);
    rk_free(name);
    rk_free(val);
    return 0;
}

/* Type byte at `at` (already consumed), then key, then value. */
static int load_key(loader *l, size_t at, int type, int dbid, long long expire_ms)
{
    size_t klen;
    unsigned char *key = load_str(l, &klen, "key");
    if (!key)
        return -1;
    char why[128];
    size_t used = 0;
    /* Value encodings did not change after version 10 for the types we read. */
    int valver = l->rdbver > RDB_VERSION ? RDB_VERSION : l->rdbver;
    rk_obj *val = rdb_value_read_body(type, l->p + l->pos, l->len - l->pos, &used, valver, l->hooks->limits, why,
                                      sizeof why);
    if (!val) {
        int rc = lfail(l, l->pos + used, "bad value of key '%.64s' (type %d at offset %zu): %s", (char *)key, type,
                       at, why);
        rk_free(key);
        return rc;
    }
    l->pos += used;
    int rc = 0;
    if (l->hooks->key)
        rc = l->hooks->key(l->ud, dbid, (const char *)key, klen, val, expire_ms);
    else
        obj_free(val);
    if (rc != 0)
        rc = lfail(l, at, "loading stopped at key '%.64s'", (char *)key);
    rk_free(key);
    return rc;
}

static int load_checksum(loader *l)
{
    if (l->rdbver < 5) {
        if (l->hooks->checksum)
            l->hooks->checksum(l->ud, l->pos, 0);
        return 0;
    }
    /* The CRC covers everything up to and including the EOF byte. */
    size_t at = l->pos;
    if (need(l, 8, "the checksum") != 0)
        return -1;
    uint64_t stored = get_le(l->p + at, 8);
    l->pos += 8;
    if (stored == 0) {
        if (l->hooks->checksum)
            l->hooks->checksum(l->ud, at, 0);
        return 0;
    }
    uint64_t actual = rk_crc64(0, l->p, at);
    if (stored != actual)
        return lfail(l, at, "RDB CRC error: stored checksum %016llx, computed %016llx", (unsigned long long)stored,
                     (unsigned long long)actual);
    if (l->hooks->checksum)
        l->hooks->checksum(l->ud, at, 1);
    return 0;
}

static int load_body(loader *l)
{
    int dbid = 0;
    long long expire_ms = -1;
    for (;;) {
        size_t at = l->pos;
        if (need(l, 1, "an opcode") != 0)
            return -1;
        int op = l->p[l->pos++];
        uint64_t a, b;
        switch (op) {
        case RDB_OPCODE_EOF:
            return load_checksum(l);
        case RDB_OPCODE_AUX:
            if (load_aux(l, at) != 0)
                return -1;
            continue;
        case RDB_OPCODE_SELECTDB:
            if (load_len(l, &a, "database number") != 0)
                return -1;
            if (a > INT_MAX)
                return lfail(l, at + 1, "database number %llu out of range", (unsigned long long)a);
            dbid = (int)a;
            if (l->hooks->select_db)
                l->hooks->select_db(l->ud, at, dbid);
            continue;
        case RDB_OPCODE_RESIZEDB:
            if (load_len(l, &a, "database size") != 0 || load_len(l, &b, "expires size") != 0)
                return -1;
            if (l->hooks->resize_db)
                l->hooks->resize_db(l->ud, at, a, b);
            continue;
        case RDB_OPCODE_SLOT_INFO:
            /* Cluster slot sizing hints (version 12): slot, size, expires size. */
            if (load_len(l, &a, "slot id") != 0 || load_len(l, &b, "slot size") != 0 ||
                load_len(l, &b, "slot expires size") != 0)
                return -1;
            continue;
        case RDB_OPCODE_EXPIRETIME:
            if (need(l, 4, "an expire time") != 0)
                return -1;
            expire_ms = (long long)(int32_t)(uint32_t)get_le(l->p + l->pos, 4) * 1000;
            l->pos += 4;
            continue;
        case RDB_OPCODE_EXPIRETIME_MS:
            if (need(l, 8, "an expire time") != 0)
                return -1;
            expire_ms = (long long)get_le(l->p + l->pos, 8);
            l->pos += 8;
            continue;
        case RDB_OPCODE_FREQ:
            if (need(l, 1, "an LFU frequency") != 0)
                return -1;
            l->pos++;
            continue;
        case RDB_OPCODE_IDLE:
            if (load_len(l, &a, "LRU idle time") != 0)
                return -1;
            continue;
        case RDB_OPCODE_MODULE_AUX:
            return lfail(l, at, "module auxiliary data is not supported");
        case RDB_OPCODE_FUNCTION2:
        case RDB_OPCODE_FUNCTION:
            return lfail(l, at, "functions are not supported");
        default:
            if (load_key(l, at, op, dbid, expire_ms) != 0)
                return -1;
            expire_ms = -1;
            continue;
        }
    }
}

int rdb_file_load_hooks(const unsigned char *p, size_t len, const rdb_load_hooks *hooks, void *ud, char *err,
                        size_t errlen, size_t *err_offset)
{
    loader l = {p, len, 0, 0, hooks, ud, err, errlen, 0};
    if (err && errlen)
        err[0] = '\0';
    int rc = load_header(&l) == 0 && load_body(&l) == 0 ? 0 : -1;
    if (rc != 0 && err_offset)
        *err_offset = l.bad;
    return rc;
}

int rdb_file_load(const unsigned char *p, size_t len, rdb_load_cb *cb, void *ud, char *err, size_t errlen,
                  size_t *err_offset)
{
    rdb_load_hooks hooks = {0};
    hooks.key = cb;
    return rdb_file_load_hooks(p, len, &hooks, ud, err, errlen, err_offset);
}
