// test_loop.cc: rk_loop over io_uring, io_uring with every fallback forced,
// and epoll: echo for many clients and a 4 MiB payload, on_close counts,
// wake, ticks, close-after-flush, read pause, max_conns; file writes with
// fdatasync (order, errors) and the group-commit output gate; adopting a
// socket (socketpair, TCP) on a loop without listeners, giving one away with
// rk_conn_take_fd (and adopting it on a second loop).
#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdlib.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <future>
#include <map>
#include <mutex>
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
    std::string name;  // set by "NAME x\n"
    bool sink = false; // "PAUSESINK\n": pause, then count input without echoing it
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
    bool with_listener = true;  // false: a loop with n_listen_fds == 0 (the repl thread's kind)

    rk_loop *loop = nullptr;
    std::thread th;
    std::string backend_name, features, create_err;
    std::atomic<int> accepts{0}, closes{0}, wakes{0}, ticks{0}, local_ok{0}, run_rc{0};
    std::atomic<long> before_waits{0};
    std::atomic<size_t> bytes_in{0};
    // Loop thread only.
    std::vector<ConnUd *> paused;
    std::set<ConnUd *> live;  // freed here for conns destroy() drops silently
    int pause_ticks = 0;
    // Group-commit mode: before_wait takes a barrier when data arrived in
    // the iteration; last_ticket is the newest one.
    bool auto_barrier = false;
    bool data_seen = false;
    std::atomic<uint64_t> last_ticket{0};
    std::map<std::string, ConnUd *> names;
    // "TAKE\n" from a client: rk_conn_take_fd from inside on_data; the fds
    // (or -errno) land here.
    std::mutex take_mu;
    std::vector<int> taken;
    // Tasks run on the loop thread (from on_wake).
    std::mutex tmu;
    std::vector<std::function<void()>> tasks;

    // Runs fn on the loop thread and waits for it.
    void OnLoop(const std::function<void()> &fn)
    {
        std::promise<void> done;
        {
            std::lock_guard<std::mutex> g(tmu);
            tasks.push_back([&] {
                fn();
                done.set_value();
            });
        }
        uint64_t one = 1;
        ASSERT_EQ(write(wake_fd, &one, sizeof one), (ssize_t)sizeof one);
        done.get_future().wait();
    }
    rk_conn *Named(const std::string &n)
    {
        auto it = names.find(n);
        return it == names.end() ? nullptr : it->second->c;
    }

    static void *OnAccept(void *loop_ud, rk_conn *c)
    {
        Srv *s = static_cast<Srv *>(loop_ud);
        s->accepts++;
        std::string want_local = "127.0.0.1:" + std::to_string(s->port);
        if (rk_conn_peer_is_local(c) && strncmp(rk_conn_peer(c), "127.0.0.1:", 10) == 0 &&
            want_local == rk_conn_local(c) && rk_conn_fd(c) >= 0)
            s->local_ok++;
        ConnUd *u = new ConnUd{s, c, std::string()};
        s->live.insert(u);
        return u;
    }
    static void OnData(void *ud, const char *data, size_t len)
    {
        ConnUd *u = static_cast<ConnUd *>(ud);
        rk_conn *c = u->c;
        u->s->bytes_in += len;
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
        if (len > 5 && memcmp(data, "NAME ", 5) == 0 && data[len - 1] == '\n') {
            u->name.assign(data + 5, len - 6);
            u->s->names[u->name] = u;
            return;
        }
        u->s->data_seen = true;
        if (len == 5 && memcmp(data, "TAKE\n", 5) == 0) {
            EXPECT_EQ(rk_conn_unsent(c), 0u);
            int fd = rk_conn_take_fd(c);
            std::lock_guard<std::mutex> g(u->s->take_mu);
            u->s->taken.push_back(fd >= 0 ? fd : -errno);
            return;
        }
        if (u->sink)
            return;
        if (len == 10 && memcmp(data, "PAUSESINK\n", 10) == 0)
            u->sink = true;
        if ((len == 6 && memcmp(data, "PAUSE\n", 6) == 0) || u->sink) {
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
        if (!u->name.empty())
            u->s->names.erase(u->name);
        for (auto it = u->s->paused.begin(); it != u->s->paused.end(); ++it)
            if (*it == u) {
                u->s->paused.erase(it);
                break;
            }
        delete u;
    }
    static void OnWake(void *loop_ud)
    {
        Srv *s = static_cast<Srv *>(loop_ud);
        s->wakes++;
        std::vector<std::function<void()>> run;
        {
            std::lock_guard<std::mutex> g(s->tmu);
            run.swap(s->tasks);
        }
        for (auto &f : run)
            f();
    }
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
    static void BeforeWait(void *loop_ud)
    {
        Srv *s = static_cast<Srv *>(loop_ud);
        s->before_waits++;
        if (s->auto_barrier && s->data_seen) {
            uint64_t t = rk_loop_output_barrier(s->loop);
            EXPECT_NE(t, 0u);
            EXPECT_GT(t, s->last_ticket.load());
            s->last_ticket = t;
        }
        s->data_seen = false;
    }

    bool Start()
    {
        if (with_listener)
            return StartListening();
        return Spawn();
    }
    bool StartListening()
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
        return Spawn();
    }
    bool Spawn()
    {
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
            cfg.n_listen_fds = lfd >= 0 ? 1 : 0;
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
        for (int fd : taken)
            if (fd >= 0)
                close(fd);
        taken.clear();
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
        EXPECT_NE(srv.features.find("take_fd=async-cancel"), std::string::npos) << srv.features;
    } else if (GetParam().backend == RK_BACKEND_IO_URING) {
        EXPECT_NE(srv.features.find("take_fd=sync-cancel"), std::string::npos) << srv.features;
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

// ---- adopting a socket, giving one away ----

// Adopts fd on s's loop (from its thread) with a fresh ConnUd. Returns the
// conn, or nullptr with *err = errno.
rk_conn *Adopt(Srv &s, int fd, int *err = nullptr)
{
    rk_conn *c = nullptr;
    s.OnLoop([&] {
        ConnUd *u = new ConnUd{&s, nullptr, std::string()};
        errno = 0;
        c = rk_loop_adopt(s.loop, fd, u);
        if (err)
            *err = errno;
        if (!c) {
            delete u;
            return;
        }
        u->c = c;
        s.live.insert(u);
    });
    return c;
}

int TakenFd(Srv &s, size_t i)
{
    int fd = INT32_MIN;
    WaitFor([&] {
        std::lock_guard<std::mutex> g(s.take_mu);
        if (s.taken.size() > i)
            fd = s.taken[i];
        return fd != INT32_MIN;
    });
    return fd;
}

bool IsNonblocking(int fd)
{
    int fl = fcntl(fd, F_GETFL);
    return fl >= 0 && (fl & O_NONBLOCK);
}

TEST_P(LoopTest, AdoptSocketpairWithoutListener)
{
    srv.with_listener = false;
    ASSERT_TRUE(StartOrSkip());
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    rk_conn *c = Adopt(srv, sv[0]);
    ASSERT_NE(c, nullptr);
    EXPECT_TRUE(IsNonblocking(sv[0]));
    std::string peer, local;
    int is_local = 0;
    srv.OnLoop([&] {
        peer = rk_conn_peer(c);
        local = rk_conn_local(c);
        is_local = rk_conn_peer_is_local(c);
        EXPECT_EQ(rk_conn_fd(c), sv[0]);
    });
    EXPECT_EQ(peer, "unix:0");
    EXPECT_EQ(local, "unix:0");
    EXPECT_EQ(is_local, 1);
    // Echo, including a payload larger than the socket buffers.
    ASSERT_TRUE(SendAll(sv[1], "hello", 5));
    EXPECT_EQ(Recv(sv[1], 5, 3000), "hello");
    std::string big(1u << 20, 'q');
    for (size_t i = 0; i < big.size(); i++)
        big[i] = (char)('a' + i * 7 % 26);
    std::thread writer([&] { EXPECT_TRUE(SendAll(sv[1], big.data(), big.size())); });
    std::string got = Recv(sv[1], big.size(), 10000);
    writer.join();
    EXPECT_TRUE(got == big) << got.size();
    EXPECT_EQ(srv.accepts.load(), 0);  // no on_accept for adopted sockets
    close(sv[1]);
    EXPECT_TRUE(WaitFor([&] { return srv.closes.load() == 1; }));
    srv.Stop();
    EXPECT_EQ(srv.run_rc.load(), 0);
    EXPECT_EQ(srv.closes.load(), 1);
}

// The peer writes and hangs up while the conn is paused (a socketpair
// reports HUP at once): the bytes are still delivered once it resumes.
TEST_P(LoopTest, PausedConnKeepsBytesSentBeforeHangup)
{
    srv.with_listener = false;
    ASSERT_TRUE(StartOrSkip());
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    rk_conn *c = Adopt(srv, sv[0]);
    ASSERT_NE(c, nullptr);
    ASSERT_TRUE(SendAll(sv[1], "PAUSESINK\n", 10));
    ASSERT_TRUE(WaitFor([&] { return srv.bytes_in.load() == 10; }));
    std::string big(200000, 'z');
    ASSERT_TRUE(SendAll(sv[1], big.data(), 100000));  // within the socket buffer
    close(sv[1]);
    EXPECT_TRUE(WaitFor([&] { return srv.closes.load() == 1; }));
    EXPECT_EQ(srv.bytes_in.load(), 10u + 100000u);
    srv.Stop();
}

TEST_P(LoopTest, AdoptTcpConnectionAndTicksWithoutListener)
{
    srv.with_listener = false;
    ASSERT_TRUE(StartOrSkip());
    // A listener of the test's own; the loop adopts what it accepts.
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(lfd, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(bind(lfd, (sockaddr *)&a, sizeof a), 0);
    ASSERT_EQ(listen(lfd, 4), 0);
    socklen_t al = sizeof a;
    getsockname(lfd, (sockaddr *)&a, &al);
    int cfd = Connect(ntohs(a.sin_port));
    ASSERT_GE(cfd, 0);
    int sfd = accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);  // blocking, on purpose
    ASSERT_GE(sfd, 0);
    close(lfd);
    sockaddr_in me{};
    socklen_t ml = sizeof me;
    getsockname(cfd, (sockaddr *)&me, &ml);
    rk_conn *c = Adopt(srv, sfd);
    ASSERT_NE(c, nullptr);
    EXPECT_TRUE(IsNonblocking(sfd));
    std::string peer;
    int nodelay = 0;
    srv.OnLoop([&] {
        peer = rk_conn_peer(c);
        socklen_t l = sizeof nodelay;
        getsockopt(rk_conn_fd(c), IPPROTO_TCP, TCP_NODELAY, &nodelay, &l);
    });
    EXPECT_EQ(peer, "127.0.0.1:" + std::to_string(ntohs(me.sin_port)));
    EXPECT_NE(nodelay, 0);
    ASSERT_TRUE(SendAll(cfd, "ping", 4));
    EXPECT_EQ(Recv(cfd, 4, 3000), "ping");
    int t0 = srv.ticks.load();
    EXPECT_TRUE(WaitFor([&] { return srv.ticks.load() > t0 + 3; }, 3000));
    close(cfd);
    EXPECT_TRUE(WaitFor([&] { return srv.closes.load() == 1; }));
}

TEST_P(LoopTest, AdoptCountsAgainstMaxConnsAndLeavesRefusedFdOpen)
{
    srv.with_listener = false;
    srv.max_conns = 2;
    ASSERT_TRUE(StartOrSkip());
    int p[3][2];
    for (auto &sv : p)
        ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ASSERT_NE(Adopt(srv, p[0][0]), nullptr);
    ASSERT_NE(Adopt(srv, p[1][0]), nullptr);
    int err = 0;
    EXPECT_EQ(Adopt(srv, p[2][0], &err), nullptr);
    EXPECT_EQ(err, EMFILE);
    // Still the caller's: open and working.
    ASSERT_TRUE(SendAll(p[2][1], "z", 1));
    char ch = 0;
    EXPECT_EQ(read(p[2][0], &ch, 1), 1);
    EXPECT_EQ(ch, 'z');
    // Bad arguments: errno, nothing taken.
    srv.OnLoop([&] {
        errno = 0;
        EXPECT_EQ(rk_loop_adopt(srv.loop, -1, &srv), nullptr);
        EXPECT_EQ(errno, EINVAL);
        EXPECT_EQ(rk_loop_adopt(srv.loop, p[2][0], nullptr), nullptr);
        EXPECT_EQ(errno, EINVAL);
    });
    // A slot frees when a conn goes; then the refused fd is adopted.
    close(p[0][1]);
    EXPECT_TRUE(WaitFor([&] { return srv.closes.load() == 1; }));
    ASSERT_NE(Adopt(srv, p[2][0]), nullptr);
    ASSERT_TRUE(SendAll(p[2][1], "ok", 2));
    EXPECT_EQ(Recv(p[2][1], 2, 3000), "ok");
    close(p[1][1]);
    close(p[2][1]);
    EXPECT_TRUE(WaitFor([&] { return srv.closes.load() == 3; }));
}

TEST_P(LoopTest, CloseAfterFlushOnAdoptedConn)
{
    srv.with_listener = false;
    ASSERT_TRUE(StartOrSkip());
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    ASSERT_NE(Adopt(srv, sv[0]), nullptr);
    ASSERT_TRUE(SendAll(sv[1], "QUIT\n", 5));
    bool eof = false;
    std::string got = Recv(sv[1], kQuitReply + 4 + 1, 10000, &eof);
    EXPECT_TRUE(eof);
    ASSERT_EQ(got.size(), kQuitReply + 4);
    EXPECT_EQ(got.substr(kQuitReply), "BYE\n");
    EXPECT_TRUE(WaitFor([&] { return srv.closes.load() == 1; }));
    close(sv[1]);
}

// The replication pattern: a client's request arrives, the handler gives
// the socket away from inside on_data; the peer then writes, and the bytes
// are read from the new fd, none by the loop.
TEST_P(LoopTest, TakeFdFromOnDataKeepsLaterBytes)
{
    ASSERT_TRUE(StartOrSkip());
    const int kRounds = 30;
    for (int i = 0; i < kRounds; i++) {
        int fd = Connect(srv.port);
        ASSERT_GE(fd, 0);
        ASSERT_TRUE(SendAll(fd, "hi", 2));  // an ordinary exchange first
        ASSERT_EQ(Recv(fd, 2, 3000), "hi");
        ASSERT_TRUE(SendAll(fd, "TAKE\n", 5));
        int nfd = TakenFd(srv, (size_t)i);
        ASSERT_GE(nfd, 0) << "errno " << -nfd;
        EXPECT_TRUE(WaitFor([&] { return srv.closes.load() == i + 1; }));  // on_close follows
        std::string msg = "after-" + std::to_string(i);
        ASSERT_TRUE(SendAll(fd, msg.data(), msg.size()));
        EXPECT_EQ(Recv(nfd, msg.size(), 3000), msg) << "round " << i;
        // The socket was not shut down: both directions work.
        ASSERT_TRUE(SendAll(nfd, "back", 4));
        EXPECT_EQ(Recv(fd, 4, 3000), "back");
        // Nothing echoed by the loop.
        EXPECT_EQ(Recv(fd, 1, 20), "");
        close(nfd);
        bool eof = false;
        Recv(fd, 1, 3000, &eof);
        EXPECT_TRUE(eof);
        close(fd);
        std::lock_guard<std::mutex> g(srv.take_mu);
        srv.taken[(size_t)i] = -1;
    }
    uint64_t dropped = 1;
    srv.OnLoop([&] { dropped = rk_loop_taken_dropped(srv.loop); });
    EXPECT_EQ(dropped, 0u);
    EXPECT_EQ(srv.closes.load(), kRounds);
}

TEST_P(LoopTest, TakeFdSocketpairThenAdoptOnAnotherLoop)
{
    srv.with_listener = false;
    ASSERT_TRUE(StartOrSkip());
    Srv second;
    second.with_listener = false;
    second.backend = GetParam().backend;
    second.disable_env = GetParam().disable;
    ASSERT_TRUE(second.Start());
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    rk_conn *c = Adopt(srv, sv[0]);
    ASSERT_NE(c, nullptr);
    ASSERT_TRUE(SendAll(sv[1], "one", 3));
    ASSERT_EQ(Recv(sv[1], 3, 3000), "one");
    int nfd = -1;
    srv.OnLoop([&] {
        ASSERT_EQ(rk_conn_unsent(c), 0u);
        nfd = rk_conn_take_fd(c);
        EXPECT_GE(nfd, 0) << strerror(errno);
        EXPECT_NE(nfd, sv[0]);
        // Given away already: a second take is refused.
        errno = 0;
        EXPECT_EQ(rk_conn_take_fd(c), -1);
        EXPECT_EQ(errno, EBADF);
    });
    ASSERT_GE(nfd, 0);
    EXPECT_TRUE(WaitFor([&] { return srv.closes.load() == 1; }));
    EXPECT_TRUE(fcntl(nfd, F_GETFD) & FD_CLOEXEC);
    // Written while nobody reads: it waits in the socket.
    ASSERT_TRUE(SendAll(sv[1], "two", 3));
    std::this_thread::sleep_for(std::chrono::milliseconds(30));
    ASSERT_NE(Adopt(second, nfd), nullptr);
    EXPECT_EQ(Recv(sv[1], 3, 3000), "two");  // echoed by the second loop
    ASSERT_TRUE(SendAll(sv[1], "three", 5));
    EXPECT_EQ(Recv(sv[1], 5, 3000), "three");
    EXPECT_EQ(srv.closes.load(), 1);
    close(sv[1]);
    EXPECT_TRUE(WaitFor([&] { return second.closes.load() == 1; }));
    uint64_t dropped = 1;
    srv.OnLoop([&] { dropped = rk_loop_taken_dropped(srv.loop); });
    EXPECT_EQ(dropped, 0u);
}

// The peer writes while the handler that gave the socket away still runs
// (the loop has not waited since): the kernel must not read those bytes
// for the old conn, whatever runs its task work meanwhile (syscalls here).
TEST_P(LoopTest, TakeFdThenPeerWritesBeforeTheLoopResumes)
{
    srv.with_listener = false;
    ASSERT_TRUE(StartOrSkip());
    for (int i = 0; i < 20; i++) {
        int sv[2];
        ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
        rk_conn *c = Adopt(srv, sv[0]);
        ASSERT_NE(c, nullptr);
        ASSERT_TRUE(SendAll(sv[1], "x", 1));  // the recv is armed and has run once
        ASSERT_EQ(Recv(sv[1], 1, 3000), "x");
        int nfd = -1;
        srv.OnLoop([&] {
            nfd = rk_conn_take_fd(c);
            ASSERT_GE(nfd, 0) << strerror(errno);
            for (int k = 0; k < 5; k++) {
                EXPECT_EQ(write(sv[1], "late", 4), 4);
                std::this_thread::sleep_for(std::chrono::milliseconds(2));
            }
        });
        ASSERT_GE(nfd, 0);
        EXPECT_EQ(Recv(nfd, 20, 3000), "latelatelatelatelate") << "round " << i;
        close(nfd);
        close(sv[1]);
        EXPECT_TRUE(WaitFor([&] { return srv.closes.load() == i + 1; }));
    }
    uint64_t dropped = 1;
    srv.OnLoop([&] { dropped = rk_loop_taken_dropped(srv.loop); });
    EXPECT_EQ(dropped, 0u);
}

TEST_P(LoopTest, TakeFdRefusedOnClosingConn)
{
    srv.with_listener = false;
    ASSERT_TRUE(StartOrSkip());
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    rk_conn *c = Adopt(srv, sv[0]);
    ASSERT_NE(c, nullptr);
    srv.OnLoop([&] {
        ASSERT_EQ(rk_buf_append(rk_conn_out(c), "bye", 3), 0);
        rk_conn_close(c, 1);  // draining
        errno = 0;
        EXPECT_EQ(rk_conn_take_fd(c), -1);
        EXPECT_EQ(errno, EBADF);
    });
    bool eof = false;
    EXPECT_EQ(Recv(sv[1], 4, 3000, &eof), "bye");
    EXPECT_TRUE(eof);
    EXPECT_TRUE(WaitFor([&] { return srv.closes.load() == 1; }));
    close(sv[1]);
}

// ---- file writes ----

struct FileRun {
    std::vector<std::pair<int, int64_t>> done;  // loop thread
    bool in_call = false;                       // loop thread
    bool reentered = false;
    std::atomic<int> n{0};
};

struct FileReq {
    FileRun *run;
    int idx;
    // Optional: the callback queues this follow-up write.
    rk_loop *loop = nullptr;
    FileReq *next = nullptr;
    int next_fd = -1;
    const char *next_buf = nullptr;
    size_t next_len = 0;
    uint64_t next_off = 0;
};

void FileCb(void *ud, int64_t res)
{
    FileReq *r = static_cast<FileReq *>(ud);
    if (r->run->in_call)
        r->run->reentered = true;
    r->run->done.push_back({r->idx, res});
    if (r->next) {
        EXPECT_EQ(rk_loop_write_file(r->loop, r->next_fd, r->next_buf, r->next_len, r->next_off,
                                     RK_FILE_FSYNC, FileCb, r->next),
                  0);
    }
    r->run->n++;
}

struct TmpDir {
    std::string path;
    TmpDir()
    {
        char t[] = "/tmp/rk_loop_test_XXXXXX";
        if (mkdtemp(t))
            path = t;
    }
    ~TmpDir()
    {
        if (!path.empty())
            (void)!system(("rm -rf '" + path + "'").c_str());
    }
};

std::string ReadFile(const std::string &p)
{
    std::string out;
    FILE *f = fopen(p.c_str(), "rb");
    if (!f)
        return out;
    char b[65536];
    size_t n;
    while ((n = fread(b, 1, sizeof b, f)) > 0)
        out.append(b, n);
    fclose(f);
    return out;
}

TEST_P(LoopTest, FileWriteFsyncSeveralMiBInOrder)
{
    ASSERT_TRUE(StartOrSkip());
    TmpDir d;
    ASSERT_FALSE(d.path.empty());
    std::string path = d.path + "/seg.aof";
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    std::mt19937 rng(7);
    const size_t kPiece = 512 * 1024, kPieces = 12, kBig = 8u << 20;
    std::string data(kPiece * kPieces + kBig, '\0');
    for (auto &ch : data)
        ch = (char)rng();
    FileRun run;
    std::vector<FileReq> reqs(kPieces + 4);
    for (size_t i = 0; i < reqs.size(); i++)
        reqs[i] = FileReq{&run, (int)i};
    srv.OnLoop([&] {
        run.in_call = true;
        for (size_t i = 0; i < kPieces; i++)
            EXPECT_EQ(rk_loop_write_file(srv.loop, fd, data.data() + i * kPiece, kPiece,
                                         i * kPiece, (i % 2) ? RK_FILE_FSYNC : 0, FileCb,
                                         &reqs[i]),
                      0);
        // 8 MiB in one request, then a plain fdatasync and an empty write+sync.
        EXPECT_EQ(rk_loop_write_file(srv.loop, fd, data.data() + kPieces * kPiece, kBig,
                                     kPieces * kPiece, RK_FILE_FSYNC, FileCb, &reqs[kPieces]),
                  0);
        EXPECT_EQ(rk_loop_fsync_file(srv.loop, fd, FileCb, &reqs[kPieces + 1]), 0);
        EXPECT_EQ(rk_loop_write_file(srv.loop, fd, nullptr, 0, 0, RK_FILE_FSYNC, FileCb,
                                     &reqs[kPieces + 2]),
                  0);
        EXPECT_EQ(rk_loop_write_file(srv.loop, fd, "x", 1, 0, 4 /* bad flag */, FileCb,
                                     &reqs[kPieces + 3]),
                  -1);
        EXPECT_EQ(errno, EINVAL);
        run.in_call = false;
    });
    ASSERT_TRUE(WaitFor([&] { return run.n.load() == (int)kPieces + 3; }, 20000)) << run.n.load();
    srv.OnLoop([&] {
        EXPECT_FALSE(run.reentered);
        ASSERT_EQ(run.done.size(), kPieces + 3);
        for (size_t i = 0; i < run.done.size(); i++) {
            EXPECT_EQ(run.done[i].first, (int)i) << "completions out of order";
            int64_t want = i < kPieces ? (int64_t)kPiece : i == kPieces ? (int64_t)kBig : 0;
            EXPECT_EQ(run.done[i].second, want) << i;
        }
    });
    EXPECT_TRUE(ReadFile(path) == data);
    close(fd);
}

TEST_P(LoopTest, FileOpsAwaitedWhenTheLoopStops)
{
    ASSERT_TRUE(StartOrSkip());
    TmpDir d;
    std::string path = d.path + "/stop";
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    std::string data(8u << 20, 's');
    FileRun run;
    FileReq req{&run, 0};
    srv.OnLoop([&] {
        EXPECT_EQ(rk_loop_write_file(srv.loop, fd, data.data(), data.size(), 0, RK_FILE_FSYNC,
                                     FileCb, &req),
                  0);
    });
    srv.Stop();  // rk_loop_run awaits the write before returning
    EXPECT_EQ(srv.run_rc.load(), 0);
    ASSERT_EQ(run.n.load(), 1);
    EXPECT_EQ(run.done[0].second, (int64_t)data.size());
    struct stat st;
    ASSERT_EQ(fstat(fd, &st), 0);
    EXPECT_EQ((size_t)st.st_size, data.size());
    close(fd);
}

TEST_P(LoopTest, FileOpsBoundAndCallbackQueuesMore)
{
    ASSERT_TRUE(StartOrSkip());
    TmpDir d;
    std::string path = d.path + "/bound";
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    const int kMax = RK_LOOP_MAX_FILE_OPS;
    std::string data(kMax * 100 + 100, '\0');
    for (size_t i = 0; i < data.size(); i++)
        data[i] = (char)('A' + i % 23);
    FileRun run;
    std::vector<FileReq> reqs(kMax + 1);
    for (int i = 0; i <= kMax; i++)
        reqs[i] = FileReq{&run, i};
    // The last op's callback queues one more (slot freed before the call).
    reqs[kMax - 1].loop = srv.loop;
    reqs[kMax - 1].next = &reqs[kMax];
    reqs[kMax - 1].next_fd = fd;
    reqs[kMax - 1].next_buf = data.data() + kMax * 100;
    reqs[kMax - 1].next_len = 100;
    reqs[kMax - 1].next_off = kMax * 100;
    srv.OnLoop([&] {
        for (int i = 0; i < kMax; i++)
            EXPECT_EQ(rk_loop_write_file(srv.loop, fd, data.data() + i * 100, 100,
                                         (uint64_t)i * 100, 0, FileCb, &reqs[i]),
                      0);
        errno = 0;
        EXPECT_EQ(rk_loop_write_file(srv.loop, fd, "x", 1, 0, 0, FileCb, &reqs[0]), -1);
        EXPECT_EQ(errno, EAGAIN);
    });
    ASSERT_TRUE(WaitFor([&] { return run.n.load() == kMax + 1; }, 10000)) << run.n.load();
    srv.OnLoop([&] {
        for (int i = 0; i <= kMax; i++) {
            EXPECT_EQ(run.done[i].first, i);
            EXPECT_EQ(run.done[i].second, 100);
        }
    });
    EXPECT_TRUE(ReadFile(path) == data);
    close(fd);
}

TEST_P(LoopTest, FileErrorsEfbigAndEnospc)
{
    ASSERT_TRUE(StartOrSkip());
    TmpDir d;
    std::string path = d.path + "/limited";
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    int full = open("/dev/full", O_WRONLY | O_CLOEXEC);
    ASSERT_GE(full, 0);
    std::string data(3u << 20, 'z');
    FileRun run;
    std::vector<FileReq> reqs(3);
    for (int i = 0; i < 3; i++)
        reqs[i] = FileReq{&run, i};
    // RLIMIT_FSIZE is per process; SIGXFSZ would kill it, so ignore it.
    struct sigaction ign = {}, old_sa = {};
    ign.sa_handler = SIG_IGN;
    ASSERT_EQ(sigaction(SIGXFSZ, &ign, &old_sa), 0);
    rlimit old_rl;
    ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_rl), 0);
    rlimit rl = old_rl;
    rl.rlim_cur = 1u << 20;
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &rl), 0);
    srv.OnLoop([&] {
        // Crosses the limit: a short write, then EFBIG on the rest.
        EXPECT_EQ(rk_loop_write_file(srv.loop, fd, data.data(), data.size(), 0, RK_FILE_FSYNC,
                                     FileCb, &reqs[0]),
                  0);
        // Starts beyond it.
        EXPECT_EQ(rk_loop_write_file(srv.loop, fd, data.data(), 10, 2u << 20, 0, FileCb,
                                     &reqs[1]),
                  0);
        EXPECT_EQ(rk_loop_write_file(srv.loop, full, data.data(), 4096, 0, RK_FILE_FSYNC, FileCb,
                                     &reqs[2]),
                  0);
    });
    bool ok = WaitFor([&] { return run.n.load() == 3; }, 10000);
    setrlimit(RLIMIT_FSIZE, &old_rl);
    sigaction(SIGXFSZ, &old_sa, nullptr);
    ASSERT_TRUE(ok) << run.n.load();
    srv.OnLoop([&] {
        EXPECT_EQ(run.done[0].second, -EFBIG);
        EXPECT_EQ(run.done[1].second, -EFBIG);
        EXPECT_EQ(run.done[2].second, -ENOSPC);
    });
    struct stat st;
    ASSERT_EQ(fstat(fd, &st), 0);
    EXPECT_EQ(st.st_size, 1 << 20);  // what fitted was written
    close(fd);
    close(full);
}

TEST_P(LoopTest, FileErrorFullTmpfs)
{
    TmpDir d;
    if (mount("tmpfs", d.path.c_str(), "tmpfs", 0, "size=256k") != 0)
        GTEST_SKIP() << "cannot mount a tmpfs here: " << strerror(errno);
    struct Unmount {
        std::string p;
        ~Unmount() { umount2(p.c_str(), MNT_DETACH); }
    } um{d.path};
    ASSERT_TRUE(StartOrSkip());
    std::string path = d.path + "/seg";
    int fd = open(path.c_str(), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    std::string data(1u << 20, 'q');
    FileRun run;
    FileReq req{&run, 0};
    srv.OnLoop([&] {
        EXPECT_EQ(rk_loop_write_file(srv.loop, fd, data.data(), data.size(), 0, RK_FILE_FSYNC,
                                     FileCb, &req),
                  0);
    });
    ASSERT_TRUE(WaitFor([&] { return run.n.load() == 1; }, 10000));
    srv.OnLoop([&] { EXPECT_EQ(run.done[0].second, -ENOSPC); });
    close(fd);
    srv.Stop();
}

// ---- group commit ----

// Connects and names the connection; returns the client fd.
int ConnectNamed(Srv &s, const std::string &name)
{
    int fd = Connect(s.port);
    if (fd < 0)
        return -1;
    std::string m = "NAME " + name + "\n";
    if (!SendAll(fd, m.data(), m.size()))
        return -1;
    rk_conn *c = nullptr;
    WaitFor([&] {
        s.OnLoop([&] { c = s.Named(name); });
        return c != nullptr;
    });
    return c ? fd : -1;
}

void Append(rk_conn *c, const std::string &b)
{
    ASSERT_NE(c, nullptr);
    ASSERT_EQ(rk_buf_append(rk_conn_out(c), b.data(), b.size()), 0);
}

TEST_P(LoopTest, GateHoldsUntilRelease)
{
    ASSERT_TRUE(StartOrSkip());
    int fd = ConnectNamed(srv, "a");
    ASSERT_GE(fd, 0);
    uint64_t t1 = 0, t2 = 0;
    srv.OnLoop([&] {
        rk_conn *a = srv.Named("a");
        Append(a, "A1");
        t1 = rk_loop_output_barrier(srv.loop);
        Append(a, "B1");  // after the barrier: not covered by t1
        EXPECT_EQ(rk_conn_held(a), 4u);
    });
    EXPECT_EQ(t1, 1u);
    EXPECT_EQ(Recv(fd, 1, 150), "");
    srv.OnLoop([&] { rk_loop_output_release(srv.loop, t1); });
    EXPECT_EQ(Recv(fd, 2, 3000), "A1");
    EXPECT_EQ(Recv(fd, 1, 150), "");  // B1 waits for a later barrier
    srv.OnLoop([&] {
        EXPECT_EQ(rk_conn_held(srv.Named("a")), 2u);
        t2 = rk_loop_output_barrier(srv.loop);
        rk_loop_output_release(srv.loop, t2);
    });
    EXPECT_GT(t2, t1);
    EXPECT_EQ(Recv(fd, 2, 3000), "B1");
    // Everything released: the conn sends freely again.
    srv.OnLoop([&] {
        EXPECT_EQ(rk_conn_held(srv.Named("a")), 0u);
        Append(srv.Named("a"), "C1");
    });
    EXPECT_EQ(Recv(fd, 2, 3000), "C1");
    close(fd);
}

TEST_P(LoopTest, GateReleaseOutOfOrder)
{
    ASSERT_TRUE(StartOrSkip());
    int fa = ConnectNamed(srv, "a"), fb = ConnectNamed(srv, "b");
    ASSERT_GE(fa, 0);
    ASSERT_GE(fb, 0);
    uint64_t t1 = 0, t2 = 0, t3 = 0;
    srv.OnLoop([&] {
        Append(srv.Named("a"), "A");
        t1 = rk_loop_output_barrier(srv.loop);
        Append(srv.Named("a"), "B");
        Append(srv.Named("b"), "X");
        t2 = rk_loop_output_barrier(srv.loop);
    });
    EXPECT_EQ(Recv(fa, 1, 100), "");
    EXPECT_EQ(Recv(fb, 1, 50), "");
    srv.OnLoop([&] {
        rk_loop_output_release(srv.loop, t2);  // releases t1 too
        rk_loop_output_release(srv.loop, t1);  // no-op
    });
    EXPECT_EQ(Recv(fa, 2, 3000), "AB");
    EXPECT_EQ(Recv(fb, 1, 3000), "X");
    srv.OnLoop([&] {
        Append(srv.Named("a"), "C");
        t3 = rk_loop_output_barrier(srv.loop);
        rk_loop_output_release(srv.loop, t1);  // old ticket: holds on
    });
    EXPECT_EQ(Recv(fa, 1, 150), "");
    srv.OnLoop([&] { rk_loop_output_release(srv.loop, t3); });
    EXPECT_EQ(Recv(fa, 1, 3000), "C");
    close(fa);
    close(fb);
}

TEST_P(LoopTest, GateBarrierBoundAndRecordGrowth)
{
    ASSERT_TRUE(StartOrSkip());
    int fa = ConnectNamed(srv, "a"), fb = ConnectNamed(srv, "b");
    ASSERT_GE(fa, 0);
    ASSERT_GE(fb, 0);
    std::string want_a, want_b;
    uint64_t mid = 0, last = 0;
    srv.OnLoop([&] {
        // RK_LOOP_MAX_BARRIERS unreleased tickets, two records each: the
        // record ring grows from its first size many times over.
        for (int i = 0; i < RK_LOOP_MAX_BARRIERS; i++) {
            std::string x(1, (char)('a' + i % 26));
            Append(srv.Named("a"), x);
            want_a += x;
            if (i % 3 == 0) {
                Append(srv.Named("b"), x);
                want_b += x;
            }
            last = rk_loop_output_barrier(srv.loop);
            ASSERT_EQ(last, (uint64_t)i + 1);
            if (i == RK_LOOP_MAX_BARRIERS / 2)
                mid = last;
        }
        Append(srv.Named("a"), "!");
        want_a += "!";
        EXPECT_EQ(rk_loop_output_barrier(srv.loop), 0u);  // over the bound: still held
        EXPECT_EQ(rk_conn_held(srv.Named("a")), want_a.size());
    });
    EXPECT_EQ(Recv(fa, 1, 150), "");
    srv.OnLoop([&] { rk_loop_output_release(srv.loop, mid); });
    size_t n_mid = RK_LOOP_MAX_BARRIERS / 2 + 1;
    EXPECT_EQ(Recv(fa, n_mid, 3000), want_a.substr(0, n_mid));
    EXPECT_EQ(Recv(fa, 1, 100), "");
    srv.OnLoop([&] {
        rk_loop_output_release(srv.loop, last);
        uint64_t t = rk_loop_output_barrier(srv.loop);  // covers the "!"
        EXPECT_EQ(t, last + 1);
        rk_loop_output_release(srv.loop, t);
    });
    EXPECT_EQ(Recv(fa, want_a.size() - n_mid, 3000), want_a.substr(n_mid));
    EXPECT_EQ(Recv(fb, want_b.size(), 3000), want_b);
    close(fa);
    close(fb);
}

TEST_P(LoopTest, GateBarrierInBeforeWaitManyConnections)
{
    srv.auto_barrier = true;
    ASSERT_TRUE(StartOrSkip());
    const int kClients = 200;
    std::vector<int> fds;
    for (int i = 0; i < kClients; i++) {
        int fd = Connect(srv.port);
        ASSERT_GE(fd, 0);
        fds.push_back(fd);
    }
    for (int i = 0; i < kClients; i++) {
        std::string m = "m" + std::to_string(i);
        ASSERT_TRUE(SendAll(fds[i], m.data(), m.size()));
    }
    ASSERT_TRUE(WaitFor([&] { return srv.accepts.load() == kClients; }));
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    for (int i = 0; i < kClients; i++)
        ASSERT_EQ(Recv(fds[i], 1, 1), "") << "client " << i << " got output before release";
    uint64_t t = srv.last_ticket.load();
    ASSERT_GT(t, 0u);
    srv.OnLoop([&] { rk_loop_output_release(srv.loop, t); });
    for (int i = 0; i < kClients; i++) {
        std::string m = "m" + std::to_string(i);
        ASSERT_EQ(Recv(fds[i], m.size(), 3000), m) << "client " << i;
    }
    // Two iterations' replies, released one ticket at a time.
    uint64_t before = srv.last_ticket.load();
    ASSERT_TRUE(SendAll(fds[0], "p", 1));
    ASSERT_TRUE(WaitFor([&] { return srv.last_ticket.load() > before; }));
    uint64_t ta = srv.last_ticket.load();
    ASSERT_TRUE(SendAll(fds[0], "q", 1));
    ASSERT_TRUE(WaitFor([&] { return srv.last_ticket.load() > ta; }));
    uint64_t tb = srv.last_ticket.load();
    srv.OnLoop([&] { rk_loop_output_release(srv.loop, ta); });
    EXPECT_EQ(Recv(fds[0], 2, 300), "p");
    srv.OnLoop([&] { rk_loop_output_release(srv.loop, tb); });
    EXPECT_EQ(Recv(fds[0], 1, 3000), "q");
    // A big reply through a gated conn: partial sends, then the rest.
    before = srv.last_ticket.load();
    std::string big(3u << 20, 'g');
    std::thread writer([&] { EXPECT_TRUE(SendAll(fds[1], big.data(), big.size())); });
    size_t got = 0;
    auto end = Clock::now() + std::chrono::seconds(20);
    while (got < big.size() && Clock::now() < end) {
        uint64_t t = srv.last_ticket.load();
        srv.OnLoop([&] { rk_loop_output_release(srv.loop, t); });
        got += Recv(fds[1], big.size() - got, 20).size();
    }
    writer.join();
    EXPECT_EQ(got, big.size());
    for (int fd : fds)
        close(fd);
    EXPECT_TRUE(WaitFor([&] { return srv.closes.load() == kClients; }));
}

TEST_P(LoopTest, GateClosingConnectionsWithHeldOutput)
{
    ASSERT_TRUE(StartOrSkip());
    int fa = ConnectNamed(srv, "a"), fb = ConnectNamed(srv, "b"), fd_ = ConnectNamed(srv, "d");
    int fe = ConnectNamed(srv, "e");
    ASSERT_TRUE(fa >= 0 && fb >= 0 && fd_ >= 0 && fe >= 0);
    uint64_t t = 0;
    srv.OnLoop([&] {
        Append(srv.Named("a"), std::string(1 << 20, 'a'));
        Append(srv.Named("b"), "BBB");
        Append(srv.Named("d"), "DDD");
        Append(srv.Named("e"), "EEE");
        t = rk_loop_output_barrier(srv.loop);
    });
    // a: the server closes it; its held MiB is dropped.
    srv.OnLoop([&] { rk_conn_close(srv.Named("a"), 0); });
    ASSERT_TRUE(WaitFor([&] { return srv.closes.load() == 1; }));
    bool eof = false;
    EXPECT_EQ(Recv(fa, 1, 2000, &eof), "");
    EXPECT_TRUE(eof);
    // b: the peer resets it.
    linger lg = {1, 0};
    ASSERT_EQ(setsockopt(fb, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
    close(fb);
    ASSERT_TRUE(WaitFor([&] { return srv.closes.load() == 2; }));
    // d: the peer half-closes: the reply waits for the release, then the close.
    ASSERT_EQ(shutdown(fd_, SHUT_WR), 0);
    EXPECT_EQ(Recv(fd_, 1, 150), "");
    EXPECT_EQ(srv.closes.load(), 2);
    srv.OnLoop([&] { rk_loop_output_release(srv.loop, t); });
    eof = false;
    EXPECT_EQ(Recv(fd_, 4, 3000, &eof), "DDD");
    EXPECT_TRUE(eof);
    EXPECT_EQ(Recv(fe, 3, 3000), "EEE");
    EXPECT_TRUE(WaitFor([&] { return srv.closes.load() == 3; }));
    // The loop goes on gating after conns vanished from its records.
    srv.OnLoop([&] {
        Append(srv.Named("e"), "F");
        uint64_t t2 = rk_loop_output_barrier(srv.loop);
        rk_loop_output_release(srv.loop, t2);
    });
    EXPECT_EQ(Recv(fe, 1, 3000), "F");
    close(fa);
    close(fd_);
    close(fe);
}

INSTANTIATE_TEST_SUITE_P(
    Backends, LoopTest,
    ::testing::Values(Mode{"io_uring", RK_BACKEND_IO_URING, nullptr},
                      Mode{"io_uring_fallbacks", RK_BACKEND_IO_URING,
                           "multishot_accept,multishot_recv,multishot_timer,multishot_poll,"
                           "defer_taskrun,coop_taskrun,inline_writes,sync_cancel"},
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
