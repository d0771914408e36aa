/* reply.h: writes RESP2 or RESP3 replies into a buffer.
 *
 * Owner: the thread that owns the destination buffer.
 * Each function appends one complete value (or an aggregate header) and
 * returns 0, or -1 when memory ran out (the buffer then holds a prefix of
 * what was written before the call, never a torn value). */
#ifndef RK_IO_REPLY_H
#define RK_IO_REPLY_H

#include <stddef.h>
#include <stdint.h>
#include "buf.h"

typedef struct rk_reply {
    rk_buf *out;
    int resp;  /* 2 or 3 */
} rk_reply;

int reply_simple(rk_reply *r, const char *s);           /* +s */
int reply_ok(rk_reply *r);                              /* +OK */
int reply_error(rk_reply *r, const char *msg);          /* -msg; msg carries its code, e.g. "ERR ..." */
int reply_errorf(rk_reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int reply_int(rk_reply *r, int64_t v);                  /* :v */
int reply_bulk(rk_reply *r, const void *p, size_t n);   /* $n */
int reply_bulk_str(rk_reply *r, const char *s);
int reply_bulk_int(rk_reply *r, int64_t v);             /* integer as a bulk string */
int reply_null(rk_reply *r);                            /* RESP2 $-1, RESP3 _ */
int reply_null_array(rk_reply *r);                      /* RESP2 *-1, RESP3 _ */
int reply_array(rk_reply *r, int64_t n);                /* *n */
int reply_map(rk_reply *r, int64_t n);                  /* RESP3 %n, RESP2 *2n */
int reply_set(rk_reply *r, int64_t n);                  /* RESP3 ~n, RESP2 *n */
int reply_push(rk_reply *r, int64_t n);                 /* RESP3 >n, RESP2 *n */
int reply_double(rk_reply *r, double d);                /* RESP3 ,d ; RESP2 bulk with %.17g as Redis */
/* Redis's addReplyHumanLongDouble: rk_fmt_long_double's text, as a bulk
 * string (RESP2) or a double (RESP3). */
int reply_human_long_double(rk_reply *r, long double d);
int reply_bool(rk_reply *r, int v);                     /* RESP3 #t/#f ; RESP2 :1/:0 */
int reply_verbatim(rk_reply *r, const char *p, size_t n, const char *fmt3); /* RESP3 =n txt:..; RESP2 bulk */
/* Aggregate whose length is known only after its elements: returns a handle
 * (offset) to pass to reply_set_deferred_*. kind is '*', '%', '~'. */
int64_t reply_deferred(rk_reply *r);
int reply_set_deferred_array(rk_reply *r, int64_t handle, int64_t n);
int reply_set_deferred_map(rk_reply *r, int64_t handle, int64_t n);
int reply_set_deferred_set(rk_reply *r, int64_t handle, int64_t n);

/* Formats a double the way Redis prints it in replies (inf, -inf, nan, %.17g).
 * Returns the length, or 0 when cap is too small; NUL-terminated. */
int rk_fmt_double(char *buf, size_t cap, double d);
/* Formats a long double as INCRBYFLOAT does (Redis ld2string human mode:
 * %.17Lf, trailing zeros and dot trimmed, "-0" as "0", inf/-inf). Returns
 * the length, or 0 when cap is too small (the buffer is NUL-terminated). */
int rk_fmt_long_double(char *buf, size_t cap, long double d);

#endif
