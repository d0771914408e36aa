// Micro-benchmarks for core/t_set.c: SADD of integers (kept in the CRoaring
// bitmap, the intset encoding) against SADD of strings (the hashtable
// encoding), plus SISMEMBER on the resulting sets. Each command runs through
// its real proc on one database, as a shard would run it, minus the network.
#include <benchmark/benchmark.h>

#include <cstring>
#include <string>
#include <vector>

// shard.h reaches io/mailbox.h, which uses C11 atomics that C++17 lacks; only
// rk_shard's layout matters here (see tests/unit/test_db.cc).
#include <atomic>
#define _STDATOMIC_H
#define _Atomic(T) std::atomic<T>
using atomic_int = std::atomic<int>;

extern "C" {
#include "core/alloc.h"
#include "core/command.h"
#include "core/db.h"
#include "core/object.h"
#include "core/shard.h"
}

namespace {

const rk_command *find(const char *name)
{
    for (const rk_command *c = rk_set_commands; c->name; c++)
        if (strcmp(c->name, name) == 0)
            return c;
    return nullptr;
}

// One database and a reusable reply buffer; runs "<cmd> key member".
struct Runner {
    rk_shard shard;
    rk_db db;
    rk_buf out;

    Runner()
    {
        rk_alloc_thread_init();
        memset(static_cast<void *>(&shard), 0, sizeof shard);
        shard.cfg.databases = 1;
        // Large enough that every integer set stays a bitmap.
        shard.cfg.set_max_intset_entries = 1LL << 30;
        db_init(&db, 0);
        rk_buf_init(&out);
    }
    ~Runner()
    {
        rk_buf_free(&out);
        db_release(&db);
    }

    void run(const rk_command *cmd, const std::string &member)
    {
        rk_slice argv[3] = {{cmd->name, strlen(cmd->name)}, {"s", 1}, {member.data(), member.size()}};
        rk_ctx c;
        memset(static_cast<void *>(&c), 0, sizeof c);
        c.shard = &shard;
        c.db = &db;
        c.resp = 2;
        c.argc = 3;
        c.argv = argv;
        c.cmd = cmd;
        c.r = rk_reply{&out, 2};
        cmd->proc(&c);
        rk_buf_clear(&out);
    }
};

std::vector<std::string> members(bool integers, size_t n)
{
    std::vector<std::string> v;
    v.reserve(n);
    for (size_t i = 0; i < n; i++)
        v.push_back(integers ? std::to_string(i * 7) : "member:" + std::to_string(i));
    return v;
}

void sadd_bench(benchmark::State &state, bool integers)
{
    const size_t n = static_cast<size_t>(state.range(0));
    const std::vector<std::string> v = members(integers, n);
    const rk_command *sadd = find("sadd");
    Runner r;
    for (auto _ : state) {
        for (const std::string &m : v)
            r.run(sadd, m);
        state.PauseTiming();
        db_delete(&r.shard, &r.db, rk_slice{"s", 1});
        state.ResumeTiming();
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * n));
}

void sismember_bench(benchmark::State &state, bool integers)
{
    const size_t n = static_cast<size_t>(state.range(0));
    const std::vector<std::string> v = members(integers, n);
    Runner r;
    for (const std::string &m : v)
        r.run(find("sadd"), m);
    const rk_command *sismember = find("sismember");
    size_t i = 0;
    for (auto _ : state) {
        r.run(sismember, v[i]);
        i = i + 1 == n ? 0 : i + 1;
    }
    state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void BM_SetSaddIntsBitmap(benchmark::State &state) { sadd_bench(state, true); }
void BM_SetSaddStringsHashtable(benchmark::State &state) { sadd_bench(state, false); }
void BM_SetSismemberIntsBitmap(benchmark::State &state) { sismember_bench(state, true); }
void BM_SetSismemberStringsHashtable(benchmark::State &state) { sismember_bench(state, false); }

BENCHMARK(BM_SetSaddIntsBitmap)->Arg(512)->Arg(100000);
BENCHMARK(BM_SetSaddStringsHashtable)->Arg(512)->Arg(100000);
BENCHMARK(BM_SetSismemberIntsBitmap)->Arg(100000);
BENCHMARK(BM_SetSismemberStringsHashtable)->Arg(100000);

}  // namespace
