// Unit tests for the snapshot a replica's full sync streams (issue 6):
// storage/rdb_sink.c's descriptor target (to_fd), fed by two shards' real
// snapshots (storage/snapshot.c) as persist.c's all-shard cut feeds it.
// The other end of a socketpair (or a pipe) is read by a thread of the
// test, as the replication thread would: the bytes must be exactly an RDB
// file (header with the replication AUX fields when given, both shards'
// keys, EOF, CRC-64) that storage/rdb_file.h parses; no file is created;
// the descriptor is closed at the end; a reader that closes its end
// (EPIPE) fails the sink and stops the shards early.
//
// The test thread plays both shards (their snapshot slices and mailboxes);
// the sink runs on its own thread as in the server.
#include <gtest/gtest.h>

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <map>
#include <string>
#include <thread>
#include <vector>

extern "C" {
#include "core/alloc.h"
#include "core/db.h"
#include "core/dict.h"
#include "core/object.h"
#include "core/quicklist.h"
#include "core/shard.h"
#include "core/t_hash.h"
#include "core/t_list.h"
#include "core/t_set.h"
#include "core/t_zset.h"
#include "core/zskiplist.h"
#include "storage/crc64.h"
#include "storage/rdb_file.h"
#include "storage/rdb_sink.h"
#include "storage/rdb_value.h"
#include "storage/snapshot.h"
}

namespace {

rk_slice S(const std::string &s) { return rk_slice{s.data(), s.size()}; }
#include "rdb_test_values.h"

const int kDbs = 4;
const char kReplId[] = "8a7c1e0f5d3b2a9c8e7f6a5b4c3d2e1f0a9b8c7d";

struct Result {
    uint64_t job;
    int ok;
    uint64_t bytes;
    std::string err;
};

struct Loaded {
    std::map<std::string, std::string> val; // "db:key" -> describe()
    std::vector<std::string> aux_order;
    std::map<std::string, std::string> aux;
    int checksum = -1;
};

int load_key(void *ud, int dbid, const char *key, size_t klen, rk_obj *value, long long)
{
    Loaded *l = static_cast<Loaded *>(ud);
    l->val[std::to_string(dbid) + ":" + std::string(key, klen)] = describe(value);
    obj_free(value);
    return 0;
}

void load_aux(void *ud, size_t, const char *name, const char *val, size_t vlen)
{
    Loaded *l = static_cast<Loaded *>(ud);
    l->aux_order.push_back(name);
    l->aux[name] = std::string(val, vlen);
}

void load_checksum(void *ud, size_t, int status) { static_cast<Loaded *>(ud)->checksum = status; }

// The reading end, on a thread of its own: reads until EOF (the sink closed
// its end), or until `limit` bytes when it should hang up early. Bounded:
// gives up after 60 s without EOF (timed_out then says so).
struct Reader {
    int fd;
    size_t limit;
    size_t step;
    std::string data;
    std::atomic<bool> done{false};
    bool eof = false, timed_out = false;
    std::thread th;

    Reader(int fd_, size_t limit_ = SIZE_MAX, size_t step_ = 65536) : fd(fd_), limit(limit_), step(step_)
    {
        th = std::thread([this] { run(); });
    }
    void run()
    {
        std::vector<char> buf(step);
        for (int idle = 0; idle < 600;) {
            if (data.size() >= limit) {
                close(fd); // the replica left: the writer gets EPIPE
                fd = -1;
                break;
            }
            struct pollfd p = {fd, POLLIN, 0};
            int rc = poll(&p, 1, 100);
            if (rc == 0) {
                idle++;
                continue;
            }
            idle = 0;
            ssize_t n = read(fd, buf.data(), std::min(step, limit - data.size()));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                eof = n == 0;
                break;
            }
            data.append(buf.data(), (size_t)n);
        }
        if (fd >= 0 && !eof && data.size() < limit)
            timed_out = true;
        if (fd >= 0)
            close(fd);
        done = true;
    }
    void join() { th.join(); }
};

class ReplSnapshotTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        signal(SIGPIPE, SIG_IGN); // as the server: a pipe's EPIPE is a return value
        ASSERT_EQ(rk_alloc_thread_init(), 0);
        char tmpl[] = "/tmp/rk-replsnap-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        char cwd[4096];
        ASSERT_NE(getcwd(cwd, sizeof cwd), nullptr);
        cwd_ = cwd;
        // The sink must create nothing: run in an empty directory to see it.
        ASSERT_EQ(chdir(dir_.c_str()), 0);
        for (int i = 0; i < 2; i++) {
            rk_shard *s = static_cast<rk_shard *>(calloc(1, sizeof(rk_shard)));
            ASSERT_NE(s, nullptr);
            s->id = i;
            s->cfg.databases = kDbs;
            s->cfg.hz = 10;
            s->cfg.rdbcompression = 1;
            ASSERT_EQ(rk_mailbox_init(&s->mailbox), 0);
            s->dbs = static_cast<rk_db *>(calloc(kDbs, sizeof(rk_db)));
            ASSERT_NE(s->dbs, nullptr);
            for (int d = 0; d < kDbs; d++)
                ASSERT_EQ(db_init(&s->dbs[d], d), 0);
            g_shards[i] = s;
        }
        g_nshards = 2;
        rk_this_shard = nullptr; // shard_send then pushes directly
    }

    void TearDown() override
    {
        for (int i = 0; i < 2; i++) {
            rk_shard *s = g_shards[i];
            EXPECT_EQ(s->snap, nullptr);
            for (int d = 0; d < kDbs; d++)
                db_release(&s->dbs[d]);
            free(s->dbs);
            rk_mailbox_destroy(&s->mailbox);
            free(s);
            g_shards[i] = nullptr;
        }
        g_nshards = 0;
        EXPECT_EQ(chdir(cwd_.c_str()), 0);
        DIR *d = opendir(dir_.c_str());
        std::vector<std::string> left;
        for (struct dirent *e; d && (e = readdir(d));)
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                left.push_back(e->d_name);
        if (d)
            closedir(d);
        EXPECT_TRUE(left.empty()) << "a streaming sink created " << left[0];
        for (const auto &n : left)
            unlink((dir_ + "/" + n).c_str());
        rmdir(dir_.c_str());
    }

    rk_shard *shard(int i) { return g_shards[i]; }

    void set(int sh, int db, const std::string &k, rk_obj *o, long long expire_ms = -1)
    {
        ASSERT_NE(o, nullptr);
        ASSERT_EQ(db_set(shard(sh), &shard(sh)->dbs[db], S(k), o, 0), 0);
        if (expire_ms >= 0) {
            ASSERT_EQ(db_set_expire(shard(sh), &shard(sh)->dbs[db], S(k), expire_ms), 0);
        }
    }

    // Keys of every type over several dbs, several chunks' worth.
    void populate(int sh, int nkeys)
    {
        for (int i = 0; i < nkeys; i++) {
            std::string v = "value-" + std::to_string(i) + std::string(i % 7 * 5, 'x');
            set(sh, i % 3 == 1 ? 2 : 0, "k" + std::to_string(sh) + ":" + std::to_string(i),
                obj_new_string(v.data(), v.size()), i % 5 == 0 ? 4000000000000LL + i : -1);
        }
        std::vector<std::string> items;
        for (int i = 0; i < 300; i++)
            items.push_back("item" + std::to_string(i));
        std::string p = std::to_string(sh);
        set(sh, 3, "list" + p, make_list(items, -2), 4100000000000LL);
        set(sh, 3, "hash" + p, make_hash(150));
        set(sh, 3, "set" + p, make_set(items));
        set(sh, 3, "zset" + p, make_zset(200, true));
    }

    std::map<std::string, std::string> expected_values()
    {
        std::map<std::string, std::string> m;
        for (int sh = 0; sh < 2; sh++) {
            for (int d = 0; d < kDbs; d++) {
                dict_iter it;
                dict_iter_init(&it, shard(sh)->dbs[d].keys, 0);
                for (dict_entry *e; (e = dict_next(&it));) {
                    rk_slice k = rkstr_slice(static_cast<const rk_str *>(e->key));
                    m[std::to_string(d) + ":" + std::string(k.ptr, k.len)] =
                        describe(static_cast<rk_obj *>(e->v.val));
                }
                dict_iter_release(&it);
            }
        }
        return m;
    }

    // A stream sink fed by both shards, as persist.c starts a diskless one.
    rdb_sink *start_stream(int fd, char *err, size_t errlen)
    {
        rdb_sink_target t = {};
        t.shard_first = 0;
        t.nshards = 2;
        t.format = SINK_FMT_RDB;
        t.checksum = 1;
        t.result_shard = 0;
        t.result_type = MSG_SAVE_RESULT;
        t.to_fd = 1;
        t.out_fd = fd;
        return rdb_sink_start_target(++job_, &t, err, errlen);
    }

    // The cut on both shards, then the header's contents.
    void cut_and_start(rdb_sink *k, long long repl_offset)
    {
        ASSERT_EQ(snapshot_begin(shard(0), k, job_), 0);
        ASSERT_EQ(snapshot_begin(shard(1), k, job_), 0);
        rdb_aux_info aux = {};
        aux.ctime = 1700000000;
        aux.used_mem = 123456;
        if (repl_offset >= 0) {
            aux.repl_stream_db = 0;
            memcpy(aux.repl_id, kReplId, sizeof aux.repl_id);
            aux.repl_offset = repl_offset;
        } else {
            aux.omit_repl = 1;
        }
        rdb_sink_send_start(k, &aux);
    }

    // Runs both shards until the result arrived and no snapshot runs. 60 s.
    std::vector<Result> pump()
    {
        std::vector<Result> results;
        for (int round = 0; round < 600000; round++) {
            bool busy = false;
            for (int i = 0; i < 2; i++) {
                rk_shard *s = shard(i);
                if (s->snap) {
                    snapshot_before_wait(s);
                    busy = true;
                }
                rk_mailbox_ack_wake(&s->mailbox);
                for (rk_msg *m; (m = rk_mailbox_pop(&s->mailbox));) {
                    busy = true;
                    if (m->type == MSG_SNAP_CHUNK_BACK || m->type == MSG_SNAP_ABORT) {
                        if (m->type == MSG_SNAP_ABORT)
                            aborts_[i]++;
                        snapshot_handle_msg(s, m);
                    } else {
                        EXPECT_EQ(m->type, MSG_SAVE_RESULT);
                        EXPECT_EQ(i, 0);
                        const save_result *r = reinterpret_cast<save_result *>(m);
                        results.push_back(Result{r->job, r->ok, r->bytes, r->err});
                        free(m);
                    }
                }
            }
            if (results.size() == 1 && !shard(0)->snap && !shard(1)->snap) {
                for (int i = 0; i < 2; i++)
                    for (rk_msg *m; (m = rk_mailbox_pop(&shard(i)->mailbox));)
                        snapshot_handle_msg(shard(i), m);
                return results;
            }
            if (!busy) {
                struct pollfd p[2] = {{shard(0)->mailbox.efd, POLLIN, 0}, {shard(1)->mailbox.efd, POLLIN, 0}};
                poll(p, 2, 10);
            }
        }
        ADD_FAILURE() << "snapshot did not end";
        return results;
    }

    static Loaded parse(const std::string &data)
    {
        Loaded l;
        rdb_load_hooks h = {};
        h.key = load_key;
        h.aux = load_aux;
        h.checksum = load_checksum;
        char err[256] = "";
        size_t off = 0;
        int rc = rdb_file_load_hooks(reinterpret_cast<const unsigned char *>(data.data()), data.size(), &h, &l, err,
                                     sizeof err, &off);
        EXPECT_EQ(rc, 0) << err << " at " << off;
        return l;
    }

    // The whole-stream check: a valid RDB with both shards' keys.
    void expect_rdb(const std::string &data, const std::map<std::string, std::string> &want)
    {
        ASSERT_GT(data.size(), 9u + 9u);
        EXPECT_EQ(data.substr(0, 9), "REDIS0010");
        EXPECT_EQ((unsigned char)data[data.size() - 9], RDB_OPCODE_EOF);
        uint64_t crc = rk_crc64(0, data.data(), data.size() - 8);
        uint64_t stored = 0;
        for (int i = 0; i < 8; i++)
            stored |= (uint64_t)(unsigned char)data[data.size() - 8 + i] << (8 * i);
        EXPECT_EQ(stored, crc) << "CRC-64 over everything before it, as in a file";
        Loaded l = parse(data);
        EXPECT_EQ(l.checksum, 1);
        EXPECT_EQ(l.val.size(), want.size());
        EXPECT_TRUE(l.val == want);
    }

    std::string dir_, cwd_;
    uint64_t job_ = 500;
    int aborts_[2] = {0, 0};
};

TEST_F(ReplSnapshotTest, StreamsOneRdbOfEveryShardToASocket)
{
    populate(0, 15000);
    populate(1, 12000);
    auto want = expected_values();
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    Reader rd(sv[0]);
    char err[160] = "";
    rdb_sink *k = start_stream(sv[1], err, sizeof err);
    ASSERT_NE(k, nullptr) << err;
    cut_and_start(k, 4242);
    auto res = pump();
    ASSERT_EQ(res.size(), 1u);
    EXPECT_TRUE(res[0].ok) << res[0].err;
    EXPECT_EQ(res[0].job, job_);
    rd.join();
    EXPECT_TRUE(rd.eof) << "the sink closes its end when done";
    EXPECT_FALSE(rd.timed_out);
    EXPECT_EQ(res[0].bytes, rd.data.size());
    EXPECT_GT(rd.data.size(), 2u * SNAP_CHUNK_BYTES);
    expect_rdb(rd.data, want);
    Loaded l = parse(rd.data);
    // Redis 7.0's rdbSaveInfoAuxFields with replication info, in its order.
    std::vector<std::string> order = {"redis-ver", "redis-bits", "ctime",       "used-mem",
                                      "repl-stream-db", "repl-id", "repl-offset", "aof-base"};
    EXPECT_EQ(l.aux_order, order);
    EXPECT_EQ(l.aux["repl-id"], kReplId);
    EXPECT_EQ(l.aux["repl-offset"], "4242");
    EXPECT_EQ(l.aux["repl-stream-db"], "0");
    EXPECT_EQ(l.aux["aof-base"], "0");
    EXPECT_EQ(aborts_[0] + aborts_[1], 0);
}

// repl_offset unknown (-1): the three replication fields are left out, as
// Redis writes an RDB without replication info.
TEST_F(ReplSnapshotTest, NoReplicationFieldsWithoutAnOffset)
{
    populate(0, 100);
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    Reader rd(sv[0]);
    char err[160] = "";
    rdb_sink *k = start_stream(sv[1], err, sizeof err);
    ASSERT_NE(k, nullptr) << err;
    auto want = expected_values();
    cut_and_start(k, -1);
    auto res = pump();
    ASSERT_EQ(res.size(), 1u);
    EXPECT_TRUE(res[0].ok) << res[0].err;
    rd.join();
    expect_rdb(rd.data, want);
    Loaded l = parse(rd.data);
    std::vector<std::string> order = {"redis-ver", "redis-bits", "ctime", "used-mem", "aof-base"};
    EXPECT_EQ(l.aux_order, order);
}

// A non-blocking descriptor with a tiny send buffer and a slow reader:
// EAGAIN waits for room, short writes continue; the bytes are the same.
TEST_F(ReplSnapshotTest, NonBlockingDescriptorWithSlowReader)
{
    populate(0, 8000);
    populate(1, 8000);
    auto want = expected_values();
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
    int small = 4096;
    ASSERT_EQ(setsockopt(sv[1], SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    Reader rd(sv[0], SIZE_MAX, 1000);
    char err[160] = "";
    rdb_sink *k = start_stream(sv[1], err, sizeof err);
    ASSERT_NE(k, nullptr) << err;
    cut_and_start(k, 7);
    auto res = pump();
    ASSERT_EQ(res.size(), 1u);
    EXPECT_TRUE(res[0].ok) << res[0].err;
    rd.join();
    EXPECT_TRUE(rd.eof);
    EXPECT_EQ(res[0].bytes, rd.data.size());
    expect_rdb(rd.data, want);
}

// A pipe is written with write(); the stream is the same.
TEST_F(ReplSnapshotTest, StreamsToAPipe)
{
    populate(1, 6000);
    auto want = expected_values();
    int p[2];
    ASSERT_EQ(pipe2(p, O_CLOEXEC), 0);
    Reader rd(p[0]);
    char err[160] = "";
    rdb_sink *k = start_stream(p[1], err, sizeof err);
    ASSERT_NE(k, nullptr) << err;
    cut_and_start(k, 0);
    auto res = pump();
    ASSERT_EQ(res.size(), 1u);
    EXPECT_TRUE(res[0].ok) << res[0].err;
    rd.join();
    EXPECT_TRUE(rd.eof);
    expect_rdb(rd.data, want);
}

// The reader hangs up mid-stream (the replicas left): the write fails with
// EPIPE, the sink fails naming it, asks both shards to stop early, and
// still closes its descriptor.
TEST_F(ReplSnapshotTest, ReaderHangingUpFailsTheSink)
{
    populate(0, 40000);
    populate(1, 40000);
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    Reader rd(sv[0], 100000);
    char err[160] = "";
    rdb_sink *k = start_stream(sv[1], err, sizeof err);
    ASSERT_NE(k, nullptr) << err;
    cut_and_start(k, 1);
    auto res = pump();
    ASSERT_EQ(res.size(), 1u);
    EXPECT_FALSE(res[0].ok);
    EXPECT_NE(res[0].err.find("writing the replication stream: Broken pipe"), std::string::npos) << res[0].err;
    EXPECT_EQ(aborts_[0], 1);
    EXPECT_EQ(aborts_[1], 1);
    rd.join();
    EXPECT_EQ(rd.data.size(), 100000u);
    errno = 0;
    EXPECT_EQ(fcntl(sv[1], F_GETFD), -1) << "the sink closes its descriptor on failure too";
    EXPECT_EQ(errno, EBADF);
}

// A descriptor that is not open is refused at the start (nothing runs).
TEST_F(ReplSnapshotTest, StartRefusesABadDescriptor)
{
    int sv[2];
    ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    close(sv[0]);
    close(sv[1]);
    char err[160] = "";
    EXPECT_EQ(start_stream(sv[1], err, sizeof err), nullptr);
    EXPECT_NE(std::string(err).find("descriptor"), std::string::npos) << err;
}

} // namespace
