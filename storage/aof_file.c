/* aof_file.c: reading and writing AOF command streams (aof_file.h).
 *
 * Owns: nothing global. A reader reads a file the caller mapped and never
 * reads outside [p, p+len); everything it hands out borrows from the file.
 * Threads: the caller's (a loading shard, or an offline tool).
 *
 * The grammar is what Redis 7.0 writes and loads (loadSingleAppendOnlyFile),
 * checked the way redis-check-aof 7.0 checks it, with these deliberate
 * differences, all towards refusing what Redis could not have written:
 * a count or length must have at least one digit, "*0" and negative
 * counts are corrupt (Redis's loader refuses them too; redis-check-aof lets
 * "*0" pass), and a truncation that falls on a line boundary still gets a
 * reason ("Unexpected end of file"; redis-check-aof prints none there). */
#include "storage/aof_file.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"
#include "storage/rdb_file.h"

/* Longest decimal we accept for a count or a length: 18 digits cannot overflow. */
#define MAX_DIGITS 18

int aof_file_kind(const unsigned char *p, size_t len)
{
    if (len == 0)
        return AOF_FILE_EMPTY;
    if (len >= 5 && memcmp(p, "REDIS", 5) == 0)
        return AOF_FILE_RDB;
    return AOF_FILE_RESP;
}

void aof_reader_init(aof_reader *r, const unsigned char *p, size_t len, size_t start)
{
    assert(start <= len);
    memset(r, 0, sizeof *r);
    r->p = p;
    r->len = len;
    r->pos = start;
    r->ok_up_to = start;
    r->bad = start;
}

void aof_reader_release(aof_reader *r)
{
    rk_free(r->argv);
    rk_free(r->argvlen);
    r->argv = NULL;
    r->argvlen = NULL;
    r->argcap = 0;
}

static int fail(aof_reader *r, int status, size_t bad, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int fail(aof_reader *r, int status, size_t bad, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof r->err, fmt, ap);
    va_end(ap);
    r->status = status;
    r->bad = bad;
    return status;
}

static int truncated(aof_reader *r, size_t bad)
{
    return fail(r, AOF_NEXT_TRUNCATED, bad, "Unexpected end of file");
}

/* "\r\n" at q: 0, or the failure (truncated when the file ends inside it). */
static int expect_crlf(aof_reader *r, size_t q, size_t bad)
{
    if (q < r->len && r->p[q] != '\r')
        goto corrupt;
    if (q + 1 < r->len && r->p[q + 1] != '\n')
        goto corrupt;
    if (q + 2 > r->len)
        return truncated(r, bad);
    r->lines++;
    return 0;
corrupt:
    return fail(r, AOF_NEXT_CORRUPT, bad, "Expected \\r\\n, got: %02x%02x", r->p[q],
                q + 1 < r->len ? r->p[q + 1] : 0);
}

/* "<prefix><digits>\r\n" at *q (redis-check-aof's readLong); advances *q. */
static int read_number(aof_reader *r, size_t *q, char prefix, long long *out)
{
    size_t at = *q, i = at + 1;
    r->bad = at;
    if (at >= r->len)
        return truncated(r, at);
    if (r->p[at] != prefix)
        return fail(r, AOF_NEXT_CORRUPT, at, "Expected prefix '%c', got: '%c'", prefix, r->p[at]);
    int neg = i < r->len && r->p[i] == '-';
    i += (size_t)neg;
    long long v = 0;
    size_t digits = 0;
    while (i < r->len && r->p[i] >= '0' && r->p[i] <= '9') {
        if (++digits > MAX_DIGITS)
            return fail(r, AOF_NEXT_CORRUPT, at, "Number too long after '%c'", prefix);
        v = v * 10 + (r->p[i++] - '0');
    }
    if (i == r->len)
        return truncated(r, at);
    if (digits == 0)
        return fail(r, AOF_NEXT_CORRUPT, at, "Expected a number after '%c'", prefix);
    int rc = expect_crlf(r, i, at);
    if (rc != 0)
        return rc;
    *out = neg ? -v : v;
    *q = i + 2;
    return 0;
}

/* Room for argument i. Arrays double, so their size stays below twice the
 * number of arguments actually parsed (bounded by the file's size / 6). */
static int reserve_arg(aof_reader *r, size_t i)
{
    if (i < r->argcap)
        return 0;
    size_t cap = r->argcap ? r->argcap * 2 : 16;
    const char **argv = rk_realloc(r->argv, cap * sizeof *argv);
    if (!argv)
        return -1;
    r->argv = argv;
    size_t *lens = rk_realloc(r->argvlen, cap * sizeof *lens);
    if (!lens)
        return -1;
    r->argvlen = lens;
    r->argcap = cap;
    return 0;
}

static int is_word(const aof_cmd *c, const char *w)
{
    size_t n = strlen(w);
    return c->argvlen[0] == n && strncasecmp(c->argv[0], w, n) == 0;
}

/* MULTI/EXEC bookkeeping after a complete command, and the cut point. */
static int track_multi(aof_reader *r)
{
    aof_cmd *c = &r->cmd;
    if (is_word(c, "multi")) {
        if (r->in_multi)
            return fail(r, AOF_NEXT_CORRUPT, r->bad, "Unexpected MULTI");
        r->in_multi = 1;
        r->multi_offset = c->offset;
        assert(r->ok_up_to == c->offset);
        return 0;
    }
    if (is_word(c, "exec")) {
        if (!r->in_multi)
            return fail(r, AOF_NEXT_CORRUPT, r->bad, "Unexpected EXEC");
        r->in_multi = 0;
    }
    if (!r->in_multi)
        r->ok_up_to = c->end;
    return 0;
}

static int read_command(aof_reader *r)
{
    size_t start = r->pos, q = start;
    long long argc, blen;
    int rc = read_number(r, &q, '*', &argc);
    if (rc != 0)
        return rc;
    if (argc < 1 || argc > INT_MAX)
        return fail(r, AOF_NEXT_CORRUPT, start, "Invalid multibulk count %lld", argc);
    for (long long j = 0; j < argc; j++) {
        if ((rc = read_number(r, &q, '$', &blen)) != 0)
            return rc;
        if (blen < 0)
            return fail(r, AOF_NEXT_CORRUPT, r->bad,
                        "Expected to read string of %lld bytes, which is not in the suitable range", blen);
        r->bad = q;
        if ((unsigned long long)blen + 2 > r->len - q)
            return fail(r, AOF_NEXT_TRUNCATED, q, "Expected to read %lld bytes, got %lld bytes", blen + 2,
                        (long long)(r->len - q));
        if ((rc = expect_crlf(r, q + (size_t)blen, q)) != 0)
            return rc;
        if (reserve_arg(r, (size_t)j) != 0)
            return fail(r, AOF_NEXT_NOMEM, start, "out of memory");
        r->argv[j] = (const char *)r->p + q;
        r->argvlen[j] = (size_t)blen;
        q += (size_t)blen + 2;
    }
    r->cmd.argc = (int)argc;
    r->cmd.argv = r->argv;
    r->cmd.argvlen = r->argvlen;
    r->cmd.offset = start;
    r->cmd.end = q;
    if ((rc = track_multi(r)) != 0)
        return rc;
    r->pos = q;
    r->commands++;
    return AOF_NEXT_CMD;
}

/* "#...\n", at most AOF_ANNOTATION_MAX - 1 bytes (Redis reads it with
 * fgets into a buffer of AOF_ANNOTATION_MAX). */
static int read_annotation(aof_reader *r)
{
    size_t at = r->pos;
    size_t lim = r->len - at < AOF_ANNOTATION_MAX - 1 ? r->len - at : AOF_ANNOTATION_MAX - 1;
    const unsigned char *nl = memchr(r->p + at, '\n', lim);
    r->bad = at;
    if (!nl) {
        if (lim == r->len - at)
            return truncated(r, at);
        return fail(r, AOF_NEXT_CORRUPT, at, "Annotation line too long");
    }
    size_t end = (size_t)(nl - r->p) + 1;
    size_t text_end = end - 1;
    if (text_end > at + 1 && r->p[text_end - 1] == '\r')
        text_end--;
    r->note = (const char *)r->p + at + 1;
    r->note_len = text_end - at - 1;
    r->note_offset = at;
    r->pos = end;
    if (!r->in_multi)
        r->ok_up_to = end;
    return AOF_NEXT_ANNOTATION;
}

int aof_reader_next(aof_reader *r)
{
    if (r->status)
        return r->status;
    if (r->pos == r->len) {
        if (r->in_multi)
            return fail(r, AOF_NEXT_TRUNCATED, r->bad, "Reached EOF before reading EXEC for MULTI");
        return AOF_NEXT_END;
    }
    switch (r->p[r->pos]) {
    case '*':
        return read_command(r);
    case '#':
        return read_annotation(r);
    default:
        r->format_error = 1;
        return fail(r, AOF_NEXT_CORRUPT, r->pos, "format error (byte %02x where a command should start)",
                    r->p[r->pos]);
    }
}

int aof_rdb_end(const unsigned char *p, size_t len, size_t *end, size_t *bad, char *err, size_t errlen)
{
    rdb_walker w;
    rdb_item it;
    int rc = rdb_walker_init(&w, p, len, err, errlen);
    while (rc == 0) {
        int n = rdb_walker_next(&w, &it);
        if (n < 0)
            rc = -1;
        else if (n == 0 || it.kind == RDB_ITEM_EOF)
            break;
    }
    if (rc == 0)
        *end = w.pos;
    else
        *bad = w.bad;
    rdb_walker_release(&w);
    return rc;
}

int aof_map_open(aof_map *m, const char *path)
{
    m->p = NULL;
    m->len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    if (st.st_size > 0) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
        m->p = p;
        m->len = (size_t)st.st_size;
    }
    close(fd);
    return 0;
}

void aof_map_close(aof_map *m)
{
    if (m->p)
        munmap((void *)m->p, m->len);
    m->p = NULL;
    m->len = 0;
}

/* ---- writing ------------------------------------------------------------ */

static int put_prefixed(rk_buf *out, char prefix, long long n)
{
    char tmp[32];
    int k = snprintf(tmp, sizeof tmp, "%c%lld\r\n", prefix, n);
    return rk_buf_append(out, tmp, (size_t)k);
}

int aof_put_array(rk_buf *out, long long count)
{
    return put_prefixed(out, '*', count);
}

int aof_put_bulk(rk_buf *out, const void *p, size_t len)
{
    size_t mark = out->len;
    if (rk_buf_reserve(out, len + 24) != 0)
        return -1;
    if (put_prefixed(out, '$', (long long)len) != 0 || rk_buf_append(out, p, len) != 0 ||
        rk_buf_append(out, "\r\n", 2) != 0) {
        out->len = mark; /* cannot happen after the reserve, kept for safety */
        return -1;
    }
    return 0;
}

int aof_put_bulk_ll(rk_buf *out, long long v)
{
    char tmp[24];
    int k = snprintf(tmp, sizeof tmp, "%lld", v);
    return aof_put_bulk(out, tmp, (size_t)k);
}

int aof_put_bulk_double(rk_buf *out, double d)
{
    char tmp[128];
    int k = snprintf(tmp, sizeof tmp, "%.17g", d);
    return aof_put_bulk(out, tmp, (size_t)k);
}

int aof_put_command(rk_buf *out, int argc, const char *const *argv, const size_t *argvlen)
{
    size_t mark = out->len;
    int rc = aof_put_array(out, argc);
    for (int i = 0; rc == 0 && i < argc; i++)
        rc = aof_put_bulk(out, argv[i], argvlen[i]);
    if (rc != 0)
        out->len = mark;
    return rc;
}

int aof_put_timestamp(rk_buf *out, long long unix_seconds)
{
    return rk_buf_printf(out, "#TS:%lld\r\n", unix_seconds);
}
