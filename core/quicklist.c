/* quicklist.c: the list type's storage, a doubly linked list of listpack
 * nodes (see quicklist.h for the node-size rules).
 *
 * Threads: only the shard that owns the list value calls these functions.
 *
 * Invariants: no node is empty; ql->count is the sum of node counts and
 * ql->len the number of nodes; node->count equals its listpack's length.
 * Pushes respect the fill limit before writing (a full end node gets a new
 * neighbour); inserts and replacements write first and then split the node
 * in halves until every part fits. A split that runs out of memory leaves an
 * oversized but valid node, so it never makes an operation fail. */
#include "core/quicklist.h"

#include <assert.h>
#include <string.h>

#include "core/alloc.h"
#include "core/listpack.h"

/* Byte limits of list-max-listpack-size -1..-5, as Redis. */
static const size_t k_fill_bytes[] = {4096, 8192, 16384, 32768, 65536};
/* With an entry-count fill, a node still stops growing at this size. */
#define QL_SAFETY_BYTES 8192

/* ---- nodes ---------------------------------------------------------------- */

static size_t byte_limit(int fill)
{
    if (fill >= 0)
        return QL_SAFETY_BYTES;
    size_t level = (size_t)(-(long)fill) - 1;
    size_t levels = sizeof(k_fill_bytes) / sizeof(k_fill_bytes[0]);
    return k_fill_bytes[level < levels ? level : levels - 1];
}

/* Upper bound of the bytes a string of len bytes adds to a listpack:
 * encoding header plus back-length (integers take less). */
static size_t entry_cost(size_t len)
{
    size_t header = len < 64 ? 1 : len < 4096 ? 2 : 5;
    size_t entry = header + len;
    size_t backlen = entry < 128 ? 1 : entry < 16384 ? 2 : entry < 2097152 ? 3 : entry < 268435456 ? 4 : 5;
    return entry + backlen;
}

/* May an element of len bytes be added to node without exceeding fill? */
static int node_allows(const quicklist *ql, const ql_node *node, size_t len)
{
    if (!node)
        return 0;
    size_t new_bytes = lp_bytes(node->lp) + entry_cost(len);
    if (new_bytes > byte_limit(ql->fill))
        return 0;
    return ql->fill < 0 || (long)node->count < ql->fill;
}

/* Does node respect fill? A single element always does. */
static int node_fits(const quicklist *ql, const ql_node *node)
{
    if (node->count <= 1)
        return 1;
    if (lp_bytes(node->lp) > byte_limit(ql->fill))
        return 0;
    return ql->fill < 0 || (long)node->count <= ql->fill;
}

static ql_node *node_new(unsigned char *lp, uint32_t count)
{
    ql_node *node = rk_malloc(sizeof(*node));
    if (!node)
        return NULL;
    node->prev = node->next = NULL;
    node->lp = lp;
    node->count = count;
    return node;
}

static void node_free(ql_node *node)
{
    lp_free(node->lp);
    rk_free(node);
}

/* Links node after `at` (at NULL: as the new head). */
static void link_after(quicklist *ql, ql_node *at, ql_node *node)
{
    node->prev = at;
    node->next = at ? at->next : ql->head;
    if (node->next)
        node->next->prev = node;
    else
        ql->tail = node;
    if (at)
        at->next = node;
    else
        ql->head = node;
    ql->len++;
    ql->count += node->count;
}

static void unlink_node(quicklist *ql, ql_node *node)
{
    if (node->prev)
        node->prev->next = node->next;
    else
        ql->head = node->next;
    if (node->next)
        node->next->prev = node->prev;
    else
        ql->tail = node->prev;
    ql->len--;
    ql->count -= node->count;
}

static void remove_node(quicklist *ql, ql_node *node)
{
    unlink_node(ql, node);
    node_free(node);
}

/* Splits node in halves until every part fits. Best effort: on OOM the
 * node stays whole (oversized but valid). */
static void split_to_fit(quicklist *ql, ql_node *node)
{
    while (!node_fits(ql, node)) {
        uint32_t keep = node->count / 2;
        uint32_t moved = node->count - keep;
        unsigned char *second = lp_dup(node->lp);
        if (!second)
            return;
        unsigned char *trimmed_second = lp_delete_range(second, 0, keep);
        if (!trimmed_second) {
            lp_free(second);
            return;
        }
        ql_node *right = node_new(trimmed_second, moved);
        if (!right) {
            lp_free(trimmed_second);
            return;
        }
        unsigned char *trimmed_first = lp_delete_range(node->lp, keep, moved);
        if (!trimmed_first) {
            node_free(right);
            return;
        }
        node->lp = trimmed_first;
        node->count = keep;
        ql->count -= moved; /* link_after adds them back */
        link_after(ql, node, right);
        split_to_fit(ql, right);
    }
}

static void entry_fill(ql_entry *e, ql_node *node, unsigned char *p)
{
    lp_value v;
    lp_get(p, &v);
    e->node = node;
    e->p = p;
    e->sval = v.sval;
    e->slen = v.slen;
    e->lval = v.lval;
}

/* ---- whole lists ---------------------------------------------------------- */

quicklist *ql_new(int fill)
{
    quicklist *ql = rk_malloc(sizeof(*ql));
    if (!ql)
        return NULL;
    ql->head = ql->tail = NULL;
    ql->count = 0;
    ql->len = 0;
    ql->fill = fill;
    return ql;
}

void ql_free(quicklist *ql)
{
    if (!ql)
        return;
    ql_node *node = ql->head;
    while (node) {
        ql_node *next = node->next;
        node_free(node);
        node = next;
    }
    rk_free(ql);
}

quicklist *ql_dup(const quicklist *ql)
{
    quicklist *copy = ql_new(ql->fill);
    if (!copy)
        return NULL;
    for (const ql_node *node = ql->head; node; node = node->next) {
        unsigned char *lp = lp_dup(node->lp);
        ql_node *dup = lp ? node_new(lp, node->count) : NULL;
        if (!dup) {
            lp_free(lp);
            ql_free(copy);
            return NULL;
        }
        link_after(copy, copy->tail, dup);
    }
    return copy;
}

size_t ql_heap_size(const quicklist *ql)
{
    size_t n = rk_usable_size(ql);
    for (const ql_node *node = ql->head; node; node = node->next)
        n += rk_usable_size(node) + rk_usable_size(node->lp);
    return n;
}

/* ---- ends ----------------------------------------------------------------- */

int ql_push(quicklist *ql, const void *s, size_t len, int where)
{
    if (len > UINT32_MAX)
        return -1;
    ql_node *end = where == QL_HEAD ? ql->head : ql->tail;
    if (node_allows(ql, end, len)) {
        unsigned char *lp = where == QL_HEAD ? lp_prepend(end->lp, s, (uint32_t)len)
                                             : lp_append(end->lp, s, (uint32_t)len);
        if (!lp)
            return -1;
        end->lp = lp;
        end->count++;
        ql->count++;
        return 0;
    }
    unsigned char *lp = lp_new(0);
    unsigned char *filled = lp ? lp_append(lp, s, (uint32_t)len) : NULL;
    if (!filled) {
        lp_free(lp);
        return -1;
    }
    ql_node *node = node_new(filled, 1);
    if (!node) {
        lp_free(filled);
        return -1;
    }
    link_after(ql, where == QL_HEAD ? NULL : ql->tail, node);
    return 0;
}

int ql_pop_discard(quicklist *ql, int where)
{
    ql_node *node = where == QL_HEAD ? ql->head : ql->tail;
    assert(node && node->count > 0);
    if (node->count == 1) {
        remove_node(ql, node);
        return 0;
    }
    unsigned char *p = where == QL_HEAD ? lp_first(node->lp) : lp_last(node->lp);
    unsigned char *lp = lp_delete(node->lp, p, NULL);
    if (!lp)
        return -1;
    node->lp = lp;
    node->count--;
    ql->count--;
    return 0;
}

/* ---- positions ------------------------------------------------------------ */

/* Finds the node holding element idx (0 <= idx < count) and its offset there. */
static ql_node *locate(const quicklist *ql, unsigned long idx, uint32_t *offset)
{
    assert(idx < ql->count);
    if (idx < ql->count / 2) {
        unsigned long seen = 0;
        for (ql_node *node = ql->head; node; node = node->next) {
            if (idx < seen + node->count) {
                *offset = (uint32_t)(idx - seen);
                return node;
            }
            seen += node->count;
        }
    } else {
        unsigned long after = ql->count; /* index just past the node */
        for (ql_node *node = ql->tail; node; node = node->prev) {
            unsigned long first = after - node->count;
            if (idx >= first) {
                *offset = (uint32_t)(idx - first);
                return node;
            }
            after = first;
        }
    }
    assert(!"quicklist counts out of sync");
    return NULL;
}

/* Normalizes a possibly negative index; 0 when out of range. */
static int absolute_index(const quicklist *ql, long long index, unsigned long *idx)
{
    long long count = (long long)ql->count;
    if (index < 0)
        index += count;
    if (index < 0 || index >= count)
        return 0;
    *idx = (unsigned long)index;
    return 1;
}

int ql_index(quicklist *ql, long long index, ql_entry *out)
{
    unsigned long idx;
    if (!absolute_index(ql, index, &idx))
        return 0;
    uint32_t offset;
    ql_node *node = locate(ql, idx, &offset);
    /* Seek from the nearer end of the node. */
    long rel = offset <= node->count / 2 ? (long)offset : (long)offset - (long)node->count;
    unsigned char *p = lp_seek(node->lp, rel);
    assert(p);
    entry_fill(out, node, p);
    return 1;
}

const unsigned char *ql_entry_bytes(const ql_entry *e, unsigned char *buf, size_t *len)
{
    uint32_t n;
    const unsigned char *bytes = lp_get_bytes(e->p, buf, &n);
    *len = n;
    return bytes;
}

int ql_entry_equal(const ql_entry *e, const void *s, size_t len)
{
    if (len > UINT32_MAX)
        return 0;
    return lp_equal(e->p, s, (uint32_t)len);
}

int ql_replace_at(quicklist *ql, long long index, const void *s, size_t len)
{
    ql_entry e;
    if (len > UINT32_MAX)
        return -1;
    if (!ql_index(ql, index, &e))
        return 0;
    unsigned char *lp = lp_insert(e.node->lp, s, (uint32_t)len, e.p, LP_REPLACE, NULL);
    if (!lp)
        return -1;
    e.node->lp = lp;
    split_to_fit(ql, e.node);
    return 1;
}

int ql_insert(quicklist *ql, const ql_entry *e, const void *s, size_t len, int after)
{
    if (len > UINT32_MAX)
        return -1;
    ql_node *node = e->node;
    unsigned char *lp = lp_insert(node->lp, s, (uint32_t)len, e->p, after ? LP_AFTER : LP_BEFORE, NULL);
    if (!lp)
        return -1;
    node->lp = lp;
    node->count++;
    ql->count++;
    split_to_fit(ql, node);
    return 0;
}

long long ql_del_range(quicklist *ql, long long start, unsigned long count)
{
    assert(start >= 0);
    if ((unsigned long long)start >= ql->count || count == 0)
        return 0;
    unsigned long left = ql->count - (unsigned long)start;
    if (count > left)
        count = left;
    uint32_t offset;
    ql_node *node = locate(ql, (unsigned long)start, &offset);
    long long deleted = 0;
    while (count > 0) {
        assert(node);
        ql_node *next = node->next;
        uint32_t here = node->count - offset;
        if (here > count)
            here = (uint32_t)count;
        if (offset == 0 && here == node->count) {
            remove_node(ql, node);
        } else {
            unsigned char *lp = lp_delete_range(node->lp, offset, here);
            if (!lp)
                return -1;
            node->lp = lp;
            node->count -= here;
            ql->count -= here;
        }
        deleted += here;
        count -= here;
        node = next;
        offset = 0;
    }
    return deleted;
}

/* ---- iteration ------------------------------------------------------------ */

static void iter_start_node(ql_iter *it, ql_node *node)
{
    it->node = node;
    it->p = node ? (it->dir == QL_FORWARD ? lp_first(node->lp) : lp_last(node->lp)) : NULL;
}

void ql_iter_init(ql_iter *it, quicklist *ql, int dir)
{
    it->ql = ql;
    it->dir = dir;
    iter_start_node(it, dir == QL_FORWARD ? ql->head : ql->tail);
}

int ql_iter_init_at(ql_iter *it, quicklist *ql, int dir, long long index)
{
    ql_entry e;
    it->ql = ql;
    it->dir = dir;
    it->node = NULL;
    it->p = NULL;
    if (!ql_index(ql, index, &e))
        return 0;
    it->node = e.node;
    it->p = e.p;
    return 1;
}

int ql_iter_next(ql_iter *it, ql_entry *e)
{
    if (!it->node)
        return 0;
    entry_fill(e, it->node, it->p);
    unsigned char *following = it->dir == QL_FORWARD ? lp_next(it->node->lp, it->p)
                                                     : lp_prev(it->node->lp, it->p);
    if (following)
        it->p = following;
    else
        iter_start_node(it, it->dir == QL_FORWARD ? it->node->next : it->node->prev);
    return 1;
}

int ql_iter_del(ql_iter *it, ql_entry *e)
{
    ql_node *node = e->node;
    if (node->count == 1) {
        /* The iterator already stands in a neighbour (or at the end). */
        assert(it->node != node);
        remove_node(it->ql, node);
        return 0;
    }
    unsigned char *after_deleted;
    unsigned char *lp = lp_delete(node->lp, e->p, &after_deleted);
    if (!lp)
        return -1;
    node->lp = lp;
    node->count--;
    it->ql->count--;
    if (it->node == node) {
        /* The listpack moved: find the iterator's entry again by position. */
        if (it->dir == QL_FORWARD)
            it->p = after_deleted;
        else
            it->p = after_deleted ? lp_prev(lp, after_deleted) : lp_last(lp);
        assert(it->p);
    }
    return 0;
}

/* ---- checks --------------------------------------------------------------- */

int ql_check(const quicklist *ql)
{
    unsigned long count = 0, len = 0;
    const ql_node *prev = NULL;
    for (const ql_node *node = ql->head; node; node = node->next) {
        if (node->prev != prev || node->count == 0 || lp_length(node->lp) != node->count)
            return 0;
        count += node->count;
        len++;
        prev = node;
    }
    return prev == ql->tail && count == ql->count && len == ql->len;
}
