/* zskiplist.c: the skiplist (with spans) and the skiplist+dict value that
 * back large sorted sets (implements core/zskiplist.h).
 *
 * Thread: the shard thread that owns the value; the level generator's
 * state is per thread, so nothing is shared.
 *
 * Invariants: see zskiplist.h. In addition the header node has
 * ZSL_MAXLEVEL levels, and levels at or above zsl->level are unused
 * (forward NULL). Operations that can fail (only allocation) leave the
 * structure as it was. */
#include "core/zskiplist.h"

#include <assert.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "core/alloc.h"

/* ---- ordering and ranges ---------------------------------------------- */

int zs_cmp_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen;
    int cmp = n ? memcmp(a, b, n) : 0;
    if (cmp)
        return cmp;
    return alen < blen ? -1 : alen > blen ? 1 : 0;
}

/* 1 when (score, ele) of n sorts strictly before (score, ele). */
static int node_before(const zsl_node *n, double score, const char *ele, size_t len)
{
    if (n->score != score)
        return n->score < score;
    return zs_cmp_bytes(n->ele->data, n->ele->len, ele, len) < 0;
}

static int node_is(const zsl_node *n, double score, const char *ele, size_t len)
{
    return n && n->score == score && zs_cmp_bytes(n->ele->data, n->ele->len, ele, len) == 0;
}

int zs_score_gte_min(double v, const zs_range *r)
{
    return r->minex ? v > r->min : v >= r->min;
}

int zs_score_lte_max(double v, const zs_range *r)
{
    return r->maxex ? v < r->max : v <= r->max;
}

int zs_range_empty(const zs_range *r)
{
    return r->min > r->max || (r->min == r->max && (r->minex || r->maxex));
}

/* Order of a member against one bound (infinities sort outside every member). */
static int cmp_to_bound(const char *p, size_t len, const zs_lexbound *b)
{
    if (b->inf)
        return -b->inf;
    return zs_cmp_bytes(p, len, b->p, b->len);
}

int zs_lex_gte_min(const char *p, size_t len, const zs_lexrange *r)
{
    int cmp = cmp_to_bound(p, len, &r->min);
    return r->min.ex ? cmp > 0 : cmp >= 0;
}

int zs_lex_lte_max(const char *p, size_t len, const zs_lexrange *r)
{
    int cmp = cmp_to_bound(p, len, &r->max);
    return r->max.ex ? cmp < 0 : cmp <= 0;
}

int zs_lexrange_empty(const zs_lexrange *r)
{
    const zs_lexbound *lo = &r->min, *hi = &r->max;
    int cmp;
    if (lo->inf || hi->inf)
        cmp = lo->inf == hi->inf ? 0 : (lo->inf == 1 || hi->inf == -1) ? 1 : -1;
    else
        cmp = zs_cmp_bytes(lo->p, lo->len, hi->p, hi->len);
    return cmp > 0 || (cmp == 0 && (lo->ex || hi->ex || lo->inf));
}

/* ---- level generator --------------------------------------------------- */

static __thread uint64_t level_rng;

static uint32_t next_random(void)
{
    if (!level_rng) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        level_rng = ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)(uintptr_t)&ts ^ 0x9e3779b97f4a7c15ULL;
        if (!level_rng)
            level_rng = 1;
    }
    /* xorshift64*: quality is ample for a geometric distribution. */
    level_rng ^= level_rng >> 12;
    level_rng ^= level_rng << 25;
    level_rng ^= level_rng >> 27;
    return (uint32_t)((level_rng * 0x2545F4914F6CDD1DULL) >> 32);
}

static int random_level(void)
{
    const uint32_t threshold = (uint32_t)(ZSL_P * 0xFFFF);
    int level = 1;
    while (level < ZSL_MAXLEVEL && (next_random() & 0xFFFF) < threshold)
        level++;
    return level;
}

/* ---- skiplist ---------------------------------------------------------- */

static zsl_node *node_new(int height, double score, rk_str *ele)
{
    zsl_node *n = rk_malloc(sizeof(*n) + (size_t)height * sizeof(struct zsl_level));
    if (!n)
        return NULL;
    n->ele = ele;
    n->score = score;
    n->backward = NULL;
    n->height = height;
    for (int i = 0; i < height; i++) {
        n->level[i].forward = NULL;
        n->level[i].span = 0;
    }
    return n;
}

zskiplist *zsl_create(void)
{
    zskiplist *zsl = rk_malloc(sizeof(*zsl));
    if (!zsl)
        return NULL;
    zsl->header = node_new(ZSL_MAXLEVEL, 0, NULL);
    if (!zsl->header) {
        rk_free(zsl);
        return NULL;
    }
    zsl->tail = NULL;
    zsl->length = 0;
    zsl->level = 1;
    return zsl;
}

void zsl_free_node(zsl_node *n)
{
    rkstr_free(n->ele);
    rk_free(n);
}

void zsl_free(zskiplist *zsl)
{
    if (!zsl)
        return;
    zsl_node *n = zsl->header->level[0].forward;
    while (n) {
        zsl_node *next = n->level[0].forward;
        zsl_free_node(n);
        n = next;
    }
    rk_free(zsl->header);
    rk_free(zsl);
}

/* Finds, for each level, the last node before (score, ele) and its rank. */
static void find_predecessors(const zskiplist *zsl, double score, const char *ele, size_t len,
                              zsl_node **update, unsigned long *rank)
{
    zsl_node *x = zsl->header;
    for (int i = zsl->level - 1; i >= 0; i--) {
        unsigned long r = i == zsl->level - 1 ? 0 : rank[i + 1];
        while (x->level[i].forward && node_before(x->level[i].forward, score, ele, len)) {
            r += x->level[i].span;
            x = x->level[i].forward;
        }
        update[i] = x;
        rank[i] = r;
    }
}

/* Links a detached node at its place; the node keeps its height. */
static void link_node(zskiplist *zsl, zsl_node *n)
{
    zsl_node *update[ZSL_MAXLEVEL];
    unsigned long rank[ZSL_MAXLEVEL];
    find_predecessors(zsl, n->score, n->ele->data, n->ele->len, update, rank);
    if (n->height > zsl->level) {
        for (int i = zsl->level; i < n->height; i++) {
            rank[i] = 0;
            update[i] = zsl->header;
            update[i]->level[i].span = zsl->length;
        }
        zsl->level = n->height;
    }
    for (int i = 0; i < n->height; i++) {
        n->level[i].forward = update[i]->level[i].forward;
        update[i]->level[i].forward = n;
        n->level[i].span = update[i]->level[i].span - (rank[0] - rank[i]);
        update[i]->level[i].span = (rank[0] - rank[i]) + 1;
    }
    for (int i = n->height; i < zsl->level; i++)
        update[i]->level[i].span++;
    n->backward = update[0] == zsl->header ? NULL : update[0];
    if (n->level[0].forward)
        n->level[0].forward->backward = n;
    else
        zsl->tail = n;
    zsl->length++;
}

/* Unlinks x, whose predecessors on every level are in update. */
static void unlink_node(zskiplist *zsl, zsl_node *x, zsl_node **update)
{
    for (int i = 0; i < zsl->level; i++) {
        if (update[i]->level[i].forward == x) {
            update[i]->level[i].span += x->level[i].span - 1;
            update[i]->level[i].forward = x->level[i].forward;
        } else {
            update[i]->level[i].span -= 1;
        }
    }
    if (x->level[0].forward)
        x->level[0].forward->backward = x->backward;
    else
        zsl->tail = x->backward;
    while (zsl->level > 1 && !zsl->header->level[zsl->level - 1].forward)
        zsl->level--;
    zsl->length--;
}

zsl_node *zsl_insert(zskiplist *zsl, double score, rk_str *ele)
{
    assert(score == score); /* never NaN */
    zsl_node *n = node_new(random_level(), score, ele);
    if (!n)
        return NULL;
    link_node(zsl, n);
    return n;
}

int zsl_delete(zskiplist *zsl, double score, const char *ele, size_t len, zsl_node **node)
{
    zsl_node *update[ZSL_MAXLEVEL];
    unsigned long rank[ZSL_MAXLEVEL];
    find_predecessors(zsl, score, ele, len, update, rank);
    zsl_node *x = update[0]->level[0].forward;
    if (!node_is(x, score, ele, len))
        return 0;
    unlink_node(zsl, x, update);
    if (node)
        *node = x;
    else
        zsl_free_node(x);
    return 1;
}

zsl_node *zsl_update_score(zskiplist *zsl, double curscore, const char *ele, size_t len, double newscore)
{
    zsl_node *update[ZSL_MAXLEVEL];
    unsigned long rank[ZSL_MAXLEVEL];
    find_predecessors(zsl, curscore, ele, len, update, rank);
    zsl_node *x = update[0]->level[0].forward;
    assert(node_is(x, curscore, ele, len));
    /* Still between its neighbours: the order holds, change in place. */
    if ((!x->backward || x->backward->score < newscore) &&
        (!x->level[0].forward || x->level[0].forward->score > newscore)) {
        x->score = newscore;
        return x;
    }
    unlink_node(zsl, x, update);
    x->score = newscore;
    link_node(zsl, x);
    return x;
}

unsigned long zsl_rank(const zskiplist *zsl, double score, const char *ele, size_t len)
{
    const zsl_node *x = zsl->header;
    unsigned long rank = 0;
    for (int i = zsl->level - 1; i >= 0; i--) {
        while (x->level[i].forward &&
               (node_before(x->level[i].forward, score, ele, len) ||
                node_is(x->level[i].forward, score, ele, len))) {
            rank += x->level[i].span;
            x = x->level[i].forward;
        }
        if (x != zsl->header && node_is(x, score, ele, len))
            return rank;
    }
    return 0;
}

zsl_node *zsl_by_rank(const zskiplist *zsl, unsigned long rank)
{
    zsl_node *x = zsl->header;
    unsigned long traversed = 0;
    if (rank == 0 || rank > zsl->length)
        return NULL;
    for (int i = zsl->level - 1; i >= 0; i--) {
        while (x->level[i].forward && traversed + x->level[i].span <= rank) {
            traversed += x->level[i].span;
            x = x->level[i].forward;
        }
        if (traversed == rank)
            return x;
    }
    return NULL;
}

zsl_node *zsl_first_in_range(const zskiplist *zsl, const zs_range *r)
{
    if (zs_range_empty(r) || !zsl->tail)
        return NULL;
    zsl_node *x = zsl->header;
    for (int i = zsl->level - 1; i >= 0; i--)
        while (x->level[i].forward && !zs_score_gte_min(x->level[i].forward->score, r))
            x = x->level[i].forward;
    x = x->level[0].forward;
    return x && zs_score_lte_max(x->score, r) ? x : NULL;
}

zsl_node *zsl_last_in_range(const zskiplist *zsl, const zs_range *r)
{
    if (zs_range_empty(r) || !zsl->tail)
        return NULL;
    zsl_node *x = zsl->header;
    for (int i = zsl->level - 1; i >= 0; i--)
        while (x->level[i].forward && zs_score_lte_max(x->level[i].forward->score, r))
            x = x->level[i].forward;
    return x != zsl->header && zs_score_gte_min(x->score, r) ? x : NULL;
}

/* Redis's quick rejection: the tail must reach min and the head max. With
 * mixed scores members are not in lex order, and this check is part of
 * the observable behaviour, so it is kept. */
static int lex_range_overlaps(const zskiplist *zsl, const zs_lexrange *r)
{
    if (zs_lexrange_empty(r) || !zsl->tail)
        return 0;
    const zsl_node *first = zsl->header->level[0].forward;
    return zs_lex_gte_min(zsl->tail->ele->data, zsl->tail->ele->len, r) &&
           zs_lex_lte_max(first->ele->data, first->ele->len, r);
}

zsl_node *zsl_first_in_lex(const zskiplist *zsl, const zs_lexrange *r)
{
    if (!lex_range_overlaps(zsl, r))
        return NULL;
    zsl_node *x = zsl->header;
    for (int i = zsl->level - 1; i >= 0; i--)
        while (x->level[i].forward &&
               !zs_lex_gte_min(x->level[i].forward->ele->data, x->level[i].forward->ele->len, r))
            x = x->level[i].forward;
    x = x->level[0].forward;
    return x && zs_lex_lte_max(x->ele->data, x->ele->len, r) ? x : NULL;
}

zsl_node *zsl_last_in_lex(const zskiplist *zsl, const zs_lexrange *r)
{
    if (!lex_range_overlaps(zsl, r))
        return NULL;
    zsl_node *x = zsl->header;
    for (int i = zsl->level - 1; i >= 0; i--)
        while (x->level[i].forward &&
               zs_lex_lte_max(x->level[i].forward->ele->data, x->level[i].forward->ele->len, r))
            x = x->level[i].forward;
    return x != zsl->header && zs_lex_gte_min(x->ele->data, x->ele->len, r) ? x : NULL;
}

/* Unlinks x (predecessors in update), drops it from d, frees it. */
static void remove_node(zskiplist *zsl, zsl_node *x, zsl_node **update, dict *d)
{
    unlink_node(zsl, x, update);
    if (d) {
        int rc = dict_delete(d, x->ele);
        assert(rc == 0);
        (void)rc;
    }
    zsl_free_node(x);
}

unsigned long zsl_delete_range_by_score(zskiplist *zsl, const zs_range *r, dict *d)
{
    zsl_node *update[ZSL_MAXLEVEL];
    zsl_node *x = zsl->header;
    unsigned long removed = 0;
    for (int i = zsl->level - 1; i >= 0; i--) {
        while (x->level[i].forward && !zs_score_gte_min(x->level[i].forward->score, r))
            x = x->level[i].forward;
        update[i] = x;
    }
    x = x->level[0].forward;
    while (x && zs_score_lte_max(x->score, r)) {
        zsl_node *next = x->level[0].forward;
        remove_node(zsl, x, update, d);
        removed++;
        x = next;
    }
    return removed;
}

unsigned long zsl_delete_range_by_lex(zskiplist *zsl, const zs_lexrange *r, dict *d)
{
    zsl_node *update[ZSL_MAXLEVEL];
    zsl_node *x = zsl->header;
    unsigned long removed = 0;
    if (zs_lexrange_empty(r))
        return 0;
    for (int i = zsl->level - 1; i >= 0; i--) {
        while (x->level[i].forward &&
               !zs_lex_gte_min(x->level[i].forward->ele->data, x->level[i].forward->ele->len, r))
            x = x->level[i].forward;
        update[i] = x;
    }
    x = x->level[0].forward;
    while (x && zs_lex_lte_max(x->ele->data, x->ele->len, r)) {
        zsl_node *next = x->level[0].forward;
        remove_node(zsl, x, update, d);
        removed++;
        x = next;
    }
    return removed;
}

unsigned long zsl_delete_range_by_rank(zskiplist *zsl, unsigned long start, unsigned long end, dict *d)
{
    zsl_node *update[ZSL_MAXLEVEL];
    zsl_node *x = zsl->header;
    unsigned long traversed = 0, removed = 0;
    for (int i = zsl->level - 1; i >= 0; i--) {
        while (x->level[i].forward && traversed + x->level[i].span < start) {
            traversed += x->level[i].span;
            x = x->level[i].forward;
        }
        update[i] = x;
    }
    traversed++;
    x = x->level[0].forward;
    while (x && traversed <= end) {
        zsl_node *next = x->level[0].forward;
        remove_node(zsl, x, update, d);
        removed++;
        traversed++;
        x = next;
    }
    return removed;
}

/* ---- skiplist + dict --------------------------------------------------- */

/* Keys are the nodes' members: the skiplist frees them, not the dict. */
static const dict_type member_dict_type = {
    .hash = rkstr_hash,
    .key_equal = rkstr_equal,
    .key_free = NULL,
    .val_free = NULL,
};

zset_sl *zsetsl_create(void)
{
    zset_sl *zs = rk_malloc(sizeof(*zs));
    if (!zs)
        return NULL;
    zs->dict = dict_create(&member_dict_type);
    zs->zsl = zsl_create();
    if (!zs->dict || !zs->zsl) {
        if (zs->dict)
            dict_release(zs->dict);
        zsl_free(zs->zsl);
        rk_free(zs);
        return NULL;
    }
    return zs;
}

void zsetsl_free(zset_sl *zs)
{
    if (!zs)
        return;
    dict_release(zs->dict); /* before the nodes: its keys are theirs */
    zsl_free(zs->zsl);
    rk_free(zs);
}

unsigned long zsetsl_length(const zset_sl *zs)
{
    return zs->zsl->length;
}

zset_sl *zsetsl_dup(const zset_sl *zs)
{
    zset_sl *copy = zsetsl_create();
    if (!copy)
        return NULL;
    /* Walking from the tail makes every insertion land at the head. */
    for (zsl_node *n = zs->zsl->tail; n; n = n->backward) {
        if (zsetsl_add(copy, n->ele->data, n->ele->len, n->score) != 0) {
            zsetsl_free(copy);
            return NULL;
        }
    }
    return copy;
}

size_t zsetsl_heap_size(const zset_sl *zs)
{
    size_t n = rk_usable_size(zs) + rk_usable_size(zs->zsl) + rk_usable_size(zs->zsl->header);
    for (const zsl_node *x = zs->zsl->header->level[0].forward; x; x = x->level[0].forward)
        n += rk_usable_size(x) + rk_usable_size(x->ele) + sizeof(dict_entry);
    n += dict_buckets(zs->dict) * sizeof(dict_entry *);
    return n;
}

#define ZS_STACK_KEY 256

dict_entry *zsetsl_find(zset_sl *zs, const char *ele, size_t len)
{
    _Alignas(rk_str) char stack[sizeof(rk_str) + ZS_STACK_KEY + 1];
    rk_str *key = (rk_str *)stack;
    if (len > ZS_STACK_KEY || len > UINT32_MAX) {
        key = rkstr_new(ele, len);
        if (!key) {
            /* No memory for a probe key: an allocation-free walk gives the same answer. */
            for (zsl_node *x = zs->zsl->header->level[0].forward; x; x = x->level[0].forward)
                if (zs_cmp_bytes(x->ele->data, x->ele->len, ele, len) == 0)
                    return dict_find(zs->dict, x->ele);
            return NULL;
        }
    } else {
        key->len = key->cap = (uint32_t)len;
        if (len)
            memcpy(key->data, ele, len);
        key->data[len] = '\0';
    }
    dict_entry *e = dict_find(zs->dict, key);
    if (key != (rk_str *)stack)
        rkstr_free(key);
    return e;
}

int zsetsl_add(zset_sl *zs, const char *ele, size_t len, double score)
{
    rk_str *member = rkstr_new(ele, len);
    if (!member)
        return -1;
    dict_entry *e = dict_add_raw(zs->dict, member, NULL);
    if (!e) {
        rkstr_free(member);
        return -1;
    }
    if (!zsl_insert(zs->zsl, score, member)) {
        dict_delete(zs->dict, member);
        rkstr_free(member);
        return -1;
    }
    e->v.d = score;
    return 0;
}

void zsetsl_set_score(zset_sl *zs, dict_entry *e, double newscore)
{
    rk_str *member = e->key;
    zsl_update_score(zs->zsl, e->v.d, member->data, member->len, newscore);
    e->v.d = newscore;
}

int zsetsl_delete(zset_sl *zs, const char *ele, size_t len)
{
    dict_entry *e = zsetsl_find(zs, ele, len);
    if (!e)
        return 0;
    rk_str *member = e->key;
    double score = e->v.d;
    dict_entry *unlinked = dict_unlink(zs->dict, member);
    assert(unlinked == e);
    dict_free_unlinked(zs->dict, unlinked);
    int found = zsl_delete(zs->zsl, score, member->data, member->len, NULL);
    assert(found);
    (void)found;
    return 1;
}
