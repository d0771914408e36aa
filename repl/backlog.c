/* backlog.c: the replication backlog ring and the PSYNC decision. See
 * backlog.h for the offset convention and the bounds. */
#include "repl/backlog.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct backlog {
    char *buf;
    long long size;    /* ring capacity, >= 1 */
    long long idx;     /* next write position, 0 <= idx < size */
    long long histlen; /* valid bytes, <= size, ending just before idx */
    long long end;     /* master_repl_offset: bytes ever fed (plus the start) */
};

/* Invariants: 0 <= histlen <= size; 0 <= idx < size; end >= histlen. */

backlog *backlog_create(long long size, long long master_repl_offset)
{
    if (size < 1 || master_repl_offset < 0 || (unsigned long long)size > ((size_t)-1) / 2) return NULL;
    backlog *b = calloc(1, sizeof(*b));
    if (!b) return NULL;
    b->buf = malloc((size_t)size);
    if (!b->buf) {
        free(b);
        return NULL;
    }
    b->size = size;
    b->end = master_repl_offset;
    return b;
}

void backlog_free(backlog *b)
{
    if (!b) return;
    free(b->buf);
    free(b);
}

void backlog_feed(backlog *b, const char *p, size_t len)
{
    b->end += (long long)len;
    /* Only the last size bytes can survive. */
    if ((unsigned long long)len > (unsigned long long)b->size) {
        p += len - (size_t)b->size;
        len = (size_t)b->size;
    }
    while (len > 0) {
        size_t room = (size_t)(b->size - b->idx);
        size_t n = len < room ? len : room;
        memcpy(b->buf + b->idx, p, n);
        b->idx += (long long)n;
        if (b->idx == b->size) b->idx = 0;
        b->histlen += (long long)n;
        p += n;
        len -= n;
    }
    if (b->histlen > b->size) b->histlen = b->size;
}

/* The histlen valid bytes as at most two pieces, oldest first. */
static int backlog_pieces(const backlog *b, long long skip, rk_slice out[2])
{
    out[0] = (rk_slice){NULL, 0};
    out[1] = (rk_slice){NULL, 0};
    long long want = b->histlen - skip;
    if (want == 0) return 0;
    long long start = b->idx - want; /* position of the first wanted byte */
    if (start < 0) start += b->size;
    long long first = b->size - start; /* bytes up to the end of the ring */
    if (first >= want) {
        out[0] = (rk_slice){b->buf + start, (size_t)want};
        return 1;
    }
    out[0] = (rk_slice){b->buf + start, (size_t)first};
    out[1] = (rk_slice){b->buf, (size_t)(want - first)};
    return 2;
}

int backlog_resize(backlog *b, long long new_size)
{
    if (new_size < 1 || (unsigned long long)new_size > ((size_t)-1) / 2) return -1;
    if (new_size == b->size) return 0;
    char *nb = malloc((size_t)new_size);
    if (!nb) return -1;
    long long keep = b->histlen < new_size ? b->histlen : new_size;
    rk_slice s[2];
    int n = backlog_pieces(b, b->histlen - keep, s);
    size_t at = 0;
    for (int i = 0; i < n; i++) {
        memcpy(nb + at, s[i].ptr, s[i].len);
        at += s[i].len;
    }
    free(b->buf);
    b->buf = nb;
    b->size = new_size;
    b->histlen = keep;
    b->idx = keep == new_size ? 0 : keep;
    return 0;
}

int backlog_read_from(const backlog *b, long long offset, rk_slice out[2])
{
    out[0] = (rk_slice){NULL, 0};
    out[1] = (rk_slice){NULL, 0};
    if (!b) return -1;
    long long first = b->end - b->histlen + 1;
    if (offset < first || offset > first + b->histlen) return -1;
    return backlog_pieces(b, offset - first, out);
}

int backlog_active(const backlog *b) { return b != NULL; }
long long backlog_size(const backlog *b) { return b ? b->size : 0; }
long long backlog_first_byte_offset(const backlog *b) { return b ? b->end - b->histlen + 1 : 0; }
long long backlog_histlen(const backlog *b) { return b ? b->histlen : 0; }
long long backlog_master_repl_offset(const backlog *b) { return b ? b->end : 0; }

int psync_decide(const repl_ids *ids, const backlog *b, const char *replid, long long offset,
                 psync_decision *out)
{
    memset(out, 0, sizeof(*out));
    out->replid = ids->replid;
    out->action = PSYNC_FULLRESYNC;
    out->offset = ids->master_repl_offset;

    /* The same condition as masterTryPartialResynchronization: two valid
     * ids, the second only up to second_repl_offset. */
    if (strcasecmp(replid, ids->replid) &&
        (strcasecmp(replid, ids->replid2) || offset > ids->second_repl_offset)) {
        if (replid[0] == '?')
            out->reason = PSYNC_FORCED;
        else if (strcasecmp(replid, ids->replid) && strcasecmp(replid, ids->replid2))
            out->reason = PSYNC_ID_MISMATCH;
        else
            out->reason = PSYNC_ID2_TOO_FAR;
        return out->action;
    }
    rk_slice s[2];
    int n = backlog_read_from(b, offset, s);
    if (n < 0) {
        out->reason = PSYNC_NO_BACKLOG;
        out->offset_ahead = offset > ids->master_repl_offset;
        return out->action;
    }
    out->action = PSYNC_CONTINUE;
    out->reason = PSYNC_OK;
    out->offset = offset;
    out->data[0] = s[0];
    out->data[1] = s[1];
    out->npieces = n;
    return out->action;
}

int psync_reply(const psync_decision *d, int capa_psync2, long long fullresync_offset, char *buf,
                size_t cap)
{
    int n;
    if (d->action == PSYNC_CONTINUE)
        n = capa_psync2 ? snprintf(buf, cap, "+CONTINUE %s\r\n", d->replid)
                        : snprintf(buf, cap, "+CONTINUE\r\n");
    else
        n = snprintf(buf, cap, "+FULLRESYNC %s %lld\r\n", d->replid, fullresync_offset);
    if (n < 0 || (size_t)n >= cap) return -1;
    return n;
}
