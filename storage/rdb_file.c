/* rdb_file.c: whole RDB files (see rdb_file.h): the version-10 writer, the
 * structural walker over versions 1..12 (values measured, not decoded: the
 * parallel loader's loading thread), and the whole-file reader built on the
 * walker. Values themselves are rdb_value.c's business.
 *
 * Threads: the caller's; nothing here is shared.
 *
 * Invariants: the writer's CRC covers exactly the bytes handed to the sink,
 * in order; after a failure it writes nothing more. The walker and reader
 * never read outside [p, p+len), report the first bad byte's offset, and
 * the reader frees any value it built but could not hand over. */
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
#include "core/function.h"

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

int rdb_writer_function(rdb_writer *w, const void *code, size_t len)
{
    if (w->failed)
        return -1;
    int rc = put_byte(w, RDB_OPCODE_FUNCTION2);
    if (rc == 0)
        rc = rdb_write_string(&w->stage, code, len, w->compress);
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
        rdb_writer_aux_int(w, "ctime", aux->ctime) != 0 || rdb_writer_aux_int(w, "used-mem", aux->used_mem) != 0)
        return -1;
    if (!aux->omit_repl &&
        (rdb_writer_aux_int(w, "repl-stream-db", aux->repl_stream_db) != 0 ||
         rdb_writer_aux(w, "repl-id", aux->repl_id, strnlen(aux->repl_id, sizeof aux->repl_id)) != 0 ||
         rdb_writer_aux_int(w, "repl-offset", aux->repl_offset) != 0))
        return -1;
    if (rdb_writer_aux_int(w, "aof-base", aux->aof_base) != 0)
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

static int buf_byte(rk_buf *b, unsigned char c)
{
    return rk_buf_append(b, &c, 1);
}

int rdb_put_key(rk_buf *out, rk_buf *scratch, const void *key, size_t klen, const rk_obj *val, long long expire_ms,
                long long idle_s, int freq, int compress)
{
    /* rdb_value_write emits type + value; the file wants type, key, value. */
    rk_buf_clear(scratch);
    if (rdb_value_write(scratch, val, compress) != 0)
        return -1;
    assert(scratch->len >= 1);
    int rc = 0;
    if (expire_ms >= 0) {
        rc = buf_byte(out, RDB_OPCODE_EXPIRETIME_MS);
        if (rc == 0)
            rc = put_u64le(out, (uint64_t)expire_ms);
    }
    if (rc == 0 && idle_s >= 0) {
        rc = buf_byte(out, RDB_OPCODE_IDLE);
        if (rc == 0)
            rc = rdb_write_len(out, (uint64_t)idle_s);
    } else if (rc == 0 && freq >= 0) {
        rc = buf_byte(out, RDB_OPCODE_FREQ);
        if (rc == 0)
            rc = buf_byte(out, (unsigned char)freq);
    }
    if (rc == 0)
        rc = buf_byte(out, (unsigned char)scratch->data[0]);
    if (rc == 0)
        rc = rdb_write_string(out, key, klen, compress);
    if (rc == 0)
        rc = rk_buf_append(out, scratch->data + 1, scratch->len - 1);
    return rc;
}

int rdb_writer_key(rdb_writer *w, const void *key, size_t klen, const rk_obj *val, long long expire_ms)
{
    if (w->failed)
        return -1;
    return staged(w, rdb_put_key(&w->stage, &w->value, key, klen, val, expire_ms, -1, -1, w->compress));
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
 * Walking: the structure, values measured but not decoded
 * ====================================================================== */

/* Records the failure at offset `at`. */
__attribute__((format(printf, 3, 4))) static int wfail(rdb_walker *w, size_t at, const char *fmt, ...)
{
    if (w->err && w->errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->err, w->errlen, fmt, ap);
        va_end(ap);
    }
    w->bad = at;
    return -1;
}

static int need(rdb_walker *w, size_t n, const char *what)
{
    if (w->len - w->pos < n)
        return wfail(w, w->len, "unexpected end of file reading %s", what);
    return 0;
}

static uint64_t get_le(const unsigned char *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--)
        v = (v << 8) | p[i];
    return v;
}

static int walk_len(rdb_walker *w, uint64_t *out, const char *what)
{
    char why[96];
    size_t used = 0;
    if (rdb_read_len(w->p + w->pos, w->len - w->pos, &used, out, why, sizeof why) != 0)
        return wfail(w, w->pos + used, "bad %s: %s", what, why);
    w->pos += used;
    return 0;
}

/* A string copied into scratch slot `slot` (rk_malloc'd, NUL-terminated). */
static const char *walk_str(rdb_walker *w, int slot, size_t *slen, const char *what)
{
    char why[96];
    size_t used = 0;
    rk_free(w->scratch[slot]);
    w->scratch[slot] = rdb_read_string(w->p + w->pos, w->len - w->pos, &used, slen, why, sizeof why);
    if (!w->scratch[slot]) {
        wfail(w, w->pos + used, "bad %s: %s", what, why);
        return NULL;
    }
    w->pos += used;
    return (const char *)w->scratch[slot];
}

int rdb_walker_init(rdb_walker *w, const unsigned char *p, size_t len, char *err, size_t errlen)
{
    memset(w, 0, sizeof *w);
    w->p = p;
    w->len = len;
    w->err = err;
    w->errlen = errlen;
    if (err && errlen)
        err[0] = '\0';
    if (need(w, 9, "the header") != 0)
        return -1;
    if (memcmp(p, "REDIS", 5) != 0)
        return wfail(w, 0, "wrong signature: not an RDB file");
    int ver = 0;
    for (int i = 5; i < 9; i++) {
        if (p[i] < '0' || p[i] > '9')
            return wfail(w, (size_t)i, "bad RDB version number");
        ver = ver * 10 + (p[i] - '0');
    }
    if (ver < RDB_FILE_MIN_VERSION || ver > RDB_FILE_MAX_VERSION)
        return wfail(w, 5, "can't handle RDB format version %d", ver);
    w->rdbver = ver;
    w->pos = 9;
    return 0;
}

void rdb_walker_release(rdb_walker *w)
{
    for (int i = 0; i < 2; i++) {
        rk_free(w->scratch[i]);
        w->scratch[i] = NULL;
    }
    rk_buf_free(&w->fn);
}

/* Type byte at `at` (already consumed), then key, then value. */
static int walk_key(rdb_walker *w, rdb_item *it, size_t at, int type)
{
    char why[128];
    size_t used = 0;
    const unsigned char *data = NULL;
    it->kind = RDB_ITEM_KEY;
    it->offset = at;
    it->type = type;
    it->key_off = w->pos;
    int plain = rdb_string_view(w->p + w->pos, w->len - w->pos, &used, &data, &it->klen, why, sizeof why);
    if (plain < 0)
        return wfail(w, w->pos + used, "bad key: %s", why);
    if (plain) {
        it->key = (const char *)data;
        w->pos += used;
    } else if (!(it->key = walk_str(w, 0, &it->klen, "key"))) {
        return -1;
    }
    it->key_in_file = plain;
    it->val_off = w->pos;
    if (rdb_value_skip_body(type, w->p + w->pos, w->len - w->pos, &used, why, sizeof why) != 0)
        return wfail(w, w->pos + used, "bad value of key '%.*s' (type %d at offset %zu): %s",
                     (int)(it->klen < 64 ? it->klen : 64), it->key, type, at, why);
    it->val_len = used;
    w->pos += used;
    return 1;
}

static int walk_eof(rdb_walker *w, rdb_item *it, size_t at)
{
    it->kind = RDB_ITEM_EOF;
    it->offset = at;
    w->done = 1;
    if (w->rdbver < 5)
        return 1;
    /* The CRC covers everything up to and including the EOF byte. */
    if (need(w, 8, "the checksum") != 0)
        return -1;
    it->checksum = get_le(w->p + w->pos, 8);
    it->checksum_stored = it->checksum != 0;
    w->pos += 8;
    return 1;
}

int rdb_walker_next(rdb_walker *w, rdb_item *it)
{
    long long expire_ms = -1;
    if (w->done)
        return 0;
    for (;;) {
        size_t at = w->pos;
        if (need(w, 1, "an opcode") != 0)
            return -1;
        int op = w->p[w->pos++];
        uint64_t a, b;
        memset(it, 0, sizeof *it);
        it->dbid = w->dbid;
        it->expire_ms = -1;
        it->offset = at;
        switch (op) {
        case RDB_OPCODE_EOF:
            return walk_eof(w, it, at);
        case RDB_OPCODE_AUX:
            it->kind = RDB_ITEM_AUX;
            if (!(it->aux_name = walk_str(w, 0, &b, "AUX field name")) ||
                !(it->aux_val = walk_str(w, 1, &it->aux_vlen, "AUX field value")))
                return -1;
            return 1;
        case RDB_OPCODE_SELECTDB:
            if (walk_len(w, &a, "database number") != 0)
                return -1;
            if (a > INT_MAX)
                return wfail(w, at + 1, "database number %llu out of range", (unsigned long long)a);
            w->dbid = it->dbid = (int)a;
            it->kind = RDB_ITEM_SELECTDB;
            return 1;
        case RDB_OPCODE_RESIZEDB:
            if (walk_len(w, &it->db_size, "database size") != 0 ||
                walk_len(w, &it->expires_size, "expires size") != 0)
                return -1;
            it->kind = RDB_ITEM_RESIZEDB;
            return 1;
        case RDB_OPCODE_SLOT_INFO:
            /* Cluster slot sizing hints (version 12): slot, size, expires size. */
            if (walk_len(w, &a, "slot id") != 0 || walk_len(w, &b, "slot size") != 0 ||
                walk_len(w, &b, "slot expires size") != 0)
                return -1;
            continue;
        case RDB_OPCODE_EXPIRETIME:
            if (need(w, 4, "an expire time") != 0)
                return -1;
            expire_ms = (long long)(int32_t)(uint32_t)get_le(w->p + w->pos, 4) * 1000;
            w->pos += 4;
            continue;
        case RDB_OPCODE_EXPIRETIME_MS:
            if (need(w, 8, "an expire time") != 0)
                return -1;
            expire_ms = (long long)get_le(w->p + w->pos, 8);
            w->pos += 8;
            continue;
        case RDB_OPCODE_FREQ:
            if (need(w, 1, "an LFU frequency") != 0)
                return -1;
            w->pos++;
            continue;
        case RDB_OPCODE_IDLE:
            if (walk_len(w, &a, "LRU idle time") != 0)
                return -1;
            continue;
        case RDB_OPCODE_MODULE_AUX:
            return wfail(w, at, "module auxiliary data is not supported");
        case RDB_OPCODE_FUNCTION2:
        case RDB_OPCODE_FUNCTION: {
            /* Decoded here (to measure and check it); the loader's shards
             * decode their own copies from the file. */
            char why[256];
            size_t pos = w->pos, blen = 0;
            const char *code;
            rk_buf_clear(&w->fn);
            if (function_payload_read(w->p, w->len, op, &pos, &w->fn, why, sizeof why) != 0 ||
                function_blob_next(w->fn.data, w->fn.len, &blen, &code, &it->func_len) != 1)
                return wfail(w, at, "Failed loading library, %s", why);
            it->kind = RDB_ITEM_FUNCTION;
            it->type = op;
            it->func_code = code;
            it->val_off = w->pos;
            it->val_len = pos - w->pos;
            w->pos = pos;
            return 1;
        }
        default:
            if (walk_key(w, it, at, op) < 0)
                return -1;
            it->expire_ms = expire_ms;
            return 1;
        }
    }
}

/* ======================================================================
 * Reading whole files: the walk, each value decoded as it comes
 * ====================================================================== */

typedef struct loader {
    rdb_walker w;
    const rdb_load_hooks *hooks;
    void *ud;
} loader;

static int load_key(loader *l, const rdb_item *it)
{
    rdb_walker *w = &l->w;
    char why[128];
    size_t used = 0;
    int klen64 = (int)(it->klen < 64 ? it->klen : 64);
    /* Value encodings did not change after version 10 for the types we read. */
    int valver = w->rdbver > RDB_VERSION ? RDB_VERSION : w->rdbver;
    rk_obj *val = rdb_value_read_body(it->type, w->p + it->val_off, it->val_len, &used, valver, l->hooks->limits,
                                      why, sizeof why);
    if (!val)
        return wfail(w, it->val_off + used, "bad value of key '%.*s' (type %d at offset %zu): %s", klen64, it->key,
                     it->type, it->offset, why);
    /* The walker measures with the decoder's grammar, so a decoded value
     * fills its range exactly; anything else is a bug, refused as corrupt. */
    if (used != it->val_len) {
        obj_free(val);
        return wfail(w, it->val_off + used, "bad value of key '%.*s' (type %d at offset %zu): length mismatch",
                     klen64, it->key, it->type, it->offset);
    }
    int rc = 0;
    if (l->hooks->key)
        rc = l->hooks->key(l->ud, it->dbid, it->key, it->klen, val, it->expire_ms);
    else
        obj_free(val);
    if (rc != 0)
        return wfail(w, it->offset, "loading stopped at key '%.*s'", klen64, it->key);
    return 0;
}

static int load_checksum(loader *l, const rdb_item *it)
{
    rdb_walker *w = &l->w;
    size_t at = it->offset + 1;
    if (w->rdbver < 5 || !it->checksum_stored) {
        if (l->hooks->checksum)
            l->hooks->checksum(l->ud, at, 0);
        return 0;
    }
    uint64_t actual = rk_crc64(0, w->p, at);
    if (it->checksum != actual)
        return wfail(w, at, "RDB CRC error: stored checksum %016llx, computed %016llx",
                     (unsigned long long)it->checksum, (unsigned long long)actual);
    if (l->hooks->checksum)
        l->hooks->checksum(l->ud, at, 1);
    return 0;
}

static int load_items(loader *l)
{
    const rdb_load_hooks *h = l->hooks;
    rdb_item it;
    int rc;
    while ((rc = rdb_walker_next(&l->w, &it)) > 0) {
        switch (it.kind) {
        case RDB_ITEM_AUX:
            if (h->aux)
                h->aux(l->ud, it.offset, it.aux_name, it.aux_val, it.aux_vlen);
            break;
        case RDB_ITEM_SELECTDB:
            if (h->select_db)
                h->select_db(l->ud, it.offset, it.dbid);
            break;
        case RDB_ITEM_RESIZEDB:
            if (h->resize_db)
                h->resize_db(l->ud, it.offset, it.db_size, it.expires_size);
            break;
        case RDB_ITEM_KEY:
            if (load_key(l, &it) != 0)
                return -1;
            break;
        case RDB_ITEM_FUNCTION:
            if (h->function)
                h->function(l->ud, it.offset, it.func_code, it.func_len);
            break;
        case RDB_ITEM_EOF:
            return load_checksum(l, &it);
        default:
            assert(0 && "unknown walker item");
        }
    }
    return rc;
}

int rdb_file_load_hooks(const unsigned char *p, size_t len, const rdb_load_hooks *hooks, void *ud, char *err,
                        size_t errlen, size_t *err_offset)
{
    loader l;
    l.hooks = hooks;
    l.ud = ud;
    int rc = rdb_walker_init(&l.w, p, len, err, errlen);
    if (rc == 0 && hooks->version)
        hooks->version(ud, l.w.rdbver);
    if (rc == 0)
        rc = load_items(&l);
    if (rc != 0 && err_offset)
        *err_offset = l.w.bad;
    rdb_walker_release(&l.w);
    return rc;
}

int rdb_file_load(const unsigned char *p, size_t len, rdb_load_cb *cb, void *ud, char *err, size_t errlen,
                  size_t *err_offset)
{
    rdb_load_hooks hooks = {0};
    hooks.key = cb;
    return rdb_file_load_hooks(p, len, &hooks, ud, err, errlen, err_offset);
}
