/* stream.c: the stream value and its consumer groups (model and
 * invariants in stream.h). Thread: the shard thread owning the key.
 * Allocation failure is returned to the caller, which replies OOM; no
 * structure is left half-changed by a failed call. Bounds: vectors grow
 * geometrically; a group's consumers and a stream's groups are found by
 * binary search on their sorted names. */
#include "core/stream.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "core/alloc.h"

/* ---- IDs ------------------------------------------------------------------ */

int sid_cmp(const sid *a, const sid *b)
{
    if (a->ms != b->ms)
        return a->ms < b->ms ? -1 : 1;
    if (a->seq != b->seq)
        return a->seq < b->seq ? -1 : 1;
    return 0;
}

int sid_incr(sid *id)
{
    if (id->seq == UINT64_MAX) {
        if (id->ms == UINT64_MAX)
            return -1;
        id->ms++;
        id->seq = 0;
    } else {
        id->seq++;
    }
    return 0;
}

int sid_decr(sid *id)
{
    if (id->seq == 0) {
        if (id->ms == 0)
            return -1;
        id->ms--;
        id->seq = UINT64_MAX;
    } else {
        id->seq--;
    }
    return 0;
}

int sid_format(char *buf, const sid *id)
{
    return snprintf(buf, 44, "%llu-%llu", (unsigned long long)id->ms, (unsigned long long)id->seq);
}

void sid_encode(unsigned char out[16], const sid *id)
{
    for (int i = 0; i < 8; i++) {
        out[i] = (unsigned char)(id->ms >> (56 - 8 * i));
        out[8 + i] = (unsigned char)(id->seq >> (56 - 8 * i));
    }
}

void sid_decode(const unsigned char in[16], sid *id)
{
    id->ms = id->seq = 0;
    for (int i = 0; i < 8; i++) {
        id->ms = (id->ms << 8) | in[i];
        id->seq = (id->seq << 8) | in[8 + i];
    }
}

/* ---- growable vectors ------------------------------------------------------ */

/* Ensures room for one more element. 0 / -1 OOM (vector unchanged). */
static int grow(void **v, size_t *cap, size_t used, size_t elem)
{
    if (used < *cap)
        return 0;
    size_t ncap = *cap ? *cap * 2 : 4;
    void *nv = rk_realloc(*v, ncap * elem);
    if (!nv)
        return -1;
    *v = nv;
    *cap = ncap;
    return 0;
}

/* ---- the value --------------------------------------------------------------- */

static void consumer_free(s_consumer *c)
{
    rkstr_free(c->name);
    rk_free(c->pel);
    rk_free(c);
}

static void group_free(s_group *g)
{
    for (size_t i = 0; i < g->ncons; i++)
        consumer_free(g->cons[i]);
    rk_free(g->cons);
    rk_free(g->pel);
    rkstr_free(g->name);
    rk_free(g);
}

static void stream_free(stream *s)
{
    for (size_t i = 0; i < s->n; i++)
        rk_free(stream_at(s, i));
    rk_free(s->e);
    for (size_t i = 0; i < s->ng; i++)
        group_free(s->g[i]);
    rk_free(s->g);
    rk_free(s);
}

stream *stream_of(const rk_obj *o)
{
    assert(o->type == OBJ_STREAM);
    return o->u.ptr;
}

rk_obj *stream_new_obj(void)
{
    stream *s = rk_calloc(sizeof(*s));
    rk_obj *o = s ? rk_calloc(sizeof(*o)) : NULL;
    if (!o) {
        rk_free(s);
        return NULL;
    }
    o->type = OBJ_STREAM;
    o->encoding = ENC_STREAM;
    o->u.ptr = s;
    return o;
}

s_entry *stream_entry_new(sid id, uint32_t nfields, const rk_slice *fv)
{
    size_t bytes = 0;
    for (uint32_t i = 0; i < 2 * nfields; i++)
        bytes += 4 + fv[i].len;
    if (bytes > UINT32_MAX)
        return NULL;
    s_entry *e = rk_malloc(sizeof(*e) + bytes);
    if (!e)
        return NULL;
    e->id = id;
    e->nfields = nfields;
    e->bytes = (uint32_t)bytes;
    unsigned char *p = e->data;
    for (uint32_t i = 0; i < 2 * nfields; i++) {
        uint32_t l = (uint32_t)fv[i].len;
        memcpy(p, &l, 4);
        memcpy(p + 4, fv[i].ptr, l);
        p += 4 + l;
    }
    return e;
}

rk_slice stream_entry_str(const s_entry *e, uint32_t i)
{
    assert(i < 2 * e->nfields);
    const unsigned char *p = e->data;
    for (;;) {
        uint32_t l;
        memcpy(&l, p, 4);
        if (i-- == 0)
            return (rk_slice){(const char *)p + 4, l};
        p += 4 + l;
    }
}

int stream_append(stream *s, s_entry *e)
{
    assert(s->n == 0 || sid_cmp(&stream_at(s, s->n - 1)->id, &e->id) < 0);
    if (s->head + s->n == s->cap) {
        if (s->head > s->n / 2 && s->head > 0) { /* reuse the trimmed front */
            memmove(s->e, s->e + s->head, s->n * sizeof(*s->e));
            s->head = 0;
        } else {
            size_t ncap = s->cap ? s->cap * 2 : 8;
            s_entry **ne = rk_realloc(s->e, ncap * sizeof(*ne));
            if (!ne)
                return -1;
            s->e = ne;
            s->cap = ncap;
        }
    }
    s->e[s->head + s->n++] = e;
    if (s->n == 1)
        s->first_id = e->id;
    return 0;
}

size_t stream_seek(const stream *s, const sid *id)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sid_cmp(&stream_at(s, mid)->id, id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

s_entry *stream_find(const stream *s, const sid *id)
{
    size_t i = stream_seek(s, id);
    return i < s->n && sid_cmp(&stream_at(s, i)->id, id) == 0 ? stream_at(s, i) : NULL;
}

void stream_refresh_first_id(stream *s)
{
    if (s->n)
        s->first_id = stream_at(s, 0)->id;
    else
        s->first_id = (sid){0, 0};
}

void stream_remove_at(stream *s, size_t i)
{
    assert(i < s->n);
    rk_free(stream_at(s, i));
    memmove(s->e + s->head + i, s->e + s->head + i + 1, (s->n - i - 1) * sizeof(*s->e));
    s->n--;
}

void stream_drop_front(stream *s, size_t k)
{
    assert(k <= s->n);
    for (size_t i = 0; i < k; i++)
        rk_free(stream_at(s, i));
    s->head += k;
    s->n -= k;
    if (s->n == 0)
        s->head = 0;
}

/* ---- groups and consumers ------------------------------------------------------- */

static int name_cmp(const rk_str *a, const char *b, size_t blen)
{
    size_t l = a->len < blen ? a->len : blen;
    int c = memcmp(a->data, b, l);
    if (c)
        return c;
    return a->len < blen ? -1 : a->len > blen ? 1 : 0;
}

/* Index of the first group whose name is >= name. */
static size_t group_pos(const stream *s, const char *name, size_t len)
{
    size_t lo = 0, hi = s->ng;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (name_cmp(s->g[mid]->name, name, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

s_group *stream_group_find(const stream *s, const char *name, size_t len)
{
    size_t i = group_pos(s, name, len);
    return i < s->ng && name_cmp(s->g[i]->name, name, len) == 0 ? s->g[i] : NULL;
}

s_group *stream_group_create(stream *s, const char *name, size_t len, sid last_id, int64_t entries_read, int *exists)
{
    size_t i = group_pos(s, name, len);
    *exists = i < s->ng && name_cmp(s->g[i]->name, name, len) == 0;
    if (*exists || grow((void **)&s->g, &s->capg, s->ng, sizeof(*s->g)) != 0)
        return NULL;
    s_group *g = rk_calloc(sizeof(*g));
    rk_str *n = g ? rkstr_new(name, len) : NULL;
    if (!n) {
        rk_free(g);
        return NULL;
    }
    g->name = n;
    g->last_id = last_id;
    g->entries_read = entries_read;
    memmove(s->g + i + 1, s->g + i, (s->ng - i) * sizeof(*s->g));
    s->g[i] = g;
    s->ng++;
    return g;
}

void stream_group_destroy(stream *s, s_group *g)
{
    for (size_t i = 0; i < s->ng; i++) {
        if (s->g[i] == g) {
            memmove(s->g + i, s->g + i + 1, (s->ng - i - 1) * sizeof(*s->g));
            s->ng--;
            group_free(g);
            return;
        }
    }
    assert(0 && "group not in its stream");
}

static size_t consumer_pos(const s_group *g, const char *name, size_t len)
{
    size_t lo = 0, hi = g->ncons;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (name_cmp(g->cons[mid]->name, name, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

s_consumer *stream_consumer_find(const s_group *g, const char *name, size_t len)
{
    size_t i = consumer_pos(g, name, len);
    return i < g->ncons && name_cmp(g->cons[i]->name, name, len) == 0 ? g->cons[i] : NULL;
}

s_consumer *stream_consumer_create(s_group *g, const char *name, size_t len, int64_t now)
{
    size_t i = consumer_pos(g, name, len);
    assert(!(i < g->ncons && name_cmp(g->cons[i]->name, name, len) == 0));
    if (grow((void **)&g->cons, &g->capc, g->ncons, sizeof(*g->cons)) != 0)
        return NULL;
    s_consumer *c = rk_calloc(sizeof(*c));
    rk_str *n = c ? rkstr_new(name, len) : NULL;
    if (!n) {
        rk_free(c);
        return NULL;
    }
    c->name = n;
    c->seen_time = now;
    memmove(g->cons + i + 1, g->cons + i, (g->ncons - i) * sizeof(*g->cons));
    g->cons[i] = c;
    g->ncons++;
    return c;
}

size_t stream_consumer_seek(const s_consumer *c, const sid *id)
{
    size_t lo = 0, hi = c->npel;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sid_cmp(&c->pel[mid], id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

size_t stream_nack_seek(const s_group *g, const sid *id)
{
    size_t lo = 0, hi = g->npel;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (sid_cmp(&g->pel[mid].id, id) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

s_nack *stream_nack_find(const s_group *g, const sid *id)
{
    size_t i = stream_nack_seek(g, id);
    return i < g->npel && sid_cmp(&g->pel[i].id, id) == 0 ? &g->pel[i] : NULL;
}

static int consumer_pel_add(s_consumer *c, const sid *id)
{
    size_t i = stream_consumer_seek(c, id);
    if (i < c->npel && sid_cmp(&c->pel[i], id) == 0)
        return 0;
    if (grow((void **)&c->pel, &c->cap, c->npel, sizeof(*c->pel)) != 0)
        return -1;
    memmove(c->pel + i + 1, c->pel + i, (c->npel - i) * sizeof(*c->pel));
    c->pel[i] = *id;
    c->npel++;
    return 0;
}

static void consumer_pel_remove(s_consumer *c, const sid *id)
{
    size_t i = stream_consumer_seek(c, id);
    if (i < c->npel && sid_cmp(&c->pel[i], id) == 0) {
        memmove(c->pel + i, c->pel + i + 1, (c->npel - i - 1) * sizeof(*c->pel));
        c->npel--;
    }
}

s_nack *stream_nack_add(s_group *g, const sid *id, s_consumer *c, int64_t time, uint64_t count)
{
    size_t i = stream_nack_seek(g, id);
    assert(!(i < g->npel && sid_cmp(&g->pel[i].id, id) == 0));
    if (grow((void **)&g->pel, &g->cap, g->npel, sizeof(*g->pel)) != 0)
        return NULL;
    if (c && consumer_pel_add(c, id) != 0)
        return NULL;
    memmove(g->pel + i + 1, g->pel + i, (g->npel - i) * sizeof(*g->pel));
    g->pel[i] = (s_nack){*id, time, count, c};
    g->npel++;
    return &g->pel[i];
}

void stream_nack_remove(s_group *g, const sid *id)
{
    size_t i = stream_nack_seek(g, id);
    if (!(i < g->npel && sid_cmp(&g->pel[i].id, id) == 0))
        return;
    if (g->pel[i].consumer)
        consumer_pel_remove(g->pel[i].consumer, id);
    memmove(g->pel + i, g->pel + i + 1, (g->npel - i - 1) * sizeof(*g->pel));
    g->npel--;
}

int stream_nack_assign(s_group *g, s_nack *n, s_consumer *c)
{
    (void)g;
    if (n->consumer == c)
        return 0;
    if (consumer_pel_add(c, &n->id) != 0)
        return -1;
    if (n->consumer)
        consumer_pel_remove(n->consumer, &n->id);
    n->consumer = c;
    return 0;
}

size_t stream_consumer_delete(s_group *g, s_consumer *c)
{
    size_t pending = c->npel;
    for (size_t k = 0; k < c->npel; k++) {
        size_t i = stream_nack_seek(g, &c->pel[k]);
        assert(i < g->npel && g->pel[i].consumer == c);
        memmove(g->pel + i, g->pel + i + 1, (g->npel - i - 1) * sizeof(*g->pel));
        g->npel--;
    }
    size_t i = consumer_pos(g, c->name->data, c->name->len);
    assert(i < g->ncons && g->cons[i] == c);
    memmove(g->cons + i, g->cons + i + 1, (g->ncons - i - 1) * sizeof(*g->cons));
    g->ncons--;
    consumer_free(c);
    return pending;
}

/* ---- copies, sizes, checks ---------------------------------------------------- */

size_t stream_heap_size(const stream *s)
{
    size_t n = sizeof(*s) + s->cap * sizeof(*s->e);
    for (size_t i = 0; i < s->n; i++)
        n += sizeof(s_entry) + stream_at(s, i)->bytes;
    for (size_t i = 0; i < s->ng; i++) {
        const s_group *g = s->g[i];
        n += sizeof(*g) + g->name->len + g->cap * sizeof(*g->pel) + g->capc * sizeof(*g->cons);
        for (size_t k = 0; k < g->ncons; k++)
            n += sizeof(s_consumer) + g->cons[k]->name->len + g->cons[k]->cap * sizeof(sid);
    }
    return n;
}

static void *stream_dup_ptr(const rk_obj *o)
{
    const stream *s = o->u.ptr;
    stream *d = rk_calloc(sizeof(*d));
    if (!d)
        return NULL;
    d->last_id = s->last_id;
    d->first_id = s->first_id;
    d->max_deleted = s->max_deleted;
    d->entries_added = s->entries_added;
    for (size_t i = 0; i < s->n; i++) {
        const s_entry *e = stream_at(s, i);
        s_entry *c = rk_malloc(sizeof(*c) + e->bytes);
        if (c)
            memcpy(c, e, sizeof(*e) + e->bytes);
        if (!c || stream_append(d, c) != 0) {
            rk_free(c);
            goto oom;
        }
    }
    d->first_id = s->first_id;
    for (size_t i = 0; i < s->ng; i++) {
        const s_group *g = s->g[i];
        int exists;
        s_group *ng = stream_group_create(d, g->name->data, g->name->len, g->last_id, g->entries_read, &exists);
        if (!ng)
            goto oom;
        for (size_t k = 0; k < g->ncons; k++)
            if (!stream_consumer_create(ng, g->cons[k]->name->data, g->cons[k]->name->len, g->cons[k]->seen_time))
                goto oom;
        for (size_t k = 0; k < g->npel; k++) {
            const s_nack *n = &g->pel[k];
            s_consumer *c =
                n->consumer ? stream_consumer_find(ng, n->consumer->name->data, n->consumer->name->len) : NULL;
            if (!stream_nack_add(ng, &n->id, c, n->delivery_time, n->delivery_count))
                goto oom;
        }
    }
    return d;
oom:
    stream_free(d);
    return NULL;
}

static void stream_free_ptr(rk_obj *o) { stream_free(o->u.ptr); }

static size_t stream_heap_size_obj(const rk_obj *o) { return stream_heap_size(o->u.ptr); }

static const rk_obj_type_ops stream_type_ops = {stream_dup_ptr, stream_free_ptr, stream_heap_size_obj};

__attribute__((constructor)) static void stream_register_type(void)
{
    obj_register_type(OBJ_STREAM, &stream_type_ops);
}

int stream_validate(const stream *s, const char **why)
{
    for (size_t i = 0; i < s->n; i++) {
        const s_entry *e = stream_at(s, i);
        if (i > 0 && sid_cmp(&stream_at(s, i - 1)->id, &e->id) >= 0) {
            *why = "stream entry IDs out of order";
            return -1;
        }
        if (sid_cmp(&e->id, &s->last_id) > 0) {
            *why = "stream entry ID above the last ID";
            return -1;
        }
    }
    for (size_t i = 0; i < s->ng; i++) {
        const s_group *g = s->g[i];
        size_t owned = 0;
        for (size_t k = 0; k < g->ncons; k++) {
            const s_consumer *c = g->cons[k];
            for (size_t j = 0; j < c->npel; j++) {
                const s_nack *n = stream_nack_find(g, &c->pel[j]);
                if (!n || n->consumer != c) {
                    *why = "consumer PEL entry without its group PEL entry";
                    return -1;
                }
            }
            owned += c->npel;
        }
        if (owned != g->npel) {
            *why = "group PEL entry without a consumer";
            return -1;
        }
    }
    return 0;
}

/* ---- the value as commands (AOF rewrite, whole-key journal records) ---------- */

int stream_emit_commands(const rk_obj *o, rk_slice key, stream_emit_fn *emit, void *ud)
{
    const stream *s = o->u.ptr;
    char a[44], b[44], n1[24];
    if (s->n) {
        rk_slice *v = NULL;
        size_t vcap = 0;
        for (size_t i = 0; i < s->n; i++) {
            const s_entry *e = stream_at(s, i);
            size_t argc = 3 + 2 * (size_t)e->nfields;
            if (argc > vcap) {
                rk_slice *nv = rk_realloc(v, argc * sizeof(*v));
                if (!nv) {
                    rk_free(v);
                    return -1;
                }
                v = nv;
                vcap = argc;
            }
            v[0] = RK_SLICE("XADD");
            v[1] = key;
            v[2] = (rk_slice){a, (size_t)sid_format(a, &e->id)};
            for (uint32_t k = 0; k < 2 * e->nfields; k++)
                v[3 + k] = stream_entry_str(e, k);
            if (emit(ud, (int)argc, v) != 0) {
                rk_free(v);
                return -1;
            }
        }
        rk_free(v);
    } else {
        /* An empty stream: created by adding and trimming at once. */
        rk_slice v[7] = {RK_SLICE("XADD"), key, RK_SLICE("MAXLEN"), RK_SLICE("0"), RK_SLICE("0-1"), RK_SLICE("x"),
                         RK_SLICE("y")};
        if (emit(ud, 7, v) != 0)
            return -1;
    }
    rk_slice setid[7] = {RK_SLICE("XSETID"), key, {a, (size_t)sid_format(a, &s->last_id)}, RK_SLICE("ENTRIESADDED"),
                         {n1, (size_t)snprintf(n1, sizeof(n1), "%llu", (unsigned long long)s->entries_added)},
                         RK_SLICE("MAXDELETEDID"), {b, (size_t)sid_format(b, &s->max_deleted)}};
    if (emit(ud, 7, setid) != 0)
        return -1;
    for (size_t i = 0; i < s->ng; i++) {
        const s_group *g = s->g[i];
        rk_slice gname = rkstr_slice(g->name);
        rk_slice create[7] = {RK_SLICE("XGROUP"), RK_SLICE("CREATE"), key, gname,
                              {a, (size_t)sid_format(a, &g->last_id)}, RK_SLICE("ENTRIESREAD"),
                              {n1, (size_t)snprintf(n1, sizeof(n1), "%lld", (long long)g->entries_read)}};
        if (emit(ud, 7, create) != 0)
            return -1;
        for (size_t k = 0; k < g->ncons; k++) {
            const s_consumer *c = g->cons[k];
            if (c->npel == 0) {
                rk_slice cc[5] = {RK_SLICE("XGROUP"), RK_SLICE("CREATECONSUMER"), key, gname, rkstr_slice(c->name)};
                if (emit(ud, 5, cc) != 0)
                    return -1;
                continue;
            }
            for (size_t m = 0; m < c->npel; m++) {
                const s_nack *nk = stream_nack_find(g, &c->pel[m]);
                char t[24], cnt[24];
                rk_slice claim[12] = {RK_SLICE("XCLAIM"), key, gname, rkstr_slice(c->name), RK_SLICE("0"),
                                      {a, (size_t)sid_format(a, &nk->id)}, RK_SLICE("TIME"),
                                      {t, (size_t)snprintf(t, sizeof(t), "%lld", (long long)nk->delivery_time)},
                                      RK_SLICE("RETRYCOUNT"),
                                      {cnt, (size_t)snprintf(cnt, sizeof(cnt), "%llu",
                                                             (unsigned long long)nk->delivery_count)},
                                      RK_SLICE("JUSTID"), RK_SLICE("FORCE")};
                if (emit(ud, 12, claim) != 0)
                    return -1;
            }
        }
    }
    return 0;
}
