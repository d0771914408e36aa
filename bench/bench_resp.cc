// Micro-benchmarks for the RESP parser and reply writer (io/resp.c, io/reply.c).
#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>

extern "C" {
#include "io/buf.h"
#include "io/reply.h"
#include "io/resp.h"
}

namespace {

// 16 pipelined "SET key:000123 <32-byte value>" commands, parsed one by one.
void BM_ParseSetPipeline16(benchmark::State &state)
{
    std::string pipeline;
    const std::string value(32, 'v');
    for (int i = 0; i < 16; i++) {
        char key[16];
        snprintf(key, sizeof(key), "key:%06d", 123 + i);
        pipeline += "*3\r\n$3\r\nSET\r\n$10\r\n" + std::string(key) + "\r\n$32\r\n" + value + "\r\n";
    }
    resp_parser p;
    resp_parser_init(&p, 512LL * 1024 * 1024);
    resp_args args = {};
    for (auto _ : state) {
        size_t off = 0;
        int commands = 0;
        while (off < pipeline.size()) {
            size_t consumed = 0;
            const char *err = nullptr;
            int rc = resp_parse_command(&p, pipeline.data() + off, pipeline.size() - off, &args,
                                        &consumed, nullptr, &err);
            if (rc != RESP_COMMAND) {
                state.SkipWithError("parse failed");
                break;
            }
            off += consumed;
            commands++;
        }
        benchmark::DoNotOptimize(commands);
    }
    state.SetItemsProcessed(state.iterations() * 16);
    state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(pipeline.size()));
    resp_args_free(&args);
}
BENCHMARK(BM_ParseSetPipeline16);

void BM_ParseInlinePing(benchmark::State &state)
{
    const std::string ping = "PING\r\n";
    resp_parser p;
    resp_parser_init(&p, 512LL * 1024 * 1024);
    resp_args args = {};
    for (auto _ : state) {
        size_t consumed = 0;
        const char *err = nullptr;
        int rc = resp_parse_command(&p, ping.data(), ping.size(), &args, &consumed, nullptr, &err);
        benchmark::DoNotOptimize(rc);
    }
    state.SetItemsProcessed(state.iterations());
    resp_args_free(&args);
}
BENCHMARK(BM_ParseInlinePing);

void BM_ReplyBulkArray100(benchmark::State &state)
{
    rk_buf out;
    rk_buf_init(&out);
    rk_reply r = {&out, static_cast<int>(state.range(0))};
    const std::string element(16, 'e');
    for (auto _ : state) {
        rk_buf_clear(&out);
        reply_array(&r, 100);
        for (int i = 0; i < 100; i++)
            reply_bulk(&r, element.data(), element.size());
        benchmark::DoNotOptimize(out.data);
    }
    state.SetItemsProcessed(state.iterations() * 100);
    rk_buf_free(&out);
}
BENCHMARK(BM_ReplyBulkArray100)->Arg(2)->Arg(3);

} // namespace
