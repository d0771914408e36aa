/* aof_manifest.c: parsing and writing the AOF manifest (aof_manifest.h).
 *
 * Owns: nothing global. A manifest struct belongs to its caller; parsing
 * allocates with rk_malloc on the calling thread.
 * Threads: any; the atomic writer blocks (open/write/fsync/rename), so it
 * runs at start-up, on a background thread or in the offline tools, never
 * inside a shard's loop.
 *
 * Fidelity: the reader follows Redis 7.0's aofLoadManifestFromFile step by
 * step, quirks included, because users move manifests between the two:
 *  - the file is read in fgets chunks of at most AOF_MANIFEST_MAX_LINE bytes,
 *    a chunk starting with '#' is skipped (a comment longer than a chunk
 *    continues as a new "line", as in Redis), a chunk without '\n' (a long
 *    line, or a last line without newline) is "too long";
 *  - the line is trimmed of " \t\r\n", split with sdssplitargs's rules, must
 *    have at least 6 and an even number of words; later duplicates of a key
 *    win; `seq` is read with atoll and 0 means missing; `type` is its value's
 *    first byte; unknown keys are ignored.
 * ringkv's keys (shard, start, end) are read strictly (plain decimals). */
#include "storage/aof_manifest.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/alloc.h"

/* Redis's error texts. */
#define E_EMPTY "Found an empty AOF manifest"
#define E_LONG "The AOF manifest file contains too long line"
#define E_FORMAT "Invalid AOF manifest file format"
#define E_PATH "File can't be a path, just a filename"
#define E_DUP_BASE "Found duplicate base file information"
#define E_SEQ "Found a non-monotonic sequence number"
#define E_TYPE "Unknown AOF file type"

void aof_manifest_init(aof_manifest *am)
{
    memset(am, 0, sizeof *am);
}

void aof_manifest_release(aof_manifest *am)
{
    for (size_t i = 0; i < am->n; i++)
        rk_free(am->files[i].name);
    rk_free(am->files);
    aof_manifest_init(am);
}

int aof_manifest_add(aof_manifest *am, const aof_info *fi)
{
    if (am->n == am->cap) {
        size_t cap = am->cap ? am->cap * 2 : 8;
        aof_info *grown = rk_realloc(am->files, cap * sizeof *grown);
        if (!grown)
            return -1;
        am->files = grown;
        am->cap = cap;
    }
    char *name = rk_memdup(fi->name, strlen(fi->name));
    if (!name)
        return -1;
    am->files[am->n] = *fi;
    am->files[am->n].name = name;
    am->n++;
    return 0;
}

/* ---- sdssplitargs ------------------------------------------------------ */

/* The words of one line, each NUL-terminated (a word may hold a NUL of its
 * own through "\x00"; like Redis, the rest of this file then reads it as a
 * C string). At most AOF_MANIFEST_MAX_LINE words fit a line. */
typedef struct words {
    char *w[AOF_MANIFEST_MAX_LINE];
    int n;
} words;

static void words_release(words *ws)
{
    for (int i = 0; i < ws->n; i++)
        rk_free(ws->w[i]);
    ws->n = 0;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* One byte onto the word being built: 0, or -2 on OOM. */
static int put(rk_buf *cur, char c)
{
    return rk_buf_append(cur, &c, 1) == 0 ? 0 : -2;
}

/* Redis's sdssplitargs over the NUL-terminated line. 0, -1 on unbalanced
 * quotes or a closing quote followed by a non-space, -2 on OOM. */
static int split_args(const char *line, words *ws)
{
    const char *p = line;
    rk_buf cur;
    rk_buf_init(&cur);
    ws->n = 0;
    for (;;) {
        while (*p && isspace((unsigned char)*p))
            p++;
        if (!*p) {
            rk_buf_free(&cur);
            return 0;
        }
        int inq = 0, insq = 0, done = 0, rc = 0;
        rk_buf_clear(&cur);
        while (!done && rc == 0) {
            char c = *p;
            if (inq) {
                if (c == '\\' && p[1] == 'x' && hexval(p[2]) >= 0 && hexval(p[3]) >= 0) {
                    char byte = (char)(hexval(p[2]) * 16 + hexval(p[3]));
                    rc = put(&cur, byte);
                    p += 3;
                } else if (c == '\\' && p[1]) {
                    p++;
                    switch (*p) {
                    case 'n': c = '\n'; break;
                    case 'r': c = '\r'; break;
                    case 't': c = '\t'; break;
                    case 'b': c = '\b'; break;
                    case 'a': c = '\a'; break;
                    default: c = *p; break;
                    }
                    rc = put(&cur, c);
                } else if (c == '"') {
                    if (p[1] && !isspace((unsigned char)p[1]))
                        rc = -1;
                    done = 1;
                } else if (!c) {
                    rc = -1; /* unterminated quotes */
                } else {
                    rc = put(&cur, c);
                }
            } else if (insq) {
                if (c == '\\' && p[1] == '\'') {
                    p++;
                    rc = put(&cur, '\'');
                } else if (c == '\'') {
                    if (p[1] && !isspace((unsigned char)p[1]))
                        rc = -1;
                    done = 1;
                } else if (!c) {
                    rc = -1;
                } else {
                    rc = put(&cur, c);
                }
            } else {
                switch (c) {
                case ' ': case '\n': case '\r': case '\t': case '\0':
                    done = 1;
                    break;
                case '"': inq = 1; break;
                case '\'': insq = 1; break;
                default: rc = put(&cur, c); break;
                }
            }
            if (*p)
                p++;
        }
        if (rc == 0 && ws->n == AOF_MANIFEST_MAX_LINE)
            rc = -1; /* cannot happen: a word takes at least 2 bytes of a line */
        char *word = rc == 0 ? rk_memdup(cur.data ? cur.data : "", cur.len) : NULL;
        if (rc == 0 && !word)
            rc = -2;
        if (rc != 0) {
            rk_buf_free(&cur);
            words_release(ws);
            return rc;
        }
        ws->w[ws->n++] = word;
    }
}

/* ---- parsing ----------------------------------------------------------- */

typedef struct parser {
    aof_manifest *am;
    const char *path;
    char *err;
    size_t errlen;
    int linenum;
    const char *line; /* the trimmed line, for the message; NULL when none */
} parser;

static int perr(parser *ps, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int perr(parser *ps, const char *fmt, ...)
{
    char why[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (ps->linenum == 0)
        snprintf(ps->err, ps->errlen, "%s: %s", ps->path, why);
    else if (ps->line)
        snprintf(ps->err, ps->errlen, "%s:%d: %s: '%s'", ps->path, ps->linenum, why, ps->line);
    else
        snprintf(ps->err, ps->errlen, "%s:%d: %s", ps->path, ps->linenum, why);
    return -1;
}

/* A plain decimal (digits only, no sign) below limit. */
static int parse_u64(const char *s, uint64_t limit, uint64_t *out)
{
    if (!*s || strlen(s) > 20)
        return -1;
    uint64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
    }
    if (v >= limit)
        return -1;
    *out = v;
    return 0;
}

/* The key/value pairs of one split line into fi (names borrowed from ws).
 * *has_shard tells whether a shard key was seen. */
static int read_pairs(parser *ps, const words *ws, aof_info *fi, int *has_shard)
{
    for (int i = 0; i < ws->n; i += 2) {
        const char *k = ws->w[i], *v = ws->w[i + 1];
        uint64_t u;
        if (!strcasecmp(k, "file")) {
            if (strchr(v, '/') || strchr(v, '\\'))
                return perr(ps, E_PATH);
            fi->name = (char *)v;
        } else if (!strcasecmp(k, "seq")) {
            fi->seq = strtoll(v, NULL, 10); /* Redis: atoll */
        } else if (!strcasecmp(k, "type")) {
            fi->type = v[0];
        } else if (!strcasecmp(k, "shard")) {
            if (parse_u64(v, AOF_MANIFEST_MAX_SHARD + 1, &u) != 0)
                return perr(ps, "Invalid shard number (0 to %d)", AOF_MANIFEST_MAX_SHARD);
            fi->shard = (int)u;
            *has_shard = 1;
        } else if (!strcasecmp(k, "start") || !strcasecmp(k, "end")) {
            if (parse_u64(v, AOF_POS_NONE, &u) != 0)
                return perr(ps, "Invalid journal position");
            if (k[0] == 's' || k[0] == 'S')
                fi->start = u;
            else
                fi->end = u;
        }
        /* Any other key is ignored, as Redis 7.0 does. */
    }
    return 0;
}

/* Redis's per-line rules (duplicate base, monotonic INCR seq), per shard. */
static int place_line(parser *ps, const aof_info *fi)
{
    if (fi->type != AOF_TYPE_BASE && fi->type != AOF_TYPE_HIST && fi->type != AOF_TYPE_INCR)
        return perr(ps, E_TYPE);
    for (size_t i = 0; i < ps->am->n; i++) {
        const aof_info *o = &ps->am->files[i];
        if (o->shard != fi->shard)
            continue;
        if (fi->type == AOF_TYPE_BASE && o->type == AOF_TYPE_BASE)
            return perr(ps, E_DUP_BASE);
        if (fi->type == AOF_TYPE_INCR && o->type == AOF_TYPE_INCR && fi->seq <= o->seq)
            return perr(ps, E_SEQ);
    }
    /* Redis compares with the highest INCR seq so far, starting at 0. */
    if (fi->type == AOF_TYPE_INCR && fi->seq <= 0)
        return perr(ps, E_SEQ);
    if (fi->start != AOF_POS_NONE && fi->end != AOF_POS_NONE && fi->start > fi->end)
        return perr(ps, "Journal start after end");
    if (fi->end != AOF_POS_NONE && fi->start == AOF_POS_NONE)
        return perr(ps, "Journal end without start");
    if (aof_manifest_add(ps->am, fi) != 0)
        return perr(ps, "out of memory");
    return 0;
}

/* One trimmed, non-empty, NUL-terminated line. */
static int parse_line(parser *ps, const char *line, int *has_shard)
{
    words ws;
    int rc = split_args(line, &ws);
    if (rc == -2)
        return perr(ps, "out of memory");
    if (rc != 0 || ws.n < 6 || ws.n % 2) {
        words_release(&ws);
        return perr(ps, E_FORMAT);
    }
    aof_info fi = {.name = NULL, .seq = 0, .type = 0, .shard = 0, .start = AOF_POS_NONE, .end = AOF_POS_NONE,
                   .line = ps->linenum};
    *has_shard = 0;
    rc = read_pairs(ps, &ws, &fi, has_shard);
    if (rc == 0 && (!fi.name || !fi.seq || !fi.type))
        rc = perr(ps, E_FORMAT);
    if (rc == 0)
        rc = place_line(ps, &fi);
    words_release(&ws);
    return rc;
}

/* ringkv's rule: every line names its shard, or none does. */
static int check_shard_keys(parser *ps, size_t first_with, size_t first_without)
{
    ps->linenum = first_with > first_without ? (int)first_with : (int)first_without;
    ps->line = NULL;
    return perr(ps, "Lines with and without a shard key (lines %zu and %zu)", first_with, first_without);
}

int aof_manifest_parse(aof_manifest *am, const char *path, const char *p, size_t len, char *err, size_t errlen)
{
    parser ps = {am, path, err, errlen, 0, NULL};
    aof_manifest_init(am);
    size_t pos = 0, with_shard = 0, without_shard = 0;
    char chunk[AOF_MANIFEST_MAX_LINE + 1];
    int rc = 0;
    while (rc == 0) {
        if (pos == len) {
            if (ps.linenum == 0)
                rc = perr(&ps, E_EMPTY);
            break;
        }
        /* fgets: up to MAX_LINE bytes, through the first '\n'. */
        size_t n = 0;
        while (n < AOF_MANIFEST_MAX_LINE && pos + n < len && p[pos + n] != '\n')
            n++;
        if (n < AOF_MANIFEST_MAX_LINE && pos + n < len)
            n++; /* the '\n' */
        memcpy(chunk, p + pos, n);
        chunk[n] = '\0';
        pos += n;
        ps.linenum++;
        ps.line = NULL;
        if (chunk[0] == '#')
            continue;
        /* C-string view from here on, as Redis (a NUL ends the line). */
        if (!strchr(chunk, '\n')) {
            rc = perr(&ps, E_LONG);
            break;
        }
        char *s = chunk, *e = chunk + strlen(chunk);
        while (s < e && strchr(" \t\r\n", *s))
            s++;
        while (e > s && strchr(" \t\r\n", e[-1]))
            e--;
        *e = '\0';
        ps.line = s;
        if (s == e) {
            rc = perr(&ps, E_FORMAT);
            break;
        }
        int has_shard = 0;
        rc = parse_line(&ps, s, &has_shard);
        size_t *first = has_shard ? &with_shard : &without_shard;
        if (rc == 0 && *first == 0)
            *first = (size_t)ps.linenum;
    }
    if (rc == 0 && with_shard && without_shard)
        rc = check_shard_keys(&ps, with_shard, without_shard);
    if (rc != 0) {
        aof_manifest_release(am);
        return -1;
    }
    am->ringkv = with_shard != 0;
    return 0;
}

int aof_manifest_load(aof_manifest *am, const char *path, char *err, size_t errlen)
{
    aof_manifest_init(am);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        snprintf(err, errlen, "%s: can't open the AOF manifest for reading: %s", path, strerror(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (st.st_size > (off_t)AOF_MANIFEST_MAX_SIZE) {
        snprintf(err, errlen, "%s: manifest larger than %u bytes", path, AOF_MANIFEST_MAX_SIZE);
        close(fd);
        return -1;
    }
    size_t cap = (size_t)st.st_size;
    char *data = rk_malloc(cap ? cap : 1);
    size_t got = 0;
    int rc = data ? 0 : -1;
    if (!data)
        snprintf(err, errlen, "%s: out of memory", path);
    while (rc == 0 && got < cap) {
        ssize_t r = read(fd, data + got, cap - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            snprintf(err, errlen, "%s: Read AOF manifest failed: %s", path, strerror(errno));
            rc = -1;
        } else if (r == 0) {
            break; /* shrank meanwhile: parse what is there */
        } else {
            got += (size_t)r;
        }
    }
    close(fd);
    if (rc == 0)
        rc = aof_manifest_parse(am, path, data, got, err, errlen);
    rk_free(data);
    return rc;
}

/* ---- queries ----------------------------------------------------------- */

int aof_manifest_shards(const aof_manifest *am)
{
    int n = 0;
    for (size_t i = 0; i < am->n; i++)
        if (am->files[i].shard + 1 > n)
            n = am->files[i].shard + 1;
    return n;
}

const aof_info *aof_manifest_base(const aof_manifest *am, int shard)
{
    for (size_t i = 0; i < am->n; i++)
        if (am->files[i].shard == shard && am->files[i].type == AOF_TYPE_BASE)
            return &am->files[i];
    return NULL;
}

size_t aof_manifest_load_order(const aof_manifest *am, int shard, const aof_info **out, size_t cap)
{
    size_t k = 0;
    const aof_info *base = aof_manifest_base(am, shard);
    if (base) {
        if (k < cap)
            out[k] = base;
        k++;
    }
    for (size_t i = 0; i < am->n; i++) {
        if (am->files[i].shard != shard || am->files[i].type != AOF_TYPE_INCR)
            continue;
        if (k < cap)
            out[k] = &am->files[i];
        k++;
    }
    return k;
}

/* ---- writing ----------------------------------------------------------- */

/* sdsneedsrepr, plus the single quote: Redis 7.0 writes a name holding
 * one bare, and then cannot read its own manifest back. */
static int needs_repr(const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '\\' || c == '"' || c == '\'' || !isprint(c) || isspace(c))
            return 1;
    }
    return 0;
}

/* sdscatrepr */
static int append_repr(rk_buf *out, const char *s)
{
    int rc = rk_buf_append(out, "\"", 1);
    for (; *s && rc == 0; s++) {
        unsigned char c = (unsigned char)*s;
        switch (c) {
        case '\\': rc = rk_buf_append(out, "\\\\", 2); break;
        case '"': rc = rk_buf_append(out, "\\\"", 2); break;
        case '\n': rc = rk_buf_append(out, "\\n", 2); break;
        case '\r': rc = rk_buf_append(out, "\\r", 2); break;
        case '\t': rc = rk_buf_append(out, "\\t", 2); break;
        case '\a': rc = rk_buf_append(out, "\\a", 2); break;
        case '\b': rc = rk_buf_append(out, "\\b", 2); break;
        default:
            rc = isprint(c) ? rk_buf_append(out, s, 1) : rk_buf_printf(out, "\\x%02x", c);
            break;
        }
    }
    return rc == 0 ? rk_buf_append(out, "\"", 1) : -1;
}

int aof_manifest_format_line(rk_buf *out, const aof_info *fi, int ringkv)
{
    size_t mark = out->len;
    int rc = rk_buf_append_str(out, "file ");
    if (rc == 0)
        rc = needs_repr(fi->name) ? append_repr(out, fi->name) : rk_buf_append_str(out, fi->name);
    if (rc == 0)
        rc = rk_buf_printf(out, " seq %lld type %c", fi->seq, fi->type);
    if (rc == 0 && ringkv)
        rc = rk_buf_printf(out, " shard %d", fi->shard);
    if (rc == 0 && fi->start != AOF_POS_NONE)
        rc = rk_buf_printf(out, " start %llu", (unsigned long long)fi->start);
    if (rc == 0 && fi->end != AOF_POS_NONE)
        rc = rk_buf_printf(out, " end %llu", (unsigned long long)fi->end);
    if (rc == 0)
        rc = rk_buf_append(out, "\n", 1);
    if (rc == 0 && out->len - mark > AOF_MANIFEST_MAX_LINE)
        rc = -1; /* the parser (and Redis) would refuse it: quoting can make a line 4x its name */
    if (rc != 0)
        out->len = mark;
    return rc;
}

/* What the parser would refuse: written manifests must read back. */
static int check_invariants(const aof_manifest *am, char *err, size_t errlen)
{
    for (size_t i = 0; i < am->n; i++) {
        const aof_info *fi = &am->files[i];
        const char *why = NULL;
        if (!fi->name[0] || strchr(fi->name, '/') || strchr(fi->name, '\\'))
            why = "bad file name";
        else if (fi->seq == 0 || (fi->type == AOF_TYPE_INCR && fi->seq < 0))
            why = "bad sequence number";
        else if (fi->type != AOF_TYPE_BASE && fi->type != AOF_TYPE_HIST && fi->type != AOF_TYPE_INCR)
            why = "bad type";
        else if (fi->shard < 0 || fi->shard > AOF_MANIFEST_MAX_SHARD || (!am->ringkv && fi->shard != 0))
            why = "bad shard";
        else if ((fi->end != AOF_POS_NONE && fi->start == AOF_POS_NONE) ||
                 (fi->end != AOF_POS_NONE && fi->start > fi->end))
            why = "bad journal range";
        for (size_t j = 0; !why && j < i; j++) {
            const aof_info *o = &am->files[j];
            if (o->shard == fi->shard && o->type == fi->type && fi->type == AOF_TYPE_BASE)
                why = "two bases";
            else if (o->shard == fi->shard && o->type == fi->type && fi->type == AOF_TYPE_INCR && o->seq >= fi->seq)
                why = "INCR sequence not increasing";
        }
        if (why) {
            snprintf(err, errlen, "manifest entry %zu (%s): %s", i, fi->name, why);
            return -1;
        }
    }
    return 0;
}

int aof_manifest_format(const aof_manifest *am, rk_buf *out, char *err, size_t errlen)
{
    static const char order[] = {AOF_TYPE_BASE, AOF_TYPE_HIST, AOF_TYPE_INCR};
    if (check_invariants(am, err, errlen) != 0)
        return -1;
    size_t mark = out->len;
    int shards = aof_manifest_shards(am);
    for (int s = 0; s < shards; s++)
        for (size_t t = 0; t < sizeof order; t++)
            for (size_t i = 0; i < am->n; i++) {
                const aof_info *fi = &am->files[i];
                if (fi->shard != s || fi->type != order[t])
                    continue;
                if (aof_manifest_format_line(out, fi, am->ringkv) != 0) {
                    out->len = mark;
                    snprintf(err, errlen, "out of memory, or a line longer than %d bytes", AOF_MANIFEST_MAX_LINE);
                    return -1;
                }
            }
    return 0;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

static int write_all(int fd, const char *p, size_t len)
{
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -1;
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

int aof_write_file_atomic(const char *dir, const char *name, const void *data, size_t len, char *err, size_t errlen)
{
    char tmp[4096], final[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s/temp-%s", dir, name) >= sizeof tmp ||
        (size_t)snprintf(final, sizeof final, "%s/%s", dir, name) >= sizeof final) {
        snprintf(err, errlen, "%s/%s: path too long", dir, name);
        return -1;
    }
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        snprintf(err, errlen, "can't create %s: %s", tmp, strerror(errno));
        return -1;
    }
    const char *step = NULL;
    if (write_all(fd, data, len) != 0)
        step = "write";
    else if (fsync(fd) != 0)
        step = "fsync";
    int saved = errno;
    if (close(fd) != 0 && !step) {
        step = "close";
        saved = errno;
    }
    if (!step && rename(tmp, final) != 0) {
        step = "rename";
        saved = errno;
    }
    if (step) {
        unlink(tmp);
        snprintf(err, errlen, "%s of %s failed: %s", step, tmp, strerror(saved));
        return -1;
    }
    /* The rename is durable only once the directory is. */
    if (fsync_dir(dir) != 0) {
        snprintf(err, errlen, "fsync of directory %s failed: %s", dir, strerror(errno));
        return -1;
    }
    return 0;
}

int aof_manifest_write(const aof_manifest *am, const char *dir, const char *name, char *err, size_t errlen)
{
    rk_buf b;
    rk_buf_init(&b);
    int rc = aof_manifest_format(am, &b, err, errlen);
    if (rc == 0)
        rc = aof_write_file_atomic(dir, name, b.data ? b.data : "", b.len, err, errlen);
    rk_buf_free(&b);
    return rc;
}

/* ---- names ------------------------------------------------------------- */

int aof_name_base(char *buf, size_t cap, const char *prefix, int shard, long long seq, int rdb)
{
    return snprintf(buf, cap, "%s.s%d.%lld.base.%s", prefix, shard, seq, rdb ? "rdb" : "aof");
}

int aof_name_incr(char *buf, size_t cap, const char *prefix, int shard, long long seq)
{
    return snprintf(buf, cap, "%s.s%d.%lld.incr.aof", prefix, shard, seq);
}

int aof_name_manifest(char *buf, size_t cap, const char *prefix)
{
    return snprintf(buf, cap, "%s.manifest", prefix);
}
