/* resp_fuzz.c: libFuzzer harness for io/resp.c.
 *
 * Feeds the input to the request parser whole and in two pieces cut at a
 * point taken from the data, and aborts if the two runs disagree on any
 * command, error or consumed byte count. Also checks resp_reply_len: a
 * complete length must be stable when re-scanned and every shorter prefix of
 * a value must read as incomplete. Single-threaded, no global state. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/resp.h"

#define MAX_EVENTS 4096

typedef struct run_log {
    uint64_t events[MAX_EVENTS];
    size_t count;
    size_t left; /* unconsumed bytes when the input ran out, or SIZE_MAX after an error */
} run_log;

static uint64_t fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++)
        h = (h ^ s[i]) * 1099511628211ULL;
    return h;
}

static uint64_t event_hash(int rc, const resp_args *a, size_t consumed, const char *err)
{
    uint64_t h = fnv(14695981039346656037ULL, &rc, sizeof(rc));
    if (rc == RESP_ERROR)
        return fnv(h, err, strlen(err));
    h = fnv(h, &consumed, sizeof(consumed));
    for (size_t i = 0; rc == RESP_COMMAND && i < a->argc; i++) {
        h = fnv(h, &a->argv[i].len, sizeof(a->argv[i].len));
        h = fnv(h, a->argv[i].ptr, a->argv[i].len);
    }
    return h;
}

/* Parses what is pending in a fresh heap copy (so the parser cannot lean
 * on a stable address), logging every event; returns 0 on error. */
static int drain(resp_parser *p, resp_args *args, char **pending, size_t *pending_len, run_log *log)
{
    for (;;) {
        char *copy = malloc(*pending_len ? *pending_len : 1);
        if (copy == NULL)
            abort();
        memcpy(copy, *pending, *pending_len);
        free(*pending);
        *pending = copy;
        size_t consumed = 0, hint = 0;
        const char *err = NULL;
        int rc = resp_parse_command(p, copy, *pending_len, args, &consumed, &hint, &err);
        if (rc == RESP_NEED_MORE) {
            assert(hint == 0 || hint > *pending_len);
            return 1;
        }
        if (log->count < MAX_EVENTS)
            log->events[log->count++] = event_hash(rc, args, consumed, err);
        if (rc == RESP_ERROR)
            return 0;
        assert(consumed > 0 && consumed <= *pending_len);
        memmove(copy, copy + consumed, *pending_len - consumed);
        *pending_len -= consumed;
    }
}

static void run(const uint8_t *data, size_t size, size_t cut, int64_t max_bulk, run_log *log)
{
    resp_parser p;
    resp_parser_init(&p, max_bulk);
    resp_args args;
    memset(&args, 0, sizeof(args));
    char *pending = NULL;
    size_t pending_len = 0;
    size_t pieces[2][2] = {{0, cut}, {cut, size}};
    log->count = 0;
    log->left = SIZE_MAX;
    int ok = 1;
    for (int i = 0; i < 2 && ok; i++) {
        size_t n = pieces[i][1] - pieces[i][0];
        char *grown = realloc(pending, pending_len + n + 1);
        if (grown == NULL)
            abort();
        pending = grown;
        memcpy(pending + pending_len, data + pieces[i][0], n);
        pending_len += n;
        ok = drain(&p, &args, &pending, &pending_len, log);
    }
    if (ok)
        log->left = pending_len;
    free(pending);
    resp_args_free(&args);
}

static void check_reply_len(const uint8_t *data, size_t size, size_t cut)
{
    const char *buf = (const char *)data;
    int64_t n = resp_reply_len(buf, size);
    assert(n >= -1 && n <= (int64_t)size);
    if (n > 0) {
        assert(resp_reply_len(buf, (size_t)n) == n);
        if (cut < (size_t)n)
            assert(resp_reply_len(buf, cut) == 0);
    } else if (n == 0) {
        assert(resp_reply_len(buf, cut) == 0);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    /* Two control bytes: where to cut, and whether to use a tiny bulk limit. */
    size_t cut_seed = (size_t)data[0] << 8 | data[1];
    int64_t max_bulk = (data[0] & 1) ? 64 : 512LL * 1024 * 1024;
    data += 2;
    size -= 2;
    size_t cut = size ? cut_seed % (size + 1) : 0;

    static run_log whole, split;
    run(data, size, size, max_bulk, &whole);
    run(data, size, cut, max_bulk, &split);
    if (whole.count != split.count || whole.left != split.left ||
        memcmp(whole.events, split.events, whole.count * sizeof(whole.events[0])) != 0)
        abort();

    check_reply_len(data, size, cut);
    return 0;
}
