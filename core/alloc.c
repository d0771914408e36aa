/* alloc.c: per-thread heaps and memory accounting (implements alloc.h).
 *
 * Owns: each thread's mimalloc heap and its byte counter, and the global
 * table of counter slots that rk_alloc_total_used() sums.
 * Threads: any thread may allocate and free. A thread uses its own heap only
 * after rk_alloc_thread_init(); before that (or if it never calls it) it
 * allocates from mimalloc's default heap. rk_alloc_total_used() may be
 * called from any thread and reads the slots without locks.
 * Invariants: a thread's counter changes by exactly the usable size of each
 * block it allocates or frees; only the owning thread writes its slot, and
 * it always holds that thread's latest counter value; at most
 * RK_ALLOC_MAX_THREADS threads register.
 * Under RK_NO_MIMALLOC (sanitizer builds) libc malloc replaces mimalloc. */
#include "core/alloc.h"

#include <assert.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#ifdef RK_NO_MIMALLOC
#include <malloc.h>
#include <stdlib.h>
#else
#include <mimalloc.h>
#endif

#define RK_ALLOC_MAX_THREADS 256

static _Atomic int64_t thread_used_slots[RK_ALLOC_MAX_THREADS];
static atomic_int registered_threads;

static _Thread_local int64_t thread_used_bytes;
static _Thread_local _Atomic int64_t *thread_slot; /* NULL until init */
/* Test hook: >= 0 counts down successful allocations; at 0 all fail. */
static _Thread_local int64_t fail_countdown = -1;

#ifndef RK_NO_MIMALLOC
static _Thread_local mi_heap_t *thread_heap; /* NULL until init */
#endif

static inline void account(int64_t delta)
{
    thread_used_bytes += delta;
    /* Relaxed: readers only need an eventually-current value per slot. */
    if (thread_slot)
        atomic_store_explicit(thread_slot, thread_used_bytes, memory_order_relaxed);
}

static inline int injected_failure(void)
{
    if (__builtin_expect(fail_countdown < 0, 1))
        return 0;
    if (fail_countdown == 0)
        return 1;
    fail_countdown--;
    return 0;
}

/* Non-const on purpose: gcc assumes a const pointer argument reads the
 * (still uninitialised) block and warns. */
static size_t block_size(void *p)
{
    if (!p)
        return 0;
#ifdef RK_NO_MIMALLOC
    return malloc_usable_size(p);
#else
    return mi_usable_size(p);
#endif
}

size_t rk_usable_size(const void *p)
{
    return block_size((void *)p);
}

static void *raw_malloc(size_t n)
{
#ifdef RK_NO_MIMALLOC
    return malloc(n);
#else
    return thread_heap ? mi_heap_malloc(thread_heap, n) : mi_malloc(n);
#endif
}

static void *raw_zalloc(size_t n)
{
#ifdef RK_NO_MIMALLOC
    return calloc(1, n);
#else
    return thread_heap ? mi_heap_zalloc(thread_heap, n) : mi_zalloc(n);
#endif
}

static void *raw_realloc(void *p, size_t n)
{
#ifdef RK_NO_MIMALLOC
    return realloc(p, n);
#else
    return thread_heap ? mi_heap_realloc(thread_heap, p, n) : mi_realloc(p, n);
#endif
}

static void raw_free(void *p)
{
#ifdef RK_NO_MIMALLOC
    free(p);
#else
    mi_free(p);
#endif
}

int rk_alloc_thread_init(void)
{
    if (thread_slot)
        return 0; /* already initialised */
#ifndef RK_NO_MIMALLOC
    thread_heap = mi_heap_new();
    if (!thread_heap)
        return -1;
#endif
    int index = atomic_fetch_add_explicit(&registered_threads, 1, memory_order_relaxed);
    assert(index < RK_ALLOC_MAX_THREADS && "too many allocating threads");
    if (index >= RK_ALLOC_MAX_THREADS)
        return -1;
    thread_slot = &thread_used_slots[index];
    /* Bytes counted before init belong to this thread too. */
    atomic_store_explicit(thread_slot, thread_used_bytes, memory_order_relaxed);
    return 0;
}

void *rk_malloc(size_t n)
{
    if (injected_failure())
        return NULL;
    void *p = raw_malloc(n);
    if (p)
        account((int64_t)block_size(p));
    return p;
}

void *rk_calloc(size_t n)
{
    if (injected_failure())
        return NULL;
    void *p = raw_zalloc(n);
    if (p)
        account((int64_t)block_size(p));
    return p;
}

void *rk_realloc(void *p, size_t n)
{
    if (injected_failure())
        return NULL;
    /* glibc's realloc(p, 0) frees p; keep "returns a live block" semantics. */
    if (n == 0)
        n = 1;
    size_t old_size = block_size(p);
    void *q = raw_realloc(p, n);
    if (!q)
        return NULL; /* p is still valid and still counted */
    account((int64_t)block_size(q) - (int64_t)old_size);
    return q;
}

void rk_free(void *p)
{
    if (!p)
        return;
    account(-(int64_t)block_size(p));
    raw_free(p);
}

char *rk_memdup(const void *p, size_t n)
{
    if (n == SIZE_MAX)
        return NULL;
    char *copy = rk_malloc(n + 1);
    if (!copy)
        return NULL;
    if (n)
        memcpy(copy, p, n);
    copy[n] = '\0';
    return copy;
}

int64_t rk_alloc_thread_used(void)
{
    return thread_used_bytes;
}

int64_t rk_alloc_total_used(void)
{
    int registered = atomic_load_explicit(&registered_threads, memory_order_relaxed);
    if (registered > RK_ALLOC_MAX_THREADS)
        registered = RK_ALLOC_MAX_THREADS;
    int64_t total = 0;
    for (int i = 0; i < registered; i++)
        total += atomic_load_explicit(&thread_used_slots[i], memory_order_relaxed);
    return total;
}

size_t rk_rss_bytes(void)
{
    FILE *statm = fopen("/proc/self/statm", "r");
    if (!statm)
        return 0;
    unsigned long total_pages = 0, resident_pages = 0;
    int fields = fscanf(statm, "%lu %lu", &total_pages, &resident_pages);
    fclose(statm);
    long page_size = sysconf(_SC_PAGESIZE);
    if (fields != 2 || page_size <= 0)
        return 0;
    return (size_t)resident_pages * (size_t)page_size;
}

void rk_alloc_fail_after(int64_t n)
{
    fail_countdown = n < 0 ? -1 : n;
}
