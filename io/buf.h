/* buf.h: a growable byte buffer, the unit every socket and reply path shares.
 *
 * Owner: whoever holds the struct; a buffer is never touched by two threads.
 * Invariant: len <= cap; data is NULL iff cap == 0. Bytes [0, len) are valid.
 * Allocation failure is reported by return value, the buffer is then unchanged. */
#ifndef RK_IO_BUF_H
#define RK_IO_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct rk_buf {
    char *data;
    size_t len;
    size_t cap;
} rk_buf;

/* A borrowed view of bytes; never owns memory. */
typedef struct rk_slice {
    const char *ptr;
    size_t len;
} rk_slice;

#define RK_SLICE(s) ((rk_slice){(s), sizeof(s) - 1})

void rk_buf_init(rk_buf *b);
void rk_buf_free(rk_buf *b);
/* Ensures cap - len >= extra. 0 on success, -1 on allocation failure. */
int rk_buf_reserve(rk_buf *b, size_t extra);
int rk_buf_append(rk_buf *b, const void *p, size_t n);
int rk_buf_append_str(rk_buf *b, const char *s);
int rk_buf_printf(rk_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Drops the first n bytes (n <= len). */
void rk_buf_consume(rk_buf *b, size_t n);
void rk_buf_clear(rk_buf *b);
/* Releases capacity beyond max(len, keep) bytes; used to shrink idle buffers. */
void rk_buf_shrink(rk_buf *b, size_t keep);

int rk_slice_eq_nocase(rk_slice a, const char *lit);

#endif
