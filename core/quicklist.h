/* quicklist.h: a doubly linked list of listpack nodes, the list type's
 * storage (Redis's quicklist without node compression).
 *
 * Node size follows list-max-listpack-size (`fill`), as in Redis:
 *   fill < 0   a node's listpack stays within 4/8/16/32/64 KiB for -1..-5
 *              (values below -5 act as -5);
 *   fill > 0   at most `fill` entries per node, and no more than 8 KiB
 *              unless the node holds a single entry;
 *   fill == 0  one entry per node.
 * An entry larger than the limit gets a node of its own.
 *
 * Owner: the shard that owns the list value; no locking. Allocation goes
 * through rk_malloc. Functions that can fail return -1 (or NULL) and leave
 * the list as it was. Invariants: no node is empty; `count` is the sum of
 * the nodes' counts; `len` the number of nodes. */
#ifndef RK_CORE_QUICKLIST_H
#define RK_CORE_QUICKLIST_H

#include <stddef.h>
#include <stdint.h>

enum { QL_HEAD = 0, QL_TAIL = 1 };
/* Iteration directions. */
enum { QL_FORWARD = 0, QL_BACKWARD = 1 };

typedef struct ql_node {
    struct ql_node *prev, *next;
    unsigned char *lp;
    uint32_t count; /* entries in lp */
} ql_node;

typedef struct quicklist {
    ql_node *head, *tail;
    unsigned long count; /* entries */
    unsigned long len;   /* nodes */
    int fill;            /* list-max-listpack-size at creation */
} quicklist;

/* One element, as found by an iterator or ql_index. The value is a string
 * (sval != NULL, pointing into the node: valid until the next change) or an
 * integer (sval == NULL, lval). */
typedef struct ql_entry {
    ql_node *node;
    unsigned char *p; /* the listpack entry */
    const unsigned char *sval;
    uint32_t slen;
    long long lval;
} ql_entry;

typedef struct ql_iter {
    quicklist *ql;
    ql_node *node;    /* node of the next entry to yield, NULL when done */
    unsigned char *p; /* that entry */
    int dir;
} ql_iter;

quicklist *ql_new(int fill);
void ql_free(quicklist *ql);
quicklist *ql_dup(const quicklist *ql);
/* Bytes held by the list (nodes and listpacks, the struct included). */
size_t ql_heap_size(const quicklist *ql);
static inline unsigned long ql_count(const quicklist *ql) { return ql->count; }

/* Adds an element at QL_HEAD or QL_TAIL. 0 / -1 (OOM, list unchanged). */
int ql_push(quicklist *ql, const void *s, size_t len, int where);
/* Removes the element at QL_HEAD or QL_TAIL (the list must not be empty).
 * 0 / -1 (the listpack could not be shrunk: list unchanged). */
int ql_pop_discard(quicklist *ql, int where);

/* The element at index (negative counts from the tail): 1 found, 0 out of range. */
int ql_index(quicklist *ql, long long index, ql_entry *out);
/* The element's bytes: strings point into the node, integers are formatted
 * into buf (>= 21 bytes). */
const unsigned char *ql_entry_bytes(const ql_entry *e, unsigned char *buf, size_t *len);
/* 1 when the element equals s[0,len) byte for byte. */
int ql_entry_equal(const ql_entry *e, const void *s, size_t len);

/* Replaces the element at index. 1 done, 0 out of range, -1 OOM (list unchanged). */
int ql_replace_at(quicklist *ql, long long index, const void *s, size_t len);
/* Inserts next to the element e (from ql_index or an iterator; invalid
 * afterwards): after it when `after`, else before. 0 / -1 (OOM, unchanged). */
int ql_insert(quicklist *ql, const ql_entry *e, const void *s, size_t len, int after);
/* Deletes count elements from index start (0 <= start, clamped at the end).
 * Returns how many were deleted, or -1 when a listpack could not be shrunk
 * (the list is then valid but only partly trimmed). */
long long ql_del_range(quicklist *ql, long long start, unsigned long count);

/* Iteration: from the head (QL_FORWARD) or the tail (QL_BACKWARD), or from
 * the element at index (ql_iter_init_at returns 0 when out of range). */
void ql_iter_init(ql_iter *it, quicklist *ql, int dir);
int ql_iter_init_at(ql_iter *it, quicklist *ql, int dir, long long index);
/* 1 with the next element in *e, 0 at the end. */
int ql_iter_next(ql_iter *it, ql_entry *e);
/* Deletes the element e that ql_iter_next just returned; iteration goes on
 * with the element after it (in the iterator's direction). 0 / -1 (the
 * listpack could not be shrunk: list and iterator unchanged). */
int ql_iter_del(ql_iter *it, ql_entry *e);

/* Structural self-check for tests: 1 when every invariant holds. */
int ql_check(const quicklist *ql);

#endif
