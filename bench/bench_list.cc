// Micro-benchmarks for core/quicklist.c: LPUSH/LPOP-style throughput at the
// head, RPUSH/LPOP (a queue) and LINDEX in the middle, at the default fill.
#include <benchmark/benchmark.h>

#include <string>

extern "C" {
#include "core/alloc.h"
#include "core/quicklist.h"
}

namespace {

constexpr int kDefaultFill = -2; // list-max-listpack-size default: 8 KiB nodes

const std::string &payload(size_t len)
{
    static std::string small(16, 'x'), large(256, 'y');
    return len <= 16 ? small : large;
}

// Push N elements at the head, then pop them all: one LPUSH + one LPOP each.
void BM_LpushLpop(benchmark::State &state)
{
    const std::string &v = payload(static_cast<size_t>(state.range(0)));
    const long n = 100000;
    quicklist *ql = ql_new(kDefaultFill);
    for (auto _ : state) {
        for (long i = 0; i < n; i++)
            if (ql_push(ql, v.data(), v.size(), QL_HEAD) != 0)
                state.SkipWithError("out of memory");
        for (long i = 0; i < n; i++)
            ql_pop_discard(ql, QL_HEAD);
    }
    ql_free(ql);
    state.SetItemsProcessed(state.iterations() * n * 2);
}
BENCHMARK(BM_LpushLpop)->Arg(16)->Arg(256);

// A steady queue: RPUSH at the tail, LPOP at the head, around 1000 elements.
void BM_QueueRpushLpop(benchmark::State &state)
{
    const std::string &v = payload(16);
    quicklist *ql = ql_new(kDefaultFill);
    for (int i = 0; i < 1000; i++)
        ql_push(ql, v.data(), v.size(), QL_TAIL);
    for (auto _ : state) {
        ql_push(ql, v.data(), v.size(), QL_TAIL);
        ql_pop_discard(ql, QL_HEAD);
    }
    ql_free(ql);
    state.SetItemsProcessed(state.iterations() * 2);
}
BENCHMARK(BM_QueueRpushLpop);

// LINDEX of the middle element of a 100k-element list.
void BM_IndexMiddle(benchmark::State &state)
{
    const std::string &v = payload(16);
    quicklist *ql = ql_new(kDefaultFill);
    for (int i = 0; i < 100000; i++)
        ql_push(ql, v.data(), v.size(), QL_TAIL);
    ql_entry e;
    for (auto _ : state)
        benchmark::DoNotOptimize(ql_index(ql, 50000, &e));
    ql_free(ql);
}
BENCHMARK(BM_IndexMiddle);

} // namespace
