// Micro-benchmarks for core/zskiplist.c: ZADD of random scores into the
// skiplist+dict encoding, ZRANGE 0 99 (rank seek, walk, reply formatting)
// and ZRANK on a large set.
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

extern "C" {
#include "core/alloc.h"
#include "core/zskiplist.h"
#include "io/buf.h"
#include "io/reply.h"
}

namespace {

constexpr size_t kMembers = 1000000;

const std::vector<std::string> &members()
{
    static std::vector<std::string> v;
    if (v.empty()) {
        v.reserve(kMembers);
        for (size_t i = 0; i < kMembers; i++)
            v.push_back("member:" + std::to_string(i));
    }
    return v;
}

const std::vector<double> &scores()
{
    static std::vector<double> v;
    if (v.empty()) {
        std::mt19937_64 rng(42);
        std::uniform_real_distribution<double> dist(0, 1e6);
        v.reserve(kMembers);
        for (size_t i = 0; i < kMembers; i++)
            v.push_back(dist(rng));
    }
    return v;
}

zset_sl *build(size_t n)
{
    zset_sl *zs = zsetsl_create();
    for (size_t i = 0; i < n; i++)
        zsetsl_add(zs, members()[i].data(), members()[i].size(), scores()[i]);
    return zs;
}

// ZADD of new members with random scores, up to range(0) members per set.
void BM_ZaddRandomScores(benchmark::State &state)
{
    rk_alloc_thread_init();
    const size_t n = static_cast<size_t>(state.range(0));
    members();
    scores();
    for (auto _ : state) {
        state.PauseTiming();
        zset_sl *zs = zsetsl_create();
        state.ResumeTiming();
        for (size_t i = 0; i < n; i++)
            zsetsl_add(zs, members()[i].data(), members()[i].size(), scores()[i]);
        state.PauseTiming();
        zsetsl_free(zs);
        state.ResumeTiming();
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
}
BENCHMARK(BM_ZaddRandomScores)->Arg(1000)->Arg(100000)->Unit(benchmark::kMillisecond);

// ZRANGE key 0 99 WITHSCORES on a set of range(0) members, RESP2 reply built.
void BM_ZrangeFirst100(benchmark::State &state)
{
    rk_alloc_thread_init();
    zset_sl *zs = build(static_cast<size_t>(state.range(0)));
    rk_buf out;
    rk_buf_init(&out);
    rk_reply r = {&out, 2};
    for (auto _ : state) {
        rk_buf_clear(&out);
        reply_array(&r, 200);
        int left = 100;
        for (zsl_node *n = zsl_by_rank(zs->zsl, 1); n && left--; n = n->level[0].forward) {
            reply_bulk(&r, n->ele->data, n->ele->len);
            reply_double(&r, n->score);
        }
        benchmark::DoNotOptimize(out.len);
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * 100));
    rk_buf_free(&out);
    zsetsl_free(zs);
}
BENCHMARK(BM_ZrangeFirst100)->Arg(1000)->Arg(1000000);

// ZRANK of random members: dict lookup plus the span walk.
void BM_ZrankRandom(benchmark::State &state)
{
    rk_alloc_thread_init();
    const size_t n = static_cast<size_t>(state.range(0));
    zset_sl *zs = build(n);
    std::mt19937_64 rng(7);
    for (auto _ : state) {
        const std::string &m = members()[rng() % n];
        dict_entry *e = zsetsl_find(zs, m.data(), m.size());
        benchmark::DoNotOptimize(zsl_rank(zs->zsl, e->v.d, m.data(), m.size()));
    }
    zsetsl_free(zs);
}
BENCHMARK(BM_ZrankRandom)->Arg(1000000);

}  // namespace
