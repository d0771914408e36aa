/* dict.c: chained hash table with incremental rehashing (implements dict.h).
 *
 * Owns: the bucket arrays and entries of each dict, and the process-wide
 * SipHash key.
 * Threads: a dict is used only by the shard thread that created it. The hash
 * key is written once by dict_set_hash_seed() before any thread starts.
 * Invariants:
 *  - table[i] == NULL <=> table i has no buckets; otherwise it has
 *    1 << size_exp[i] buckets and used[i] entries.
 *  - table[1] != NULL <=> rehash_idx >= 0; then every bucket of table[0]
 *    below rehash_idx is empty and new keys go to table[1].
 *  - before_change(d, t, b, NULL) runs before the chain of bucket b of
 *    table t is rewritten (rehash move), before_change(d, t,
 *    DICT_ALL_BUCKETS, NULL) before table t is cleared and freed,
 *    before_change(d, t, b, e)
 *    before entry e changes or is unlinked, after_insert(d, t, b, e) after a
 *    new entry e is linked; each may run more than once for one bucket. When
 *    a rehash ends, table 1 becomes table 0 without any chain changing.
 *  - bit 0 of an entry's `next` is that entry's tag; every chain walk masks
 *    it (next_of), every relink keeps it (set_next).
 *  - every allocation goes through core/alloc.h; a failed allocation leaves
 *    the dict's contents unchanged. */
#include "core/dict.h"

#include "core/alloc.h"

#include <assert.h>
#include <stdbool.h>
#include <string.h>
#include <time.h>

#define DICT_MIN_EXP 2          /* smallest table: 4 buckets */
#define DICT_FORCE_RESIZE_RATIO 5
#define DICT_SHRINK_RATIO 8     /* shrink when fill < 1/8 */
#define DICT_EMPTY_VISITS_PER_STEP 10

/* ---------- SipHash-1-2 ---------- */

static uint8_t sip_key[16];

void dict_set_hash_seed(const uint8_t seed[16])
{
    memcpy(sip_key, seed, sizeof sip_key);
}

static inline uint64_t rotl64(uint64_t x, int b)
{
    return (x << b) | (x >> (64 - b));
}

static inline uint64_t load_le64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static inline uint8_t ascii_lower(uint8_t c)
{
    return (c >= 'A' && c <= 'Z') ? (uint8_t)(c + ('a' - 'A')) : c;
}

static inline uint64_t load_le64_lower(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)ascii_lower(p[i]) << (8 * i);
    return v;
}

typedef struct sip_state {
    uint64_t v0, v1, v2, v3;
} sip_state;

static inline void sip_round(sip_state *s)
{
    s->v0 += s->v1; s->v1 = rotl64(s->v1, 13); s->v1 ^= s->v0; s->v0 = rotl64(s->v0, 32);
    s->v2 += s->v3; s->v3 = rotl64(s->v3, 16); s->v3 ^= s->v2;
    s->v0 += s->v3; s->v3 = rotl64(s->v3, 21); s->v3 ^= s->v0;
    s->v2 += s->v1; s->v1 = rotl64(s->v1, 17); s->v1 ^= s->v2; s->v2 = rotl64(s->v2, 32);
}

static inline void sip_absorb(sip_state *s, uint64_t m)
{
    s->v3 ^= m;
    sip_round(s); /* one compression round: the "1" of 1-2 */
    s->v0 ^= m;
}

/* `fold_case` is a compile-time constant at each call site, so each
 * public variant gets its own loop without a per-byte branch on it. */
static inline uint64_t siphash12(const uint8_t *in, size_t len, bool fold_case)
{
    const uint64_t k0 = load_le64(sip_key), k1 = load_le64(sip_key + 8);
    sip_state s = {
        k0 ^ 0x736f6d6570736575ULL, k1 ^ 0x646f72616e646f6dULL,
        k0 ^ 0x6c7967656e657261ULL, k1 ^ 0x7465646279746573ULL,
    };
    const uint8_t *end = in + (len & ~(size_t)7);
    for (; in != end; in += 8)
        sip_absorb(&s, fold_case ? load_le64_lower(in) : load_le64(in));

    uint64_t last = (uint64_t)len << 56;
    for (size_t i = 0; i < (len & 7); i++)
        last |= (uint64_t)(fold_case ? ascii_lower(in[i]) : in[i]) << (8 * i);
    sip_absorb(&s, last);

    s.v2 ^= 0xff;
    sip_round(&s); /* two finalisation rounds: the "2" */
    sip_round(&s);
    return s.v0 ^ s.v1 ^ s.v2 ^ s.v3;
}

uint64_t dict_gen_hash(const void *p, size_t len)
{
    return siphash12(p, len, false);
}

uint64_t dict_gen_case_hash(const void *p, size_t len)
{
    return siphash12(p, len, true);
}

/* ---------- table geometry ---------- */

static inline bool is_rehashing(const dict *d)
{
    return d->rehash_idx >= 0;
}

static inline uint64_t table_buckets(const dict *d, int t)
{
    return d->table[t] ? (uint64_t)1 << d->size_exp[t] : 0;
}

static inline uint64_t table_mask(const dict *d, int t)
{
    return d->table[t] ? table_buckets(d, t) - 1 : 0;
}

static inline uint64_t hash_key(const dict *d, const void *key)
{
    return d->type->hash(key);
}

static inline bool keys_equal(const dict *d, const void *a, const void *b)
{
    if (a == b)
        return true;
    return d->type->key_equal && d->type->key_equal(a, b);
}

/* An entry's `next` carries the entry's own tag in bit 0 (entries are at
 * least 8-byte aligned); a bucket slot never has it set. */
#define ENTRY_TAG ((uintptr_t)1)

static inline dict_entry *next_of(const dict_entry *e)
{
    return (dict_entry *)((uintptr_t)e->next & ~ENTRY_TAG);
}

/* Sets e's successor, keeping e's tag. */
static inline void set_next(dict_entry *e, dict_entry *n)
{
    e->next = (dict_entry *)(((uintptr_t)e->next & ENTRY_TAG) | (uintptr_t)n);
}

dict_entry *dict_entry_next(const dict_entry *e) { return next_of(e); }
int dict_entry_tagged(const dict_entry *e) { return ((uintptr_t)e->next & ENTRY_TAG) != 0; }

void dict_entry_set_tag(dict_entry *e, int on)
{
    e->next = (dict_entry *)(((uintptr_t)e->next & ~ENTRY_TAG) | (on ? ENTRY_TAG : 0));
}

/* The whole chain of bucket `bucket` of table t is about to change. */
static inline void announce_change(dict *d, int t, uint64_t bucket)
{
    assert(d->table[t] && bucket < table_buckets(d, t));
    if (d->before_change)
        d->before_change(d, d->hook_ud, t, bucket, NULL);
}

/* Table t is about to be emptied and freed (clear): its bucket array goes,
 * so a hook owner must finish with all of it now. */
static inline void announce_table(dict *d, int t)
{
    if (d->before_change && d->table[t])
        d->before_change(d, d->hook_ud, t, DICT_ALL_BUCKETS, NULL);
}

/* Entry e of that bucket is about to change or leave. */
static inline void announce_entry(dict *d, int t, uint64_t bucket, dict_entry *e)
{
    if (d->before_change)
        d->before_change(d, d->hook_ud, t, bucket, e);
}

static void reset_table(dict *d, int t)
{
    d->table[t] = NULL;
    d->size_exp[t] = 0;
    d->used[t] = 0;
}

static void free_entry(dict *d, dict_entry *e)
{
    if (d->type->key_free)
        d->type->key_free(e->key);
    if (d->type->val_free)
        d->type->val_free(e->v.val);
    rk_free(e);
}

uint64_t dict_size(const dict *d)
{
    return d->used[0] + d->used[1];
}

uint64_t dict_buckets(const dict *d)
{
    return table_buckets(d, 0) + table_buckets(d, 1);
}

dict *dict_create(const dict_type *type)
{
    assert(type && type->hash);
    dict *d = rk_calloc(sizeof *d);
    if (!d)
        return NULL;
    d->type = type;
    reset_table(d, 0);
    reset_table(d, 1);
    d->rehash_idx = -1;
    return d;
}

/* ---------- rehashing ---------- */

/* Smallest exponent whose table holds `entries` at load factor 1. */
static uint64_t exp_for_entries(uint64_t entries)
{
    uint64_t exp = DICT_MIN_EXP;
    while (exp < 63 && ((uint64_t)1 << exp) < entries)
        exp++;
    return exp;
}

/* Allocates a table of 1 << exp buckets: the first table directly, else as
 * the rehash target. 0 on success, -1 if allocation failed (dict unchanged). */
static int start_resize(dict *d, uint64_t exp)
{
    assert(!is_rehashing(d));
    if (d->table[0] && exp == d->size_exp[0])
        return 0;
    if (exp >= 61)
        return -1; /* bucket array size would overflow size_t */
    dict_entry **buckets = rk_calloc(sizeof(dict_entry *) << exp);
    if (!buckets)
        return -1;
    int t = d->table[0] ? 1 : 0;
    d->table[t] = buckets;
    d->size_exp[t] = exp;
    d->used[t] = 0;
    if (t == 1)
        d->rehash_idx = 0;
    return 0;
}

/* Table 0 is drained: table 1 takes its place. No chain changes here. */
static void finish_rehash(dict *d)
{
    assert(d->used[0] == 0);
    rk_free(d->table[0]);
    d->table[0] = d->table[1];
    d->size_exp[0] = d->size_exp[1];
    d->used[0] = d->used[1];
    reset_table(d, 1);
    d->rehash_idx = -1;
}

/* Moves the chain of table-0 bucket `src` into table 1. */
static void move_bucket(dict *d, uint64_t src)
{
    announce_change(d, 0, src);
    const uint64_t mask1 = table_mask(d, 1);
    bool announced_any = false;
    uint64_t last_announced = 0;
    dict_entry *e = d->table[0][src];
    while (e) {
        dict_entry *next = next_of(e);
        uint64_t dst = hash_key(d, e->key) & mask1;
        /* Entries of one source bucket often share a destination. */
        if (!announced_any || dst != last_announced) {
            announce_change(d, 1, dst);
            announced_any = true;
            last_announced = dst;
        }
        set_next(e, d->table[1][dst]);
        d->table[1][dst] = e;
        d->used[0]--;
        d->used[1]++;
        e = next;
    }
    d->table[0][src] = NULL;
}

/* Moves up to n non-empty buckets, giving up after n*10 empty ones.
 * Returns 1 while the rehash is unfinished. */
static int rehash_buckets(dict *d, int n)
{
    if (!is_rehashing(d))
        return 0;
    int empty_visits_left = n * DICT_EMPTY_VISITS_PER_STEP;
    const uint64_t size0 = table_buckets(d, 0);
    while (n-- > 0 && d->used[0] != 0) {
        assert((uint64_t)d->rehash_idx < size0);
        while (d->table[0][d->rehash_idx] == NULL) {
            d->rehash_idx++;
            if (--empty_visits_left == 0)
                return 1;
        }
        move_bucket(d, (uint64_t)d->rehash_idx);
        d->rehash_idx++;
    }
    if (d->used[0] == 0) {
        finish_rehash(d);
        return 0;
    }
    return 1;
}

/* The one-bucket step every write operation pays. */
static void rehash_step_for_write(dict *d)
{
    if (is_rehashing(d) && d->pause_rehash == 0)
        rehash_buckets(d, 1);
}

int dict_rehash_step(dict *d, int n)
{
    if (d->pause_rehash > 0)
        return is_rehashing(d); /* moving entries would break a safe iterator */
    return rehash_buckets(d, n);
}

static int64_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int dict_rehash_microseconds(dict *d, int64_t us)
{
    if (d->pause_rehash > 0)
        return 0;
    const int64_t deadline = monotonic_us() + us;
    int moved = 0;
    /* Check the clock every 100 buckets: reading it costs more than a move. */
    while (dict_rehash_step(d, 100)) {
        moved += 100;
        if (monotonic_us() >= deadline)
            break;
    }
    return moved;
}

/* Starts a grow when the fill reaches 1 (or 5 while resizing is forbidden).
 * 0 if no grow was needed or it started, -1 if the allocation failed. */
static int grow_if_needed(dict *d)
{
    if (is_rehashing(d))
        return 0;
    if (!d->table[0])
        return start_resize(d, DICT_MIN_EXP);
    const uint64_t size0 = table_buckets(d, 0);
    if (d->used[0] < size0)
        return 0;
    if (d->resize_forbidden > 0 && d->used[0] / size0 <= DICT_FORCE_RESIZE_RATIO)
        return 0;
    return start_resize(d, exp_for_entries(d->used[0] + 1));
}

int dict_expand(dict *d, uint64_t entries)
{
    if (dict_size(d) != 0 || is_rehashing(d) || d->resize_forbidden > 0)
        return 0;
    const uint64_t exp = exp_for_entries(entries);
    if (d->table[0] && d->size_exp[0] >= exp)
        return 0;
    /* An empty dict: drop its table and allocate the larger one directly. */
    if (d->table[0]) {
        rk_free(d->table[0]);
        reset_table(d, 0);
    }
    return start_resize(d, exp);
}

int dict_try_shrink(dict *d)
{
    if (is_rehashing(d) || d->resize_forbidden > 0 || !d->table[0])
        return 0;
    const uint64_t size0 = table_buckets(d, 0);
    if (d->size_exp[0] <= DICT_MIN_EXP || d->used[0] * DICT_SHRINK_RATIO >= size0)
        return 0;
    if (start_resize(d, exp_for_entries(d->used[0])) < 0)
        return -1;
    return 1;
}

/* ---------- lookup, insert, delete ---------- */

/* Finds key. On success, if given, table_out gets its table and prev_out
 * the entry before it in its chain (NULL when it heads the chain). */
static dict_entry *locate(dict *d, const void *key, uint64_t hash, int *table_out,
                          dict_entry **prev_out)
{
    for (int t = 0; t <= 1; t++) {
        if (!d->table[t])
            break;
        dict_entry *prev = NULL;
        for (dict_entry *e = d->table[t][hash & table_mask(d, t)]; e; prev = e, e = next_of(e)) {
            if (keys_equal(d, key, e->key)) {
                if (table_out)
                    *table_out = t;
                if (prev_out)
                    *prev_out = prev;
                return e;
            }
        }
        if (!is_rehashing(d))
            break;
    }
    return NULL;
}

dict_entry *dict_find(dict *d, const void *key)
{
    if (dict_size(d) == 0)
        return NULL;
    return locate(d, key, hash_key(d, key), NULL, NULL);
}

dict_entry *dict_add_raw(dict *d, void *key, dict_entry **existing)
{
    rehash_step_for_write(d);
    const uint64_t hash = hash_key(d, key);
    dict_entry *found = dict_size(d) ? locate(d, key, hash, NULL, NULL) : NULL;
    if (found) {
        if (existing)
            *existing = found;
        return NULL;
    }
    /* Allocate the entry first so that a failure changes nothing. */
    dict_entry *e = rk_malloc(sizeof *e);
    if (!e)
        return NULL;
    /* A failed grow is harmless while a table exists: chains just get
     * longer, and the next insert tries again. */
    if (grow_if_needed(d) < 0 && !d->table[0]) {
        rk_free(e);
        return NULL;
    }
    const int t = is_rehashing(d) ? 1 : 0;
    const uint64_t bucket = hash & table_mask(d, t);
    e->key = key;
    e->v.u64 = 0;
    e->next = d->table[t][bucket]; /* untagged: a bucket slot has no tag bit */
    d->table[t][bucket] = e;
    d->used[t]++;
    if (d->after_insert)
        d->after_insert(d, d->hook_ud, t, bucket, e);
    return e;
}

dict_entry *dict_unlink(dict *d, const void *key)
{
    if (dict_size(d) == 0)
        return NULL;
    rehash_step_for_write(d);
    const uint64_t hash = hash_key(d, key);
    int t = 0;
    dict_entry *prev = NULL;
    dict_entry *e = locate(d, key, hash, &t, &prev);
    if (!e)
        return NULL;
    const uint64_t bucket = hash & table_mask(d, t);
    announce_entry(d, t, bucket, e);
    if (prev)
        set_next(prev, next_of(e));
    else
        d->table[t][bucket] = next_of(e);
    e->next = NULL;
    d->used[t]--;
    return e;
}

int dict_announce_key(dict *d, const void *key)
{
    if (dict_size(d) == 0)
        return -1;
    const uint64_t hash = hash_key(d, key);
    int t = 0;
    dict_entry *e = locate(d, key, hash, &t, NULL);
    if (!e)
        return -1;
    announce_entry(d, t, hash & table_mask(d, t), e);
    return 0;
}

void dict_announce_all(dict *d)
{
    announce_table(d, 0);
    announce_table(d, 1);
}

void dict_free_unlinked(dict *d, dict_entry *e)
{
    if (e)
        free_entry(d, e);
}

int dict_delete(dict *d, const void *key)
{
    dict_entry *e = dict_unlink(d, key);
    if (!e)
        return -1;
    free_entry(d, e);
    return 0;
}

/* ---------- clear and release ---------- */

static uint64_t clear_table(dict *d, int t)
{
    uint64_t removed = 0;
    const uint64_t buckets = table_buckets(d, t);
    announce_table(d, t);
    for (uint64_t b = 0; b < buckets && d->used[t] > 0; b++) {
        dict_entry *e = d->table[t][b];
        if (!e)
            continue;
        d->table[t][b] = NULL;
        while (e) {
            dict_entry *next = next_of(e);
            free_entry(d, e);
            d->used[t]--;
            removed++;
            e = next;
        }
    }
    assert(d->used[t] == 0);
    rk_free(d->table[t]);
    reset_table(d, t);
    return removed;
}

uint64_t dict_clear(dict *d)
{
    uint64_t removed = clear_table(d, 0) + clear_table(d, 1);
    d->rehash_idx = -1;
    return removed;
}

void dict_release(dict *d)
{
    if (!d)
        return;
    dict_clear(d);
    rk_free(d);
}

/* ---------- random ---------- */

static _Thread_local uint64_t random_state;

/* splitmix64: fast, and good enough to pick buckets. */
static uint64_t next_random(void)
{
    if (random_state == 0)
        random_state = (uint64_t)monotonic_us() ^ (uint64_t)(uintptr_t)&random_state;
    uint64_t z = (random_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A random non-empty bucket head from either table. */
static dict_entry *random_chain(dict *d)
{
    const uint64_t size0 = table_buckets(d, 0);
    if (!is_rehashing(d)) {
        const uint64_t mask0 = table_mask(d, 0);
        for (;;) {
            dict_entry *head = d->table[0][next_random() & mask0];
            if (head)
                return head;
        }
    }
    /* Buckets of table 0 below rehash_idx are empty: skip them. */
    const uint64_t first = (uint64_t)d->rehash_idx;
    const uint64_t span = size0 + table_buckets(d, 1) - first;
    for (;;) {
        uint64_t i = first + next_random() % span;
        dict_entry *head = i < size0 ? d->table[0][i] : d->table[1][i - size0];
        if (head)
            return head;
    }
}

dict_entry *dict_random(dict *d)
{
    if (dict_size(d) == 0)
        return NULL;
    dict_entry *head = random_chain(d);
    uint64_t chain_len = 0;
    for (dict_entry *e = head; e; e = next_of(e))
        chain_len++;
    uint64_t pick = next_random() % chain_len;
    dict_entry *e = head;
    while (pick--)
        e = next_of(e);
    return e;
}

/* ---------- scan ---------- */

static inline uint64_t reverse_bits(uint64_t v)
{
    v = ((v >> 1) & 0x5555555555555555ULL) | ((v & 0x5555555555555555ULL) << 1);
    v = ((v >> 2) & 0x3333333333333333ULL) | ((v & 0x3333333333333333ULL) << 2);
    v = ((v >> 4) & 0x0f0f0f0f0f0f0f0fULL) | ((v & 0x0f0f0f0f0f0f0f0fULL) << 4);
    return __builtin_bswap64(v);
}

/* Increments the cursor's bits under `mask` starting from the high bit, so
 * that buckets sharing low bits (which map to one another across table
 * sizes) are visited together. */
static inline uint64_t cursor_advance(uint64_t cursor, uint64_t mask)
{
    cursor |= ~mask; /* the carry must run out of the masked bits */
    return reverse_bits(reverse_bits(cursor) + 1);
}

/* fn may delete the entry it is given: `next` is read first. */
static void scan_chain(dict_entry *e, dict_scan_fn *fn, void *ud)
{
    while (e) {
        dict_entry *next = next_of(e);
        fn(ud, e);
        e = next;
    }
}

uint64_t dict_scan(dict *d, uint64_t cursor, dict_scan_fn *fn, void *ud)
{
    if (dict_size(d) == 0)
        return 0;
    d->pause_rehash++; /* a delete inside fn must not move entries */
    if (!is_rehashing(d)) {
        const uint64_t mask = table_mask(d, 0);
        scan_chain(d->table[0][cursor & mask], fn, ud);
        cursor = cursor_advance(cursor, mask);
    } else {
        int small = table_buckets(d, 0) <= table_buckets(d, 1) ? 0 : 1;
        int large = 1 - small;
        const uint64_t small_mask = table_mask(d, small);
        const uint64_t large_mask = table_mask(d, large);
        scan_chain(d->table[small][cursor & small_mask], fn, ud);
        /* Then every large-table bucket that folds onto that small one. */
        do {
            scan_chain(d->table[large][cursor & large_mask], fn, ud);
            cursor = cursor_advance(cursor, large_mask);
        } while (cursor & (small_mask ^ large_mask));
    }
    d->pause_rehash--;
    return cursor;
}

/* ---------- iterators ---------- */

/* Changes whenever the table layout or entry counts change. */
static uint64_t fingerprint(const dict *d)
{
    const uint64_t parts[6] = {
        (uint64_t)(uintptr_t)d->table[0], d->size_exp[0], d->used[0],
        (uint64_t)(uintptr_t)d->table[1], d->size_exp[1], d->used[1],
    };
    uint64_t h = 0x84222325cbf29ce4ULL;
    for (int i = 0; i < 6; i++) {
        h ^= parts[i];
        h *= 0x100000001b3ULL;
        h = rotl64(h, 29);
    }
    return h;
}

void dict_iter_init(dict_iter *it, dict *d, int safe)
{
    it->d = d;
    it->index = -1;
    it->table = 0;
    it->safe = safe;
    it->entry = NULL;
    it->next_entry = NULL;
    if (safe)
        d->pause_rehash++;
    else
        it->fingerprint = fingerprint(d);
}

dict_entry *dict_next(dict_iter *it)
{
    dict *d = it->d;
    for (;;) {
        if (it->entry) {
            it->entry = it->next_entry;
        } else {
            it->index++;
            if ((uint64_t)it->index >= table_buckets(d, it->table)) {
                if (it->table == 1 || !is_rehashing(d))
                    return NULL;
                it->table = 1;
                it->index = 0;
            }
            it->entry = d->table[it->table][it->index];
        }
        if (it->entry) {
            /* Saved now so the caller may delete the entry returned. */
            it->next_entry = next_of(it->entry);
            return it->entry;
        }
    }
}

void dict_iter_release(dict_iter *it)
{
    if (it->safe) {
        assert(it->d->pause_rehash > 0);
        it->d->pause_rehash--;
    } else {
        assert(it->fingerprint == fingerprint(it->d) && "dict changed under an unsafe iterator");
    }
}
