// Micro-benchmarks for core/dict.c: insert, lookup hit/miss and SCAN on 1M keys.
#include <benchmark/benchmark.h>

#include <cstring>
#include <string>
#include <vector>

extern "C" {
#include "core/alloc.h"
#include "core/dict.h"
}

namespace {

constexpr size_t kKeys = 1000000;

uint64_t str_hash(const void *key)
{
    return dict_gen_hash(key, strlen(static_cast<const char *>(key)));
}

int str_equal(const void *a, const void *b)
{
    return strcmp(static_cast<const char *>(a), static_cast<const char *>(b)) == 0;
}

// Keys live in the vectors below, not in the dict: nothing to free.
const dict_type kBorrowedStrings = {str_hash, str_equal, nullptr, nullptr};

const std::vector<std::string> &keys(const char *prefix)
{
    static std::vector<std::string> present, absent;
    std::vector<std::string> &v = prefix[0] == 'k' ? present : absent;
    if (v.empty()) {
        v.reserve(kKeys);
        for (size_t i = 0; i < kKeys; i++)
            v.push_back(prefix + std::to_string(i));
    }
    return v;
}

const std::vector<std::string> &present_keys() { return keys("key:"); }
const std::vector<std::string> &absent_keys() { return keys("nokey:"); }

dict *build_full_dict()
{
    rk_alloc_thread_init();
    dict *d = dict_create(&kBorrowedStrings);
    for (const std::string &k : present_keys())
        dict_add_raw(d, const_cast<char *>(k.c_str()), nullptr);
    while (dict_rehash_step(d, 1000)) {
    }
    return d;
}

// Built once and kept for the process: the lookups only read it.
dict *full_dict()
{
    static dict *d = build_full_dict();
    return d;
}

void BM_DictInsert1M(benchmark::State &state)
{
    rk_alloc_thread_init();
    const std::vector<std::string> &k = present_keys();
    for (auto _ : state) {
        dict *d = dict_create(&kBorrowedStrings);
        for (const std::string &key : k)
            dict_add_raw(d, const_cast<char *>(key.c_str()), nullptr);
        state.PauseTiming();
        dict_release(d);
        state.ResumeTiming();
    }
    state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(kKeys));
}
BENCHMARK(BM_DictInsert1M)->Unit(benchmark::kMillisecond);

void lookup(benchmark::State &state, const std::vector<std::string> &k)
{
    dict *d = full_dict();
    size_t i = 0;
    for (auto _ : state) {
        benchmark::DoNotOptimize(dict_find(d, k[i].c_str()));
        if (++i == k.size())
            i = 0;
    }
    state.SetItemsProcessed(int64_t(state.iterations()));
}

void BM_DictLookupHit(benchmark::State &state) { lookup(state, present_keys()); }
BENCHMARK(BM_DictLookupHit);

void BM_DictLookupMiss(benchmark::State &state) { lookup(state, absent_keys()); }
BENCHMARK(BM_DictLookupMiss);

void count_entry(void *ud, dict_entry *) { ++*static_cast<uint64_t *>(ud); }

void BM_DictScan1M(benchmark::State &state)
{
    dict *d = full_dict();
    uint64_t seen = 0;
    for (auto _ : state) {
        uint64_t cursor = 0;
        do {
            cursor = dict_scan(d, cursor, count_entry, &seen);
        } while (cursor != 0);
    }
    benchmark::DoNotOptimize(seen);
    state.SetItemsProcessed(int64_t(state.iterations()) * int64_t(dict_size(d)));
}
BENCHMARK(BM_DictScan1M)->Unit(benchmark::kMillisecond);

} // namespace
