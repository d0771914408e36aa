// test_loop.cc: rk_loop over io_uring, io_uring with every fallback forced,
// and epoll: echo for many clients and a 4 MiB payload, on_close counts,
// wake, ticks, close-after-flush, read pause, max_conns.
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <future>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "io/buf.h"
#include "io/loop.h"
}

namespace {

using Clock = std::chrono::steady_clock;

struct Srv;

struct ConnUd {
    Srv *s;
    rk_conn *c;
};

const size_t kQuitReply = 1 << 20;  // bytes sent before "BYE\n" on QUIT

struct Srv {
    int lfd = -1;
    uint16_t port = 0;
    int wake_fd = -1;
    unsigned max_conns = 1000;
    int tick_ms = 10;
    rk_backend backend = RK_BACKEND_AUTO;
    const char *disable_env = nullptr;

    rk_loop *loop = nullptr;
    std::thread th;
    std::string backend_name, features, create_err;
    std::atomic<int> accepts{0}, closes{0}, wakes{0}, ticks{0}, local_ok{0}, run_rc{0};
    std::atomic<long> before_waits{0};
    // Loop thread only.
    std::vector<ConnUd *> paused;
    std::set<ConnUd *> live;  // freed here for conns destroy() drops silently
    int pause_ticks = 0;

    static void *OnAccept(void *loop_ud, rk_conn *c)
    {
        Srv *s = static_cast<Srv *>(loop_ud);
        s->accepts++;
        std::string want_local = "127.0.0.1:" + std::to_string(s->port);
        if (rk_conn_peer_is_local(c) && strncmp(rk_conn_peer(c), "127.0.0.1:", 10) == 0 &&
            want_local == rk_conn_local(c) && rk_conn_fd(c) >= 0)
            s->local_ok++;
        ConnUd *u = new ConnUd{s, c};
        s->live.insert(u);
        return u;
    }
    static void OnData(void *ud, const char *data, size_t len)
    {
        ConnUd *u = static_cast<ConnUd *>(ud);
        rk_conn *c = u->c;
        if (len == 5 && memcmp(data, "QUIT\n", 5) == 0) {
            rk_buf *out = rk_conn_out(c);
            ASSERT_EQ(rk_buf_reserve(out, kQuitReply + 4), 0);
            for (size_t i = 0; i < kQuitReply; i++)
                out->data[out->len + i] = (char)('a' + i % 26);
            out->len += kQuitReply;
            rk_buf_append(out, "BYE\n", 4);
            rk_conn_close(c, 1);
            rk_conn_close(c, 1);  // safe twice
            return;
        }
        if (len == 6 && memcmp(data, "PAUSE\n", 6) == 0) {
            rk_conn_pause_read(c, 1);
            u->s->paused.push_back(u);
            u->s->pause_ticks = 0;
            return;
        }
        ASSERT_EQ(rk_buf_append(rk_conn_out(c), data, len), 0);
    }
    static void OnClose(void *ud)
    {
        ConnUd *u = static_cast<ConnUd *>(ud);
        u->s->closes++;
        u->s->live.erase(u);
        for (auto it = u->s->paused.begin(); it != u->s->paused.end(); ++it)
            if (*it == u) {
                u->s->paused.erase(it);
                break;
            }
        delete u;
    }
    static void OnWake(void *loop_ud) { static_cast<Srv *>(loop_ud)->wakes++; }
    static void OnTick(void *loop_ud)
    {
        Srv *s = static_cast<Srv *>(loop_ud);
        s->ticks++;
        if (!s->paused.empty() && ++s->pause_ticks >= 20) {
            for (ConnUd *u : s->paused)
                rk_conn_pause_read(u->c, 0);
            s->paused.clear();
        }
    }
    static void BeforeWait(void *loop_ud) { static_cast<Srv *>(loop_ud)->before_waits++; }

    bool Start()
    {
        lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (lfd < 0)
            return false;
        int one = 1;
        setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        if (bind(lfd, (sockaddr *)&a, sizeof a) != 0 || listen(lfd, 256) != 0)
            return false;
        socklen_t al = sizeof a;
        getsockname(lfd, (sockaddr *)&a, &al);
        port = ntohs(a.sin_port);
        wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        if (wake_fd < 0)
            return false;

        if (disable_env)
            setenv("RK_URING_DISABLE", disable_env, 1);
        std::promise<bool> ready;
        auto fut = ready.get_future();
        // The loop is created on the thread that runs it (its owner).
        th = std::thread([this, &ready] {
            rk_loop_config cfg;
            memset(&cfg, 0, sizeof cfg);
            cfg.backend = backend;
            cfg.listen_fds[0] = lfd;
            cfg.n_listen_fds = 1;
            cfg.wake_fd = wake_fd;
            cfg.tick_ms = tick_ms;
            cfg.max_conns = max_conns;
            cfg.ud = this;
            cfg.h.on_accept = OnAccept;
            cfg.h.on_data = OnData;
            cfg.h.on_close = OnClose;
            cfg.h.on_wake = OnWake;
            cfg.h.on_tick = OnTick;
            cfg.h.before_wait = BeforeWait;
            char err[256] = "";
            loop = rk_loop_create(&cfg, err, sizeof err);
            if (!loop) {
                create_err = err;
                ready.set_value(false);
                return;
            }
            backend_name = rk_loop_backend_name(loop);
            features = rk_loop_features(loop);
            ready.set_value(true);
            run_rc = rk_loop_run(loop);
            rk_loop_destroy(loop);  // live conns: freed without on_close
        });
        bool ok = fut.get();
        if (disable_env)
            unsetenv("RK_URING_DISABLE");
        return ok;
    }

    void Stop()
    {
        if (th.joinable()) {
            // loop is set before ready, and destroyed only after run returns.
            rk_loop_stop(loop);
            th.join();
        }
        for (ConnUd *u : live)
            delete u;
        live.clear();
        if (lfd >= 0)
            close(lfd);
        if (wake_fd >= 0)
            close(wake_fd);
        lfd = wake_fd = -1;
    }
    ~Srv() { Stop(); }
};

bool WaitFor(const std::function<bool()> &pred, int ms = 5000)
{
    auto end = Clock::now() + std::chrono::milliseconds(ms);
    while (Clock::now() < end) {
        if (pred())
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return pred();
}

int Connect(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons(port);
    if (connect(fd, (sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

bool SendAll(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

// Reads until n bytes, EOF, error or timeout. Returns what was read; *eof
// tells whether the peer closed (EOF or reset).
std::string Recv(int fd, size_t n, int timeout_ms, bool *eof = nullptr)
{
    std::string out;
    std::vector<char> buf(1 << 16);
    auto end = Clock::now() + std::chrono::milliseconds(timeout_ms);
    if (eof)
        *eof = false;
    while (out.size() < n) {
        int left = (int)std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
        if (left <= 0)
            break;
        pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, left) <= 0)
            continue;
        ssize_t r = recv(fd, buf.data(), std::min(buf.size(), n - out.size()), 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (eof)
                *eof = true;
            break;
        }
        out.append(buf.data(), (size_t)r);
    }
    return out;
}

struct Mode {
    const char *name;
    rk_backend backend;
    const char *disable;  // RK_URING_DISABLE while the loop is created
};

class LoopTest : public ::testing::TestWithParam<Mode> {
protected:
    void SetUp() override
    {
        srv.backend = GetParam().backend;
        srv.disable_env = GetParam().disable;
    }
    bool StartOrSkip()
    {
        if (!srv.Start()) {
            if (srv.backend == RK_BACKEND_IO_URING)
                ADD_FAILURE() << "io_uring unavailable here: " << srv.create_err;
            return false;
        }
        return true;
    }
    Srv srv;
};

TEST_P(LoopTest, BackendAndFeatures)
{
    ASSERT_TRUE(StartOrSkip());
    std::string want = GetParam().backend == RK_BACKEND_EPOLL ? "epoll" : "io_uring";
    EXPECT_EQ(srv.backend_name, want);
    EXPECT_FALSE(srv.features.empty());
    printf("[ features ] %s\n", srv.features.c_str());
    if (GetParam().disable) {
        EXPECT_NE(srv.features.find("accept=re-armed"), std::string::npos) << srv.features;
        EXPECT_NE(srv.features.find("recv=plain"), std::string::npos) << srv.features;
        EXPECT_EQ(srv.features.find("DEFER_TASKRUN"), std::string::npos) << srv.features;
    }
}

TEST_P(LoopTest, EchoFiftyClientsAndBigPayload)
{
    ASSERT_TRUE(StartOrSkip());
    const int kClients = 50;
    std::vector<int> fds;
    for (int i = 0; i < kClients; i++) {
        int fd = Connect(srv.port);
        ASSERT_GE(fd, 0);
        fds.push_back(fd);
    }
    std::mt19937 rng(42);
    for (int round = 0; round < 3; round++) {
        std::vector<std::string> sent(kClients);
        for (int i = 0; i < kClients; i++) {
            sent[i] = "c" + std::to_string(i) + "r" + std::to_string(round) + ":" +
                      std::string(1 + rng() % 3000, (char)('a' + i % 26));
            ASSERT_TRUE(SendAll(fds[i], sent[i].data(), sent[i].size()));
        }
        for (int i = 0; i < kClients; i++)
            ASSERT_EQ(Recv(fds[i], sent[i].size(), 5000), sent[i]) << "client " << i;
    }
    EXPECT_EQ(srv.accepts.load(), kClients);
    EXPECT_EQ(srv.local_ok.load(), kClients);

    // 4 MiB through one connection while reading concurrently: exercises
    // partial sends, buffer-ring exhaustion/recycling and EPOLLOUT.
    std::string big(4u << 20, 'x');
    for (auto &ch : big)
        ch = (char)('a' + rng() % 26);
    std::thread writer([&] { EXPECT_TRUE(SendAll(fds[7], big.data(), big.size())); });
    std::string got = Recv(fds[7], big.size(), 20000);
    writer.join();
    ASSERT_EQ(got.size(), big.size());
    EXPECT_TRUE(got == big);

    for (int fd : fds)
        close(fd);
    EXPECT_TRUE(WaitFor([&] { return srv.closes.load() == kClients; }))
        << "closes=" << srv.closes.load();
    EXPECT_EQ(srv.closes.load(), kClients);
    EXPECT_GT(srv.before_waits.load(), 0);
    srv.Stop();
    EXPECT_EQ(srv.run_rc.load(), 0);
    EXPECT_EQ(srv.closes.load(), kClients);  // no extra on_close at destroy
}

TEST_P(LoopTest, WakeAndTicks)
{
    ASSERT_TRUE(StartOrSkip());
    int before = srv.wakes.load();
    uint64_t one = 1;
    ASSERT_EQ(write(srv.wake_fd, &one, sizeof one), (ssize_t)sizeof one);
    EXPECT_TRUE(WaitFor([&] { return srv.wakes.load() > before; }, 2000));
    ASSERT_EQ(write(srv.wake_fd, &one, sizeof one), (ssize_t)sizeof one);
    EXPECT_TRUE(WaitFor([&] { return srv.wakes.load() > before + 1; }, 2000));
    // The loop drained the eventfd.
    EXPECT_TRUE(WaitFor([&] {
        uint64_t v;
        return read(srv.wake_fd, &v, sizeof v) < 0 && errno == EAGAIN;
    }));

    int t0 = srv.ticks.load();
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    int t = srv.ticks.load() - t0;
    EXPECT_GE(t, 10);   // 10 ms ticks: ~30 expected
    EXPECT_LE(t, 60);
}

TEST_P(LoopTest, CloseAfterFlushDeliversPending)
{
    ASSERT_TRUE(StartOrSkip());
    for (int k = 0; k < 3; k++) {
        int fd = Connect(srv.port);
        ASSERT_GE(fd, 0);
        ASSERT_TRUE(SendAll(fd, "QUIT\n", 5));
        bool eof = false;
        std::string got = Recv(fd, kQuitReply + 4 + 1, 10000, &eof);
        EXPECT_TRUE(eof);
        ASSERT_EQ(got.size(), kQuitReply + 4);
        EXPECT_EQ(got.substr(kQuitReply), "BYE\n");
        EXPECT_EQ(got[kQuitReply - 1], (char)('a' + (kQuitReply - 1) % 26));
        close(fd);
    }
    EXPECT_TRUE(WaitFor([&] { return srv.closes.load() == 3; }));
    EXPECT_EQ(srv.accepts.load(), 3);
}

TEST_P(LoopTest, PauseReadHoldsDataUntilResume)
{
    ASSERT_TRUE(StartOrSkip());
    int fd = Connect(srv.port);
    ASSERT_GE(fd, 0);
    ASSERT_TRUE(SendAll(fd, "PAUSE\n", 6));
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    ASSERT_TRUE(SendAll(fd, "hello", 5));
    // Resumed after 20 ticks (~200 ms): nothing comes back before that.
    EXPECT_EQ(Recv(fd, 5, 80), "");
    EXPECT_EQ(Recv(fd, 5, 3000), "hello");
    // Left open on purpose: destroy frees live conns without on_close.
    srv.Stop();
    EXPECT_EQ(srv.closes.load(), 0);
    close(fd);
}

TEST_P(LoopTest, MaxConnsRefusesExtra)
{
    srv.max_conns = 5;
    ASSERT_TRUE(StartOrSkip());
    std::vector<int> fds;
    for (int i = 0; i < 8; i++) {
        int fd = Connect(srv.port);
        ASSERT_GE(fd, 0);
        fds.push_back(fd);
        // Accept in order, so the first five are the live ones.
        WaitFor([&] { return srv.accepts.load() >= std::min(i + 1, 5); }, 1000);
    }
    int echoed = 0, closed = 0;
    for (int fd : fds) {
        bool eof = false;
        if (!SendAll(fd, "x", 1)) {
            closed++;
            continue;
        }
        std::string r = Recv(fd, 1, 2000, &eof);
        if (r == "x")
            echoed++;
        else if (eof)
            closed++;
    }
    EXPECT_EQ(echoed, 5);
    EXPECT_EQ(closed, 3);
    EXPECT_EQ(srv.accepts.load(), 5);
    for (int fd : fds)
        close(fd);
    EXPECT_TRUE(WaitFor([&] { return srv.closes.load() == 5; }));
}

INSTANTIATE_TEST_SUITE_P(
    Backends, LoopTest,
    ::testing::Values(Mode{"io_uring", RK_BACKEND_IO_URING, nullptr},
                      Mode{"io_uring_fallbacks", RK_BACKEND_IO_URING,
                           "multishot_accept,multishot_recv,multishot_timer,multishot_poll,"
                           "defer_taskrun,coop_taskrun"},
                      Mode{"epoll", RK_BACKEND_EPOLL, nullptr}),
    [](const ::testing::TestParamInfo<Mode> &i) { return std::string(i.param.name); });

TEST(LoopAuto, FallsBackToEpollWithReason)
{
    Srv s;
    s.backend = RK_BACKEND_AUTO;
    s.disable_env = "uring";
    ASSERT_TRUE(s.Start());
    EXPECT_EQ(s.backend_name, "epoll");
    EXPECT_NE(s.features.find("io_uring unavailable: disabled by RK_URING_DISABLE"),
              std::string::npos)
        << s.features;
}

TEST(LoopAuto, PrefersIoUring)
{
    Srv s;
    ASSERT_TRUE(s.Start());
    EXPECT_EQ(s.backend_name, "io_uring") << s.features;
}

TEST(LoopConfig, RejectsBadConfig)
{
    rk_loop_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.wake_fd = -1;
    cfg.tick_ms = 0;
    cfg.max_conns = 10;
    char err[128] = "";
    EXPECT_EQ(rk_loop_create(&cfg, err, sizeof err), nullptr);
    EXPECT_NE(err[0], '\0');
}

}  // namespace
