/* buf.c: growable byte buffers and borrowed slices.
 *
 * Owns: nothing global; each rk_buf owns its data array.
 * Threads: any, but one buffer is only ever used by one thread at a time.
 * Invariants: len <= cap; data == NULL iff cap == 0; a failed call leaves the
 * buffer exactly as it was. */
#include "io/buf.h"

#include <assert.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define RK_BUF_MIN_CAP 64

static void buf_check(const rk_buf *b)
{
    assert(b->len <= b->cap);
    assert((b->data == NULL) == (b->cap == 0));
    (void)b;
}

void rk_buf_init(rk_buf *b)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
}

void rk_buf_free(rk_buf *b)
{
    free(b->data);
    rk_buf_init(b);
}

int rk_buf_reserve(rk_buf *b, size_t extra)
{
    buf_check(b);
    if (b->cap - b->len >= extra)
        return 0;
    if (extra > (size_t)PTRDIFF_MAX - b->len)
        return -1; /* no object may be that large */
    size_t need = b->len + extra;
    /* Doubling keeps appends amortised O(1); big buffers grow by half to
     * avoid reserving a lot more than a large bulk needs. */
    size_t new_cap = b->cap < RK_BUF_MIN_CAP ? RK_BUF_MIN_CAP
                     : b->cap < (1u << 20)    ? b->cap * 2
                                              : b->cap + b->cap / 2;
    if (new_cap < need)
        new_cap = need;
    char *grown = realloc(b->data, new_cap);
    if (grown == NULL)
        return -1;
    b->data = grown;
    b->cap = new_cap;
    return 0;
}

int rk_buf_append(rk_buf *b, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (rk_buf_reserve(b, n) != 0)
        return -1;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return 0;
}

int rk_buf_append_str(rk_buf *b, const char *s)
{
    return rk_buf_append(b, s, strlen(s));
}

int rk_buf_printf(rk_buf *b, const char *fmt, ...)
{
    va_list ap;
    size_t room = b->cap - b->len;
    va_start(ap, fmt);
    int n = vsnprintf(room ? b->data + b->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n < 0)
        return -1;
    if ((size_t)n < room) {
        b->len += (size_t)n;
        return 0;
    }
    /* Too small: grow to the exact size and format again. vsnprintf wrote
     * only past len, so the valid bytes are untouched on failure. */
    if (rk_buf_reserve(b, (size_t)n + 1) != 0)
        return -1;
    va_start(ap, fmt);
    int again = vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
    va_end(ap);
    assert(again == n);
    (void)again;
    b->len += (size_t)n;
    return 0;
}

void rk_buf_consume(rk_buf *b, size_t n)
{
    assert(n <= b->len);
    if (n == b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

void rk_buf_clear(rk_buf *b)
{
    b->len = 0;
}

void rk_buf_shrink(rk_buf *b, size_t keep)
{
    buf_check(b);
    size_t target = b->len > keep ? b->len : keep;
    if (b->cap <= target)
        return;
    if (target == 0) {
        rk_buf_free(b);
        return;
    }
    char *smaller = realloc(b->data, target);
    if (smaller == NULL)
        return; /* keeping the larger block is harmless */
    b->data = smaller;
    b->cap = target;
}

int rk_slice_eq_nocase(rk_slice a, const char *lit)
{
    size_t n = strlen(lit);
    if (a.len != n)
        return 0;
    return n == 0 || strncasecmp(a.ptr, lit, n) == 0;
}
