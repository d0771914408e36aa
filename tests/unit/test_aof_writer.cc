// test_aof_writer.cc: the per-shard AOF segment writer on a real loop (both
// backends): journal bytes land in the file in order across many
// iterations; appendfsync always holds an iteration's replies until the
// fsync completed (and everysec does not); #TS annotations; a switch at a
// cut; waiters; a write error (RLIMIT_FSIZE -> EFBIG) refuses writes, keeps
// the bytes, retries and resumes with the file complete.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <fstream>
#include <functional>
#include <future>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "core/journal.h"
#include "core/shard.h"
#include "io/loop.h"
#include "storage/aof_writer.h"
}

namespace {

struct TmpDir {
    std::string path;
    TmpDir()
    {
        char t[] = "/tmp/rk-aofw-XXXXXX";
        path = mkdtemp(t);
    }
    ~TmpDir() { (void)system(("rm -rf " + path).c_str()); }
};

std::string ReadFile(const std::string &p)
{
    std::ifstream f(p, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

// The stream without its "#TS:<seconds>\r\n" annotations.
std::string StripTs(const std::string &f)
{
    std::string out;
    size_t i = 0;
    while (i < f.size()) {
        if (f.compare(i, 4, "#TS:") == 0) {
            i = f.find("\r\n", i) + 2;
            continue;
        }
        size_t next = f.find("#TS:", i);
        if (next == std::string::npos)
            next = f.size();
        out.append(f, i, next - i);
        i = next;
    }
    return out;
}

bool WaitFor(const std::function<bool()> &pred, int ms)
{
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (std::chrono::steady_clock::now() < end) {
        if (pred())
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return pred();
}

// A shard with a journal, a loop over `backend`, the writer's hooks, and
// one "server" behaviour for connections: every line received is journaled
// as SET k<line> v and answered "+OK\r\n".
struct Harness {
    rk_shard *s = nullptr;
    rk_journal journal;
    int wake_fd = -1, lfd = -1;
    uint16_t port = 0;
    std::thread th;
    std::mutex mu;
    std::vector<std::function<void()>> tasks;
    // Loop thread: set in before_wait after the writer ran.
    std::atomic<long> replies_seen{0}, replies_held{0};
    std::vector<rk_conn *> conns;
    bool replied_this_iteration = false;
    int debug_id = -1;
    std::string expected;  // every journal byte (a DEBUG-style consumer)

    explicit Harness(rk_backend backend)
    {
        s = static_cast<rk_shard *>(calloc(1, sizeof(rk_shard)));
        s->id = 0;
        s->cfg.appendfsync = AOF_FSYNC_ALWAYS;
        s->cfg.hz = 10;
        journal_init(&journal, 0);
        s->journal = &journal;
        wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bind(lfd, (sockaddr *)&a, sizeof a);
        socklen_t al = sizeof a;
        getsockname(lfd, (sockaddr *)&a, &al);
        port = ntohs(a.sin_port);
        listen(lfd, 64);
        rk_loop_config cfg{};
        cfg.backend = backend;
        cfg.listen_fds[0] = lfd;
        cfg.n_listen_fds = 1;
        cfg.wake_fd = wake_fd;
        cfg.tick_ms = 100;
        cfg.max_conns = 64;
        cfg.ud = this;
        cfg.h.on_accept = [](void *ud, rk_conn *c) -> void * {
            Harness *h = static_cast<Harness *>(ud);
            h->conns.push_back(c);
            return new std::pair<Harness *, rk_conn *>(h, c);
        };
        cfg.h.on_data = [](void *ud, const char *d, size_t n) {
            auto *p = static_cast<std::pair<Harness *, rk_conn *> *>(ud);
            for (size_t i = 0; i < n; i++) {
                if (d[i] != '\n')
                    continue;
                p->first->SetKey("k" + std::to_string(p->first->replies_seen.load()));
                rk_buf_append(rk_conn_out(p->second), "+OK\r\n", 5);
                p->first->replied_this_iteration = true;
            }
        };
        cfg.h.on_close = [](void *ud) { delete static_cast<std::pair<Harness *, rk_conn *> *>(ud); };
        cfg.h.on_wake = [](void *ud) {
            Harness *h = static_cast<Harness *>(ud);
            std::vector<std::function<void()>> run;
            {
                std::lock_guard<std::mutex> g(h->mu);
                run.swap(h->tasks);
            }
            for (auto &f : run)
                f();
        };
        cfg.h.on_tick = [](void *ud) { aof_writer_on_tick(static_cast<Harness *>(ud)->s); };
        cfg.h.before_wait = [](void *ud) {
            Harness *h = static_cast<Harness *>(ud);
            aof_writer_before_wait(h->s);
            if (h->replied_this_iteration) {
                h->replied_this_iteration = false;
                h->replies_seen++;
                for (rk_conn *c : h->conns)
                    if (rk_conn_held(c) > 0)
                        h->replies_held++;
            }
        };
        char err[256];
        s->loop = rk_loop_create(&cfg, err, sizeof err);
    }
    bool ok() const { return s->loop != nullptr; }
    void Start()
    {
        th = std::thread([this] { rk_loop_run(s->loop); });
    }
    void OnLoop(const std::function<void()> &fn)
    {
        std::promise<void> done;
        {
            std::lock_guard<std::mutex> g(mu);
            tasks.push_back([&] {
                fn();
                done.set_value();
            });
        }
        uint64_t one = 1;
        (void)!write(wake_fd, &one, sizeof one);
        done.get_future().wait();
    }
    // Loop thread: journal one command and keep a copy of the stream.
    void SetKey(const std::string &k, const std::string &v = "v")
    {
        rk_slice argv[3] = {{"SET", 3}, {k.data(), k.size()}, {v.data(), v.size()}};
        ASSERT_EQ(journal_append_argv(&journal, 0, 3, argv), 0);
        TakeExpected();
    }
    void TakeExpected()
    {
        rk_buf b;
        rk_buf_init(&b);
        ASSERT_EQ(journal_debug_take(&journal, &b), 0);
        expected.append(b.data ? b.data : "", b.len);
        rk_buf_free(&b);
    }
    ~Harness()
    {
        if (s->loop) {
            OnLoop([&] { aof_writer_close(s); });
            rk_loop_stop(s->loop);
            th.join();
            rk_loop_destroy(s->loop);
        }
        journal_free(&journal);
        close(wake_fd);
        close(lfd);
        free(s);
    }
};

class AofWriterTest : public ::testing::TestWithParam<rk_backend> {};

// Opens the writer and the expected-stream consumer (registered first, so
// the writer's forced SELECT shows in both).
void OpenWriter(Harness &h, const std::string &dir, const std::string &name, uint64_t start = 0)
{
    h.OnLoop([&] {
        rk_buf b;
        rk_buf_init(&b);
        if (h.expected.empty())
            journal_debug_take(&h.journal, &b);  // registers
        rk_buf_free(&b);
        char err[256] = "";
        ASSERT_EQ(aof_writer_open(h.s, dir.c_str(), name.c_str(), start, err, sizeof err), 0) << err;
    });
}

TEST_P(AofWriterTest, BytesLandInOrderOverManyIterations)
{
    Harness h(GetParam());
    if (!h.ok())
        GTEST_SKIP() << "backend unavailable";
    h.s->cfg.appendfsync = AOF_FSYNC_EVERYSEC;
    TmpDir d;
    h.Start();
    OpenWriter(h, d.path, "a.incr.aof", 100);
    for (int it = 0; it < 300; it++)
        h.OnLoop([&] {
            for (int k = 0; k < 1 + it % 7; k++)
                h.SetKey("key:" + std::to_string(it) + ":" + std::to_string(k), std::string(it, 'x'));
        });
    aof_writer_info info{};
    ASSERT_TRUE(WaitFor([&] {
        h.OnLoop([&] { aof_writer_get_info(h.s, &info); });
        return info.pos == 100 + h.expected.size() && info.buffered == 0;
    }, 5000));
    EXPECT_EQ(info.file_start, 100u);
    EXPECT_EQ(ReadFile(d.path + "/a.incr.aof"), h.expected);
    EXPECT_EQ(h.expected.compare(0, 23, "*2\r\n$6\r\nSELECT\r\n$1\r\n0\r\n"), 0);
    // everysec: the timer fsync covers everything within about a second.
    ASSERT_TRUE(WaitFor([&] {
        h.OnLoop([&] { aof_writer_get_info(h.s, &info); });
        return info.durable_pos == info.pos;
    }, 3000));
    EXPECT_EQ(h.replies_held.load(), 0);
}

TEST_P(AofWriterTest, AlwaysHoldsRepliesUntilTheFsyncAndEverysecDoesNot)
{
    Harness h(GetParam());
    if (!h.ok())
        GTEST_SKIP() << "backend unavailable";
    TmpDir d;
    h.Start();
    OpenWriter(h, d.path, "b.aof");
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(h.port);
    ASSERT_EQ(connect(fd, (sockaddr *)&a, sizeof a), 0);
    auto roundtrip = [&](int n) {
        std::string req(n, '\n');
        ASSERT_EQ(write(fd, req.data(), req.size()), (ssize_t)req.size());
        std::string got;
        char buf[4096];
        while (got.size() < 5u * n) {
            ssize_t r = read(fd, buf, sizeof buf);
            ASSERT_GT(r, 0);
            got.append(buf, (size_t)r);
        }
        // Every reply is covered by a completed fsync when it arrives.
        aof_writer_info info{};
        h.OnLoop([&] { aof_writer_get_info(h.s, &info); });
        if (h.s->cfg.appendfsync == AOF_FSYNC_ALWAYS) {
            EXPECT_EQ(info.durable_pos, h.expected.size());
        }
    };
    for (int i = 0; i < 50; i++)
        roundtrip(1 + i % 5);
    long seen = h.replies_seen.load(), held = h.replies_held.load();
    EXPECT_GT(seen, 0);
    EXPECT_EQ(held, seen);  // every replying iteration was gated
    EXPECT_EQ(ReadFile(d.path + "/b.aof"), h.expected);

    h.OnLoop([&] { h.s->cfg.appendfsync = AOF_FSYNC_EVERYSEC; });
    // The gated period ends (one last barrier released at once), then
    // replies go ungated.
    roundtrip(1);
    long held_before = h.replies_held.load(), seen_before = h.replies_seen.load();
    for (int i = 0; i < 20; i++)
        roundtrip(1);
    EXPECT_EQ(h.replies_held.load(), held_before);
    EXPECT_EQ(h.replies_seen.load() - seen_before, 20);
    close(fd);
}

TEST_P(AofWriterTest, TimestampsSwitchAndWaiters)
{
    Harness h(GetParam());
    if (!h.ok())
        GTEST_SKIP() << "backend unavailable";
    h.s->cfg.appendfsync = AOF_FSYNC_NO;
    h.s->cfg.aof_timestamp_enabled = 1;
    TmpDir d;
    h.Start();
    OpenWriter(h, d.path, "c1.aof");
    std::atomic<int> fired{0};
    h.OnLoop([&] {
        h.SetKey("a");
        // Waits for a real fsync even under appendfsync no.
        ASSERT_EQ(aof_writer_when_durable(h.s, [](rk_shard *, void *ud) { (*(std::atomic<int> *)ud)++; },
                                          &fired),
                  0);
        EXPECT_EQ(fired.load(), 0);
    });
    ASSERT_TRUE(WaitFor([&] { return fired.load() == 1; }, 3000));
    std::string first_part = h.expected;
    uint64_t cut = 0;
    h.OnLoop([&] {
        h.SetKey("b");
        first_part = h.expected;
        char err[256];
        ASSERT_EQ(aof_writer_switch(h.s, "c2.aof", &cut, err, sizeof err), 0) << err;
        h.SetKey("c");
    });
    h.OnLoop([&] {
        // Nothing pending beyond the switch? the waiter fires at once when covered.
        aof_writer_info info{};
        aof_writer_get_info(h.s, &info);
        EXPECT_EQ(info.file_start, cut);
    });
    ASSERT_TRUE(WaitFor([&] {
        std::string f1 = ReadFile(d.path + "/c1.aof"), f2 = ReadFile(d.path + "/c2.aof");
        return !f2.empty() && f1.size() == cut;
    }, 3000));
    std::string f1 = ReadFile(d.path + "/c1.aof"), f2 = ReadFile(d.path + "/c2.aof");
    // c1: "#TS:<now>\r\n" then the commands; c2 starts with its own TS and a SELECT.
    ASSERT_EQ(f1.compare(0, 4, "#TS:"), 0);
    EXPECT_EQ(StripTs(f1), first_part);
    ASSERT_EQ(f2.compare(0, 4, "#TS:"), 0);
    std::string c2_cmds = StripTs(f2);
    EXPECT_EQ(c2_cmds.compare(0, 14, "*2\r\n$6\r\nSELECT"), 0);
    EXPECT_NE(c2_cmds.find("$1\r\nc\r\n"), std::string::npos);
}

TEST_P(AofWriterTest, WriteErrorRefusesRetriesAndResumes)
{
    Harness h(GetParam());
    if (!h.ok())
        GTEST_SKIP() << "backend unavailable";
    h.s->cfg.appendfsync = AOF_FSYNC_ALWAYS;
    TmpDir d;
    struct sigaction ign = {}, old_sa = {};
    ign.sa_handler = SIG_IGN;
    ASSERT_EQ(sigaction(SIGXFSZ, &ign, &old_sa), 0);
    rlimit old_rl;
    ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_rl), 0);
    h.Start();
    OpenWriter(h, d.path, "e.aof");
    h.OnLoop([&] { h.SetKey("before", std::string(1000, 'b')); });
    aof_writer_info info{};
    ASSERT_TRUE(WaitFor([&] {
        h.OnLoop([&] { aof_writer_get_info(h.s, &info); });
        return info.durable_pos == h.expected.size();
    }, 3000));
    rlimit rl = old_rl;
    rl.rlim_cur = 4096;
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &rl), 0);
    std::atomic<int> fired{0};
    h.OnLoop([&] {
        h.SetKey("big", std::string(10000, 'x'));
        aof_writer_when_durable(h.s, [](rk_shard *, void *ud) { (*(std::atomic<int> *)ud)++; }, &fired);
    });
    char msg[200] = "";
    bool refused = WaitFor([&] {
        int r = 0;
        h.OnLoop([&] { r = aof_writer_refuses_writes(h.s, msg, sizeof msg); });
        return r != 0;
    }, 3000);
    EXPECT_TRUE(refused);
    EXPECT_STREQ(msg, "MISCONF Errors writing to the AOF file: File too large");
    h.OnLoop([&] {
        aof_writer_get_info(h.s, &info);
        h.SetKey("during", "d");  // journaled while failing: kept too
    });
    EXPECT_EQ(info.write_error, EFBIG);
    EXPECT_EQ(fired.load(), 0);
    // The file was cut back to the last good size (after a retry at least).
    std::this_thread::sleep_for(std::chrono::milliseconds(1300));
    struct stat st;
    ASSERT_EQ(stat((d.path + "/e.aof").c_str(), &st), 0);
    EXPECT_LE((size_t)st.st_size, 4096u);
    EXPECT_EQ(fired.load(), 0);
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &old_rl), 0);
    ASSERT_TRUE(WaitFor([&] {
        int r = 1;
        h.OnLoop([&] { r = aof_writer_refuses_writes(h.s, msg, sizeof msg); });
        return r == 0 && fired.load() == 1;
    }, 4000));
    ASSERT_TRUE(WaitFor([&] {
        h.OnLoop([&] { aof_writer_get_info(h.s, &info); });
        return info.durable_pos == h.expected.size();
    }, 3000));
    EXPECT_EQ(info.write_error, 0);
    EXPECT_EQ(ReadFile(d.path + "/e.aof"), h.expected);
    sigaction(SIGXFSZ, &old_sa, nullptr);
}

INSTANTIATE_TEST_SUITE_P(Backends, AofWriterTest,
                         ::testing::Values(RK_BACKEND_IO_URING, RK_BACKEND_EPOLL),
                         [](const ::testing::TestParamInfo<rk_backend> &i) {
                             return std::string(i.param == RK_BACKEND_IO_URING ? "io_uring" : "epoll");
                         });

}  // namespace
