/* reply.c: the RESP2/RESP3 reply writer.
 *
 * Owns: nothing; appends to the rk_buf the caller hands in.
 * Threads: the thread that owns that buffer.
 * Invariants: every function reserves the whole value before writing any of
 * it, so an allocation failure leaves the buffer as it was (no torn value).
 * Bytes match Redis 7.0's addReply* functions for both protocols. */
#include "io/reply.h"

#include <assert.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Room for a type byte, a 20-digit number with sign and CRLF. */
#define HEADER_MAX 24
/* Placeholder size of a deferred header: "*N\r\n" for N < 10 fits with no move. */
#define DEFERRED_ROOM 4

/* Writes v in decimal at out; snprintf costs more than the rest of a reply. */
static int fmt_int(char *out, int64_t v)
{
    char rev[20];
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    int n = 0;
    do {
        rev[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    int len = 0;
    if (v < 0)
        out[len++] = '-';
    while (n)
        out[len++] = rev[--n];
    return len;
}

static int header_fmt(char *out, char type, int64_t n)
{
    out[0] = type;
    int len = 1 + fmt_int(out + 1, n);
    out[len++] = '\r';
    out[len++] = '\n';
    assert(len < HEADER_MAX);
    return len;
}

static int append_header(rk_reply *r, char type, int64_t n)
{
    char hdr[HEADER_MAX];
    int len = header_fmt(hdr, type, n);
    return rk_buf_append(r->out, hdr, (size_t)len);
}

/* type + text + CRLF, reserved as one piece. */
static int append_line(rk_reply *r, char type, const char *s, size_t n)
{
    rk_buf *b = r->out;
    if (rk_buf_reserve(b, n + 3) != 0)
        return -1;
    b->data[b->len] = type;
    if (n)
        memcpy(b->data + b->len + 1, s, n);
    memcpy(b->data + b->len + 1 + n, "\r\n", 2);
    b->len += n + 3;
    return 0;
}

int reply_simple(rk_reply *r, const char *s)
{
    return append_line(r, '+', s, strlen(s));
}

int reply_ok(rk_reply *r)
{
    return rk_buf_append(r->out, "+OK\r\n", 5);
}

/* An error line must stay one line: Redis turns CR and LF into spaces. */
static int append_error(rk_reply *r, const char *msg, size_t n)
{
    if (n > 0 && msg[0] == '-') {
        msg++;
        n--;
    }
    rk_buf *b = r->out;
    size_t start = b->len;
    if (append_line(r, '-', msg, n) != 0)
        return -1;
    for (size_t i = start + 1; i < start + 1 + n; i++)
        if (b->data[i] == '\r' || b->data[i] == '\n')
            b->data[i] = ' ';
    return 0;
}

int reply_error(rk_reply *r, const char *msg)
{
    return append_error(r, msg, strlen(msg));
}

int reply_errorf(rk_reply *r, const char *fmt, ...)
{
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t)n < sizeof(small))
        return append_error(r, small, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (big == NULL)
        return -1;
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    int rc = append_error(r, big, (size_t)n);
    free(big);
    return rc;
}

int reply_int(rk_reply *r, int64_t v)
{
    return append_header(r, ':', v);
}

int reply_bulk(rk_reply *r, const void *p, size_t n)
{
    char hdr[HEADER_MAX];
    int hlen = header_fmt(hdr, '$', (int64_t)n);
    rk_buf *b = r->out;
    if (rk_buf_reserve(b, (size_t)hlen + n + 2) != 0)
        return -1;
    memcpy(b->data + b->len, hdr, (size_t)hlen);
    if (n)
        memcpy(b->data + b->len + hlen, p, n);
    memcpy(b->data + b->len + hlen + n, "\r\n", 2);
    b->len += (size_t)hlen + n + 2;
    return 0;
}

int reply_bulk_str(rk_reply *r, const char *s)
{
    return reply_bulk(r, s, strlen(s));
}

int reply_bulk_int(rk_reply *r, int64_t v)
{
    char digits[HEADER_MAX];
    int n = fmt_int(digits, v);
    return reply_bulk(r, digits, (size_t)n);
}

int reply_null(rk_reply *r)
{
    return r->resp >= 3 ? rk_buf_append(r->out, "_\r\n", 3) : rk_buf_append(r->out, "$-1\r\n", 5);
}

int reply_null_array(rk_reply *r)
{
    return r->resp >= 3 ? rk_buf_append(r->out, "_\r\n", 3) : rk_buf_append(r->out, "*-1\r\n", 5);
}

int reply_array(rk_reply *r, int64_t n)
{
    return append_header(r, '*', n);
}

int reply_map(rk_reply *r, int64_t n)
{
    return r->resp >= 3 ? append_header(r, '%', n) : append_header(r, '*', n * 2);
}

int reply_set(rk_reply *r, int64_t n)
{
    return append_header(r, r->resp >= 3 ? '~' : '*', n);
}

int reply_push(rk_reply *r, int64_t n)
{
    return append_header(r, r->resp >= 3 ? '>' : '*', n);
}

int rk_fmt_double(char *buf, size_t cap, double d)
{
    int n;
    if (isinf(d))
        n = snprintf(buf, cap, "%s", d > 0 ? "inf" : "-inf");
    else if (isnan(d))
        n = snprintf(buf, cap, "nan"); /* glibc would print "-nan" for some */
    else
        n = snprintf(buf, cap, "%.17g", d);
    return n < 0 || (size_t)n >= cap ? 0 : n;
}

int rk_fmt_long_double(char *buf, size_t cap, long double d)
{
    int n;
    if (isinf(d))
        n = snprintf(buf, cap, "%s", d > 0 ? "inf" : "-inf");
    else if (isnan(d))
        n = snprintf(buf, cap, "nan");
    else
        n = snprintf(buf, cap, "%.17Lf", d);
    if (n < 0 || (size_t)n >= cap) {
        if (cap)
            buf[0] = '\0';
        return 0;
    }
    if (!isfinite(d))
        return n;
    /* %.17Lf always prints a '.', so trailing zeros are all fractional. */
    while (buf[n - 1] == '0')
        n--;
    if (buf[n - 1] == '.')
        n--;
    if (n == 2 && buf[0] == '-' && buf[1] == '0') {
        buf[0] = '0';
        n = 1;
    }
    buf[n] = '\0';
    return n;
}

int reply_double(rk_reply *r, double d)
{
    char text[64];
    int n = rk_fmt_double(text, sizeof(text), d);
    assert(n > 0);
    if (r->resp >= 3)
        return append_line(r, ',', text, (size_t)n);
    return reply_bulk(r, text, (size_t)n);
}

int reply_human_long_double(rk_reply *r, long double d)
{
    char text[5200]; /* %.17Lf of the largest long double */
    int n = rk_fmt_long_double(text, sizeof(text), d);
    assert(n > 0);
    if (r->resp >= 3)
        return append_line(r, ',', text, (size_t)n);
    return reply_bulk(r, text, (size_t)n);
}

int reply_bool(rk_reply *r, int v)
{
    if (r->resp >= 3)
        return rk_buf_append(r->out, v ? "#t\r\n" : "#f\r\n", 4);
    return rk_buf_append(r->out, v ? ":1\r\n" : ":0\r\n", 4);
}

int reply_verbatim(rk_reply *r, const char *p, size_t n, const char *fmt3)
{
    if (r->resp < 3)
        return reply_bulk(r, p, n);
    const char *kind = fmt3 ? fmt3 : "txt";
    assert(strlen(kind) == 3);
    char hdr[HEADER_MAX + 4];
    int hlen = header_fmt(hdr, '=', (int64_t)n + 4);
    memcpy(hdr + hlen, kind, 3);
    hdr[hlen + 3] = ':';
    hlen += 4;
    rk_buf *b = r->out;
    if (rk_buf_reserve(b, (size_t)hlen + n + 2) != 0)
        return -1;
    memcpy(b->data + b->len, hdr, (size_t)hlen);
    if (n)
        memcpy(b->data + b->len + hlen, p, n);
    memcpy(b->data + b->len + hlen + n, "\r\n", 2);
    b->len += (size_t)hlen + n + 2;
    return 0;
}

int64_t reply_deferred(rk_reply *r)
{
    int64_t handle = (int64_t)r->out->len;
    if (rk_buf_append(r->out, "*0\r\n", DEFERRED_ROOM) != 0)
        return -1;
    return handle;
}

/* Replaces the placeholder at handle with the real header, moving what
 * follows when the sizes differ. */
static int set_deferred(rk_reply *r, int64_t handle, char type, int64_t n)
{
    rk_buf *b = r->out;
    assert(handle >= 0 && (size_t)handle + DEFERRED_ROOM <= b->len);
    char hdr[HEADER_MAX];
    size_t hlen = (size_t)header_fmt(hdr, type, n);
    size_t at = (size_t)handle;
    size_t tail = b->len - at - DEFERRED_ROOM;
    if (hlen > DEFERRED_ROOM && rk_buf_reserve(b, hlen - DEFERRED_ROOM) != 0)
        return -1;
    if (hlen != DEFERRED_ROOM)
        memmove(b->data + at + hlen, b->data + at + DEFERRED_ROOM, tail);
    memcpy(b->data + at, hdr, hlen);
    b->len = at + hlen + tail;
    return 0;
}

int reply_set_deferred_array(rk_reply *r, int64_t handle, int64_t n)
{
    return set_deferred(r, handle, '*', n);
}

int reply_set_deferred_map(rk_reply *r, int64_t handle, int64_t n)
{
    return r->resp >= 3 ? set_deferred(r, handle, '%', n) : set_deferred(r, handle, '*', n * 2);
}

int reply_set_deferred_set(rk_reply *r, int64_t handle, int64_t n)
{
    return set_deferred(r, handle, r->resp >= 3 ? '~' : '*', n);
}
