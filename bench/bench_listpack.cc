// Micro-benchmarks for core/listpack.c: building a 128-entry listpack with
// small appends, and lp_find in a 128-entry hash-like listpack.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>
#include <vector>

extern "C" {
#include "core/alloc.h"
#include "core/listpack.h"
}

namespace {

constexpr int kEntries = 128;

// Alternating field/value pairs, values mixing strings and integers.
const std::vector<std::string> &entries()
{
    static const std::vector<std::string> items = [] {
        std::vector<std::string> v;
        for (int i = 0; i < kEntries; i += 2) {
            v.push_back("field:" + std::to_string(i));
            v.push_back(i % 4 ? "value-" + std::to_string(i) : std::to_string(i * 37));
        }
        return v;
    }();
    return items;
}

const unsigned char *u(const std::string &s) { return reinterpret_cast<const unsigned char *>(s.data()); }

unsigned char *build()
{
    unsigned char *lp = lp_new(0);
    for (const auto &s : entries()) {
        lp = lp_append(lp, u(s), static_cast<uint32_t>(s.size()));
        if (!lp)
            abort();
    }
    return lp;
}

void BM_Append128(benchmark::State &state)
{
    rk_alloc_thread_init();
    for (auto _ : state) {
        unsigned char *lp = build();
        benchmark::DoNotOptimize(lp);
        lp_free(lp);
    }
    state.SetItemsProcessed(state.iterations() * kEntries);
}
BENCHMARK(BM_Append128);

// Looks up every field in turn (skip 1, as hash lookups do).
void BM_Find128(benchmark::State &state)
{
    rk_alloc_thread_init();
    unsigned char *lp = build();
    const auto &items = entries();
    size_t i = 0;
    for (auto _ : state) {
        const std::string &field = items[i];
        unsigned char *p = lp_find(lp, lp_first(lp), u(field), static_cast<uint32_t>(field.size()), 1);
        benchmark::DoNotOptimize(p);
        i = (i + 2) % items.size();
    }
    state.SetItemsProcessed(state.iterations());
    lp_free(lp);
}
BENCHMARK(BM_Find128);

// A miss walks the whole listpack.
void BM_Find128Miss(benchmark::State &state)
{
    rk_alloc_thread_init();
    unsigned char *lp = build();
    const std::string missing = "field:missing";
    for (auto _ : state) {
        unsigned char *p = lp_find(lp, lp_first(lp), u(missing), static_cast<uint32_t>(missing.size()), 1);
        benchmark::DoNotOptimize(p);
    }
    state.SetItemsProcessed(state.iterations());
    lp_free(lp);
}
BENCHMARK(BM_Find128Miss);

} // namespace
