/* ctx.c: reply and argument helpers every command proc uses.
 *
 * Called only on the shard thread executing the command (c->shard), so
 * error statistics and the dirty counter are updated without locks.
 * Invariant: every error reply written through these helpers is counted
 * once in c->errors and in the shard's errorstats. Propagation overrides
 * are formatted only while the shard's journal has a consumer, so with the
 * journal off a rewrite costs one store. */
#include "core/command.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/journal.h"
#include "core/object.h"
#include "core/shard.h"

void ctx_error(rk_ctx *c, const char *msg) {
    reply_error(&c->r, msg);
    c->errors++;
    if (c->shard) shard_count_error(c->shard, msg);
}

void ctx_errorf(rk_ctx *c, const char *fmt, ...) {
    char small[256];
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(small, sizeof(small), fmt, ap);
    va_end(ap);
    if (n < 0) {
        ctx_error(c, "ERR error formatting reply");
        return;
    }
    if ((size_t)n < sizeof(small)) {
        ctx_error(c, small);
        return;
    }
    char *big = malloc((size_t)n + 1);
    if (!big) {
        ctx_error(c, small); /* truncated is better than nothing */
        return;
    }
    va_start(ap, fmt);
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    va_end(ap);
    ctx_error(c, big);
    free(big);
}

void ctx_wrongtype(rk_ctx *c) {
    ctx_error(c, "WRONGTYPE Operation against a key holding the wrong kind of value");
}

void ctx_syntax_error(rk_ctx *c) { ctx_error(c, "ERR syntax error"); }

void ctx_not_int(rk_ctx *c) { ctx_error(c, "ERR value is not an integer or out of range"); }

void ctx_not_float(rk_ctx *c) { ctx_error(c, "ERR value is not a valid float"); }

void ctx_oom(rk_ctx *c) { ctx_error(c, "ERR out of memory"); }

void ctx_wrong_arity(rk_ctx *c) {
    if (c->cmd) {
        ctx_errorf(c, "ERR wrong number of arguments for '%s' command", cmd_full_name(c->cmd));
        return;
    }
    /* No table entry: name the command as typed, lower-cased like Redis. */
    char name[128];
    size_t n = 0;
    if (c->argc > 0)
        for (; n < c->argv[0].len && n < sizeof(name) - 1; n++)
            name[n] = (char)tolower((unsigned char)c->argv[0].ptr[n]);
    name[n] = '\0';
    ctx_errorf(c, "ERR wrong number of arguments for '%s' command", name);
}

int ctx_arg_ll(rk_ctx *c, int i, long long *out) {
    if (i < 0 || i >= c->argc || !rk_str2ll(c->argv[i].ptr, c->argv[i].len, out)) {
        ctx_not_int(c);
        return -1;
    }
    return 0;
}

int ctx_arg_ld(rk_ctx *c, int i, long double *out) {
    if (i < 0 || i >= c->argc || !rk_str2ld(c->argv[i].ptr, c->argv[i].len, out)) {
        ctx_not_float(c);
        return -1;
    }
    return 0;
}

int ctx_arg_double(rk_ctx *c, int i, double *out) {
    if (i < 0 || i >= c->argc || !rk_str2d(c->argv[i].ptr, c->argv[i].len, out)) {
        ctx_not_float(c);
        return -1;
    }
    return 0;
}

int ctx_arg_is(rk_ctx *c, int i, const char *lit) {
    if (i < 0 || i >= c->argc) return 0;
    return rk_slice_eq_nocase(c->argv[i], lit);
}

void ctx_dirty(rk_ctx *c, long long n) {
    if (c->shard) c->shard->dirty += n;
}

rk_slice *argv_dup(int argc, const rk_slice *argv) {
    size_t bytes = sizeof(rk_slice) * (size_t)argc;
    for (int i = 0; i < argc; i++) bytes += argv[i].len + 1;
    rk_slice *copy = malloc(bytes ? bytes : 1);
    if (!copy) return NULL;
    char *p = (char *)(copy + argc);
    for (int i = 0; i < argc; i++) {
        memcpy(p, argv[i].ptr, argv[i].len);
        p[argv[i].len] = '\0';
        copy[i] = (rk_slice){p, argv[i].len};
        p += argv[i].len + 1;
    }
    return copy;
}

void ctx_init(rk_ctx *c, rk_shard *s, int dbid, int resp, const rk_command *cmd, int argc, rk_slice *argv,
              rk_buf *out) {
    memset(c, 0, sizeof(*c));
    c->shard = s;
    c->db = &s->dbs[dbid];
    c->dbid = dbid;
    c->resp = resp;
    c->argc = argc;
    c->argv = argv;
    c->cmd = cmd;
    c->r.out = out;
    c->r.resp = resp;
}

int ctx_journaling(const rk_ctx *c) { return c->shard && journal_active(c->shard->journal); }

/* Formats one command of the override into c->prop. A failed allocation
 * keeps PROP_CUSTOM with what was formatted before; the journal then sees
 * a short override, so it is reported by overrunning its consumers. */
static void prop_add(rk_ctx *c, int argc, const rk_slice *sv, const char *const *cv) {
    c->prop_mode = PROP_CUSTOM;
    if (!ctx_journaling(c)) return;
    size_t mark = c->prop.len;
    int ok = rk_buf_printf(&c->prop, "*%d\r\n", argc) == 0;
    for (int i = 0; ok && i < argc; i++) {
        const char *p = sv ? sv[i].ptr : cv[i];
        size_t len = sv ? sv[i].len : strlen(cv[i]);
        ok = rk_buf_printf(&c->prop, "$%zu\r\n", len) == 0 && rk_buf_append(&c->prop, p, len) == 0 &&
             rk_buf_append(&c->prop, "\r\n", 2) == 0;
    }
    if (ok) {
        c->prop_count++;
        return;
    }
    c->prop.len = mark;
    c->prop_count = -1; /* cmd_call: the override is incomplete */
}

void ctx_propagate(rk_ctx *c, int argc, const rk_slice *argv) {
    if (c->prop_count >= 0) prop_add(c, argc, argv, NULL);
}

void ctx_propagate_cstr(rk_ctx *c, int argc, const char *const *argv) {
    if (c->prop_count >= 0) prop_add(c, argc, NULL, argv);
}

void ctx_propagate_none(rk_ctx *c) {
    c->prop_mode = PROP_NONE;
    rk_buf_free(&c->prop);
    c->prop_count = 0;
}
