// Micro-benchmarks for the hash type (core/t_hash.c): HSET's work (hash_set)
// into a listpack-encoded hash and into a hashtable-encoded one, both
// adding new fields and updating existing ones.
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

extern "C" {
#include "core/alloc.h"
#include "core/object.h"
#include "core/t_hash.h"
}

namespace {

const hash_limits kDefaultLimits = {128, 64};  // Redis's defaults
const hash_limits kAlwaysTable = {0, 64};

const std::vector<std::string> &fields()
{
    static std::vector<std::string> v;
    if (v.empty())
        for (int i = 0; i < 100000; i++)
            v.push_back("field:" + std::to_string(i));
    return v;
}

rk_slice S(const std::string &s) { return rk_slice{s.data(), s.size()}; }

// Fills a fresh hash with `n` fields per iteration: the cost of building it.
void BM_HsetNewFields(benchmark::State &state, const hash_limits *lim, int expect_encoding)
{
    rk_alloc_thread_init();
    const auto &f = fields();
    const size_t n = static_cast<size_t>(state.range(0));
    const std::string value = "value-0123456789";
    for (auto _ : state) {
        rk_obj *o = hash_new();
        for (size_t i = 0; i < n; i++)
            benchmark::DoNotOptimize(hash_set(o, S(f[i]), S(value), lim));
        if (o->encoding != expect_encoding)
            state.SkipWithError("unexpected encoding");
        obj_free(o);
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
}

// Overwrites the values of a hash of `n` fields (HSET on existing fields).
void BM_HsetUpdate(benchmark::State &state, const hash_limits *lim, int expect_encoding)
{
    rk_alloc_thread_init();
    const auto &f = fields();
    const size_t n = static_cast<size_t>(state.range(0));
    rk_obj *o = hash_new();
    for (size_t i = 0; i < n; i++)
        hash_set(o, S(f[i]), S("v"), lim);
    if (o->encoding != expect_encoding)
        state.SkipWithError("unexpected encoding");
    const std::string values[2] = {"short", "a-somewhat-longer-value"};
    size_t i = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(hash_set(o, S(f[i % n]), S(values[i & 1]), lim));
        i++;
    }
    obj_free(o);
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

BENCHMARK_CAPTURE(BM_HsetNewFields, listpack, &kDefaultLimits, ENC_LISTPACK)->Arg(16)->Arg(128);
BENCHMARK_CAPTURE(BM_HsetNewFields, hashtable, &kAlwaysTable, ENC_HT)->Arg(16)->Arg(128)->Arg(10000);
BENCHMARK_CAPTURE(BM_HsetUpdate, listpack, &kDefaultLimits, ENC_LISTPACK)->Arg(16)->Arg(128);
BENCHMARK_CAPTURE(BM_HsetUpdate, hashtable, &kAlwaysTable, ENC_HT)->Arg(16)->Arg(128)->Arg(10000);

} // namespace
