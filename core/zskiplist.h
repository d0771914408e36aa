/* zskiplist.h: the large encoding of sorted sets (OBJ_ZSET, ENC_SKIPLIST):
 * a skiplist ordered by (score, member) whose links carry spans, so ranks
 * are found in O(log n), plus a dict member -> score for O(1) lookups.
 *
 * Owner: the shard thread holding the value; nothing here is shared.
 *
 * Invariants:
 *  - nodes are ordered by score, then by member bytes (memcmp, shorter
 *    first on a common prefix); no two nodes hold the same member;
 *  - level[i].span of a node is the number of nodes its level-i link skips
 *    over plus one (so the sum of spans along a path to a node is its rank);
 *  - in a zset_sl every node's member is a key of the dict, the entry's
 *    key is the node's own rk_str (owned by the node, not the dict) and its
 *    v.d equals the node's score. */
#ifndef RK_CORE_ZSKIPLIST_H
#define RK_CORE_ZSKIPLIST_H

#include <stddef.h>
#include <stdint.h>

#include "core/dict.h"
#include "core/object.h"

#define ZSL_MAXLEVEL 32
#define ZSL_P 0.25

typedef struct zsl_node {
    rk_str *ele;
    double score;
    struct zsl_node *backward;
    int height;       /* number of levels, kept so a node can be relinked */
    struct zsl_level {
        struct zsl_node *forward;
        unsigned long span;
    } level[];
} zsl_node;

typedef struct zskiplist {
    zsl_node *header, *tail;
    unsigned long length;
    int level;
} zskiplist;

/* A score interval; minex/maxex make that end exclusive. */
typedef struct zs_range {
    double min, max;
    int minex, maxex;
} zs_range;

/* One end of a lexicographic interval: -inf ("-"), +inf ("+") or bytes. */
typedef struct zs_lexbound {
    const char *p;
    size_t len;
    int inf;    /* -1: minus infinity, +1: plus infinity, 0: the bytes */
    int ex;     /* exclusive ("(") */
} zs_lexbound;

typedef struct zs_lexrange {
    zs_lexbound min, max;
} zs_lexrange;

/* Member order: memcmp, then the shorter first. */
int zs_cmp_bytes(const char *a, size_t alen, const char *b, size_t blen);

/* Range checks for one value. */
int zs_score_gte_min(double v, const zs_range *r);
int zs_score_lte_max(double v, const zs_range *r);
int zs_lex_gte_min(const char *p, size_t len, const zs_lexrange *r);
int zs_lex_lte_max(const char *p, size_t len, const zs_lexrange *r);
/* 1 when the interval can hold no value at all (min > max, or equal with an exclusive end). */
int zs_range_empty(const zs_range *r);
int zs_lexrange_empty(const zs_lexrange *r);

/* ---- skiplist ---------------------------------------------------------- */

zskiplist *zsl_create(void);                 /* NULL on OOM */
void zsl_free(zskiplist *zsl);               /* frees nodes and their members */
/* Adds (score, ele); ele must not be present. Takes ele on success.
 * NULL on OOM (ele not taken). */
zsl_node *zsl_insert(zskiplist *zsl, double score, rk_str *ele);
/* Removes the node (score, ele). Returns 1 if found. When node is not NULL
 * the unlinked node is handed back (caller frees it with zsl_free_node),
 * else it and its member are freed. */
int zsl_delete(zskiplist *zsl, double score, const char *ele, size_t len, zsl_node **node);
void zsl_free_node(zsl_node *n);             /* frees the node and its member */
/* Moves the existing node (curscore, ele) to newscore. Never allocates,
 * so it cannot fail; returns the node. */
zsl_node *zsl_update_score(zskiplist *zsl, double curscore, const char *ele, size_t len, double newscore);
/* 1-based rank of (score, ele), 0 when absent. */
unsigned long zsl_rank(const zskiplist *zsl, double score, const char *ele, size_t len);
/* Node at 1-based rank, NULL when out of range. */
zsl_node *zsl_by_rank(const zskiplist *zsl, unsigned long rank);
/* First / last node inside the interval, NULL when none. */
zsl_node *zsl_first_in_range(const zskiplist *zsl, const zs_range *r);
zsl_node *zsl_last_in_range(const zskiplist *zsl, const zs_range *r);
zsl_node *zsl_first_in_lex(const zskiplist *zsl, const zs_lexrange *r);
zsl_node *zsl_last_in_lex(const zskiplist *zsl, const zs_lexrange *r);

/* Removes every node inside the interval / rank range [start, end]
 * (1-based, inclusive), also deleting the members from dict when dict is
 * not NULL. Returns the number removed. */
unsigned long zsl_delete_range_by_score(zskiplist *zsl, const zs_range *r, dict *d);
unsigned long zsl_delete_range_by_lex(zskiplist *zsl, const zs_lexrange *r, dict *d);
unsigned long zsl_delete_range_by_rank(zskiplist *zsl, unsigned long start, unsigned long end, dict *d);

/* ---- skiplist + dict: the ENC_SKIPLIST value --------------------------- */

typedef struct zset_sl {
    dict *dict;       /* rk_str* member (the node's) -> v.d score */
    zskiplist *zsl;
} zset_sl;

zset_sl *zsetsl_create(void);                /* NULL on OOM */
void zsetsl_free(zset_sl *zs);
zset_sl *zsetsl_dup(const zset_sl *zs);      /* deep copy, NULL on OOM */
size_t zsetsl_heap_size(const zset_sl *zs);  /* bytes held, approximately (usable sizes) */
unsigned long zsetsl_length(const zset_sl *zs);
/* The member's dict entry (v.d is its score), NULL when absent. */
dict_entry *zsetsl_find(zset_sl *zs, const char *ele, size_t len);
/* Adds a member that must be absent. 0, or -1 on OOM (nothing changed). */
int zsetsl_add(zset_sl *zs, const char *ele, size_t len, double score);
/* Changes the score of a present member (its dict entry e). Cannot fail. */
void zsetsl_set_score(zset_sl *zs, dict_entry *e, double newscore);
/* Removes a member. 1 if it was there. */
int zsetsl_delete(zset_sl *zs, const char *ele, size_t len);

#endif
