/* resp.c: the RESP request parser (multibulk and inline) and the reply scanner.
 *
 * Owns: the parse state of one connection (resp_parser) and its argument
 * arrays (resp_args). Threads: only the connection's thread.
 * Invariants: the parser stores offsets relative to the command start, never
 * pointers, so the caller may realloc its buffer between calls; argv pointers
 * are filled only when a command is complete. Bulk payloads are counted once:
 * a resumed call starts at p->pos. Every limit is checked on line length, not
 * on how much has arrived, so any split of the input gives the same result.
 * Behaviour and error texts follow Redis 7's processMultibulkBuffer,
 * processInlineBuffer and sdssplitargs. */
#include "io/resp.h"

#include <assert.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RESP_BIG_BULK (32 * 1024) /* PROTO_MBULK_BIG_ARG: worth a reserve hint */
#define RESP_ARGV_PREALLOC 1024   /* never trust a "*N" count for more than this */

static const char ERR_OOM[] = "out of memory";
static const char ERR_MBULK_LEN[] = "Protocol error: invalid multibulk length";
static const char ERR_BULK_LEN[] = "Protocol error: invalid bulk length";
static const char ERR_INLINE_BIG[] = "Protocol error: too big inline request";
static const char ERR_MBULK_BIG[] = "Protocol error: too big mbulk count string";
static const char ERR_BULK_BIG[] = "Protocol error: too big bulk count string";
static const char ERR_QUOTES[] = "Protocol error: unbalanced quotes in request";

void resp_parser_init(resp_parser *p, int64_t max_bulk_len)
{
    memset(p, 0, sizeof(*p));
    p->max_bulk_len = max_bulk_len;
    p->bulk_len = -1;
}

/* Keeps err_text: an error returned to the caller may point into it. */
static void parser_reset(resp_parser *p)
{
    p->in_multibulk = 0;
    p->multibulk_left = 0;
    p->bulk_len = -1;
    p->pos = 0;
    p->inline_cmd = 0;
    p->line_scanned = 0;
}

void resp_args_free(resp_args *a)
{
    free(a->argv);
    free(a->arg_off);
    rk_buf_free(&a->inline_store);
    a->argv = NULL;
    a->arg_off = NULL;
    a->argc = 0;
    a->cap = 0;
}

static int args_reserve(resp_args *a, size_t want)
{
    if (want <= a->cap)
        return 0;
    if (want > SIZE_MAX / sizeof(rk_slice))
        return -1;
    rk_slice *argv = realloc(a->argv, want * sizeof(*argv));
    if (argv == NULL)
        return -1;
    a->argv = argv;
    size_t *offs = realloc(a->arg_off, want * sizeof(*offs));
    if (offs == NULL)
        return -1; /* argv grew but cap did not: still consistent */
    a->arg_off = offs;
    a->cap = want;
    return 0;
}

/* Redis's string2ll: optional '-', no '+', no leading zeros, no spaces. */
static int parse_ll(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 20)
        return 0;
    if (n == 1 && s[0] == '0') {
        *out = 0;
        return 1;
    }
    size_t i = 0;
    int negative = s[0] == '-';
    if (negative && ++i == n)
        return 0;
    if (s[i] < '1' || s[i] > '9')
        return 0;
    uint64_t v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return 0;
        unsigned d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return 0;
        v = v * 10 + d;
    }
    if (negative) {
        if (v > (uint64_t)INT64_MAX + 1)
            return 0;
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    } else {
        if (v > (uint64_t)INT64_MAX)
            return 0;
        *out = (int64_t)v;
    }
    return 1;
}

/* Finds term in buf[pos, len), skipping what an earlier call already searched. */
static const char *scan_line(resp_parser *p, const char *buf, size_t len, char term)
{
    assert(p->pos <= len);
    size_t from = p->pos + p->line_scanned;
    if (from > len)
        from = p->pos; /* caller shrank the buffer: search again */
    const char *hit = memchr(buf + from, term, len - from);
    p->line_scanned = (hit ? (size_t)(hit - buf) : len) - p->pos;
    return hit;
}

/* ---- multibulk ---- */

/* Reads a "*N" or "$N" line at p->pos. Returns 1 with p->pos past the line
 * and *valid telling whether it held a number (*value), 0 for more bytes,
 * or -1 with *err set. */
static int read_header(resp_parser *p, const char *buf, size_t len, const char *too_big,
                       int64_t *value, int *valid, const char **err)
{
    const char *cr = scan_line(p, buf, len, '\r');
    size_t line_len = cr ? (size_t)(cr - (buf + p->pos)) : len - p->pos;
    if (line_len > RESP_MAX_HEADER_LINE) {
        *err = too_big;
        return -1;
    }
    /* Like Redis, the byte after '\r' is taken as the '\n' unchecked. */
    if (cr == NULL || (size_t)(cr - buf) + 1 >= len)
        return 0;
    char kind = buf[p->pos];
    if (kind != (p->in_multibulk ? '$' : '*')) {
        assert(p->in_multibulk); /* the caller dispatched on the leading '*' */
        snprintf(p->err_text, sizeof(p->err_text), "Protocol error: expected '$', got '%c'", kind);
        *err = p->err_text;
        return -1;
    }
    *valid = parse_ll(buf + p->pos + 1, line_len - 1, value);
    p->pos += line_len + 2;
    p->line_scanned = 0;
    return 1;
}

static int parse_multibulk(resp_parser *p, const char *buf, size_t len, resp_args *out,
                           size_t *consumed, size_t *hint, const char **err)
{
    int64_t value = 0;
    int valid = 0, rc;
    if (!p->in_multibulk) {
        assert(p->pos == 0 && buf[0] == '*');
        rc = read_header(p, buf, len, ERR_MBULK_BIG, &value, &valid, err);
        if (rc <= 0)
            return rc == 0 ? RESP_NEED_MORE : RESP_ERROR;
        if (!valid || value > RESP_MAX_MULTIBULK) {
            *err = ERR_MBULK_LEN;
            return RESP_ERROR;
        }
        if (p->unauthenticated && value > RESP_UNAUTH_MAX_MULTIBULK) {
            *err = "Protocol error: unauthenticated multibulk length";
            return RESP_ERROR;
        }
        if (value <= 0) {
            *consumed = p->pos;
            parser_reset(p);
            return RESP_EMPTY;
        }
        size_t prealloc = value < RESP_ARGV_PREALLOC ? (size_t)value : RESP_ARGV_PREALLOC;
        if (args_reserve(out, prealloc) != 0) {
            *err = ERR_OOM;
            return RESP_ERROR;
        }
        p->in_multibulk = 1;
        p->multibulk_left = value;
        p->bulk_len = -1;
        out->argc = 0;
    }

    while (p->multibulk_left > 0) {
        if (p->bulk_len < 0) {
            if (p->pos >= len)
                return RESP_NEED_MORE;
            rc = read_header(p, buf, len, ERR_BULK_BIG, &value, &valid, err);
            if (rc <= 0)
                return rc == 0 ? RESP_NEED_MORE : RESP_ERROR;
            if (!valid || value < 0 || value > p->max_bulk_len) {
                *err = ERR_BULK_LEN;
                return RESP_ERROR;
            }
            if (p->unauthenticated && value > RESP_UNAUTH_MAX_BULK) {
                *err = "Protocol error: unauthenticated bulk length";
                return RESP_ERROR;
            }
            p->bulk_len = value;
        }
        size_t need = p->pos + (size_t)p->bulk_len + 2;
        if (len < need) {
            if (hint && p->bulk_len >= RESP_BIG_BULK)
                *hint = need;
            return RESP_NEED_MORE;
        }
        if (out->argc == out->cap && args_reserve(out, out->cap ? out->cap * 2 : 8) != 0) {
            *err = ERR_OOM;
            return RESP_ERROR;
        }
        out->arg_off[out->argc] = p->pos;
        out->argv[out->argc].len = (size_t)p->bulk_len;
        out->argc++;
        p->pos = need; /* the trailing CRLF is skipped unchecked, as Redis does */
        p->bulk_len = -1;
        p->multibulk_left--;
    }

    for (size_t i = 0; i < out->argc; i++)
        out->argv[i].ptr = buf + out->arg_off[i];
    *consumed = p->pos;
    parser_reset(p);
    return RESP_COMMAND;
}

/* ---- inline ---- */

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Byte i of the line, with Redis's C-string view: past the end reads NUL. */
static char line_at(const char *line, size_t n, size_t i)
{
    return i < n ? line[i] : '\0';
}

/* Splits one inline line like sdssplitargs. An embedded NUL ends the line,
 * as it does for Redis. Returns 0, -1 for unbalanced quotes, -2 for OOM. */
static int split_inline(const char *line, size_t n, resp_args *out)
{
    rk_buf *store = &out->inline_store;
    rk_buf_clear(store);
    /* Unescaped text is never longer than its source, so one reserve keeps
     * store->data stable while slices are taken. */
    if (rk_buf_reserve(store, n + 1) != 0)
        return -2;
    out->argc = 0;
    size_t i = 0;
    for (;;) {
        while (line_at(line, n, i) && is_space(line_at(line, n, i)))
            i++;
        if (!line_at(line, n, i))
            return 0;
        size_t start = store->len;
        int in_dq = 0, in_sq = 0, done = 0;
        while (!done) {
            char c = line_at(line, n, i);
            char next = line_at(line, n, i + 1);
            if (in_dq) {
                if (c == '\\' && next == 'x' && hex_value(line_at(line, n, i + 2)) >= 0 &&
                    hex_value(line_at(line, n, i + 3)) >= 0) {
                    store->data[store->len++] = (char)(hex_value(line_at(line, n, i + 2)) * 16 +
                                                       hex_value(line_at(line, n, i + 3)));
                    i += 3;
                } else if (c == '\\' && next) {
                    i++;
                    char e = next == 'n' ? '\n' : next == 'r' ? '\r' : next == 't' ? '\t'
                           : next == 'b' ? '\b' : next == 'a' ? '\a' : next;
                    store->data[store->len++] = e;
                } else if (c == '"') {
                    /* A closing quote must end the argument. */
                    if (next && !is_space(next))
                        return -1;
                    done = 1;
                } else if (!c) {
                    return -1;
                } else {
                    store->data[store->len++] = c;
                }
            } else if (in_sq) {
                if (c == '\\' && next == '\'') {
                    i++;
                    store->data[store->len++] = '\'';
                } else if (c == '\'') {
                    if (next && !is_space(next))
                        return -1;
                    done = 1;
                } else if (!c) {
                    return -1;
                } else {
                    store->data[store->len++] = c;
                }
            } else if (c == ' ' || c == '\n' || c == '\r' || c == '\t' || c == '\0') {
                done = 1;
            } else if (c == '"') {
                in_dq = 1;
            } else if (c == '\'') {
                in_sq = 1;
            } else {
                store->data[store->len++] = c;
            }
            if (line_at(line, n, i))
                i++;
        }
        assert(store->len <= store->cap);
        if (out->argc == out->cap && args_reserve(out, out->cap ? out->cap * 2 : 8) != 0)
            return -2;
        out->argv[out->argc].ptr = store->data + start;
        out->argv[out->argc].len = store->len - start;
        out->argc++;
    }
}

static int parse_inline(resp_parser *p, const char *buf, size_t len, resp_args *out,
                        size_t *consumed, const char **err)
{
    assert(p->pos == 0);
    p->inline_cmd = 1;
    const char *nl = scan_line(p, buf, len, '\n');
    size_t line_len = nl ? (size_t)(nl - buf) : len;
    if (line_len > RESP_MAX_INLINE) {
        *err = ERR_INLINE_BIG;
        return RESP_ERROR;
    }
    if (nl == NULL)
        return RESP_NEED_MORE;
    size_t text_len = line_len;
    if (text_len > 0 && buf[text_len - 1] == '\r')
        text_len--;
    int rc = split_inline(buf, text_len, out);
    if (rc != 0) {
        *err = rc == -1 ? ERR_QUOTES : ERR_OOM;
        out->argc = 0;
        return RESP_ERROR;
    }
    *consumed = line_len + 1;
    parser_reset(p);
    return out->argc ? RESP_COMMAND : RESP_EMPTY;
}

int resp_parse_command(resp_parser *p, const char *buf, size_t len, resp_args *out,
                       size_t *consumed, size_t *hint, const char **err)
{
    if (hint)
        *hint = 0;
    *consumed = 0;
    if (len == 0)
        return RESP_NEED_MORE;
    int rc = (p->in_multibulk || buf[0] == '*')
                 ? parse_multibulk(p, buf, len, out, consumed, hint, err)
                 : parse_inline(p, buf, len, out, consumed, err);
    if (rc == RESP_ERROR)
        parser_reset(p);
    return rc;
}

/* ---- reply scanner ---- */

/* Offset just past the CRLF of the line starting at off; 0 incomplete, -1 bad. */
static int64_t reply_line_end(const char *buf, size_t len, size_t off)
{
    const char *cr = memchr(buf + off, '\r', len - off);
    if (cr == NULL || (size_t)(cr - buf) + 1 >= len)
        return 0;
    if (cr[1] != '\n')
        return -1;
    return (int64_t)(cr - buf) + 2;
}

int64_t resp_reply_len(const char *buf, size_t len)
{
    size_t off = 0;
    /* Values still to read. Counts above len cannot complete inside buf and
     * return 0 early, which also keeps this sum far from overflow. */
    uint64_t remaining = 1;
    while (remaining > 0) {
        if (off >= len)
            return 0;
        char type = buf[off];
        int64_t end = reply_line_end(buf, len, off + 1);
        if (end <= 0)
            return end;
        const char *num = buf + off + 1;
        size_t num_len = (size_t)end - 2 - (off + 1);
        int64_t n = 0;
        remaining--;
        switch (type) {
        case '+': case '-': case ':': case ',': case '#': case '_': case '(':
            off = (size_t)end;
            break;
        case '$': case '=': case '!':
            if (!parse_ll(num, num_len, &n) || n < -1 || (n == -1 && type != '$'))
                return -1;
            if (n == -1) {
                off = (size_t)end;
                break;
            }
            if ((uint64_t)n + 2 > len - (size_t)end)
                return 0;
            if (buf[end + n] != '\r' || buf[end + n + 1] != '\n')
                return -1;
            off = (size_t)end + (size_t)n + 2;
            break;
        case '*': case '%': case '~': case '>': case '|':
            if (!parse_ll(num, num_len, &n) || n < -1 || (n == -1 && type != '*'))
                return -1;
            off = (size_t)end;
            if (n <= 0)
                break;
            if ((uint64_t)n > len)
                return 0;
            remaining += (uint64_t)n * (type == '%' || type == '|' ? 2 : 1);
            if (type == '|')
                remaining++; /* attributes precede the value they describe */
            break;
        default:
            return -1;
        }
    }
    return (int64_t)off;
}
