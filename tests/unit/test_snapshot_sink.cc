// Unit tests for per-shard snapshot files (storage/snapshot.c with
// storage/rdb_sink.c's targets), as the AOF rewrite uses them: each shard
// snapshots into a sink of its own, writing an RDB base (header with
// aof-base, its keys, EOF, CRC) or a base of RESP commands; the result goes
// to the shard and message type the target names; a sink that cannot write
// aborts its shard's snapshot by the shard's real id; copy-on-write keeps
// the cut's values in the commands format too.
//
// The test thread plays both shards: it runs their snapshot slices and
// handles their mailboxes (chunks coming back, aborts, results), while the
// sinks run on their own threads as in the server.
#include <gtest/gtest.h>

#include <dirent.h>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
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
#include "storage/aof_export.h"
#include "storage/aof_file.h"
#include "storage/rdb_file.h"
#include "storage/rdb_sink.h"
#include "storage/rdb_value.h"
#include "storage/snapshot.h"
}

namespace {

rk_slice S(const std::string &s) { return rk_slice{s.data(), s.size()}; }
#include "rdb_test_values.h"

const int kDbs = 4;
// A result type of the test's own, as the AOF coordinator passes its own.
const int kAofResult = MSG_AOF_FIRST + 15;

typedef std::vector<std::string> Cmd;

// A save_result's contents (save_result itself holds an atomic: no copies).
struct Result {
    uint64_t job;
    int shard;
    int ok;
    uint64_t bytes;
    std::string err;
};

std::string read_file(const std::string &path)
{
    std::ifstream f(path, std::ios::binary);
    std::stringstream ss;
    ss << f.rdbuf();
    return ss.str();
}

std::vector<std::string> list_dir(const std::string &dir)
{
    std::vector<std::string> names;
    DIR *d = opendir(dir.c_str());
    if (!d)
        return names;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            names.push_back(e->d_name);
    closedir(d);
    return names;
}

std::vector<Cmd> parse_commands(const std::string &data)
{
    aof_reader r;
    aof_reader_init(&r, reinterpret_cast<const unsigned char *>(data.data()), data.size(), 0);
    std::vector<Cmd> out;
    int rc;
    while ((rc = aof_reader_next(&r)) == AOF_NEXT_CMD || rc == AOF_NEXT_ANNOTATION) {
        if (rc == AOF_NEXT_ANNOTATION)
            continue;
        Cmd c;
        for (int i = 0; i < r.cmd.argc; i++)
            c.emplace_back(r.cmd.argv[i], r.cmd.argvlen[i]);
        out.push_back(c);
    }
    EXPECT_EQ(rc, AOF_NEXT_END);
    aof_reader_release(&r);
    return out;
}

// The commands aof_export writes for one key, without the SELECT.
std::vector<Cmd> export_key(const std::string &key, rk_obj *o, long long expire_ms)
{
    rk_buf b;
    rk_buf_init(&b);
    aof_exporter x;
    aof_export_init(&x, &b, nullptr, nullptr);
    x.db = 0;
    EXPECT_EQ(aof_export_key(&x, 0, key.data(), key.size(), o, expire_ms), 0);
    std::string s(b.data ? b.data : "", b.len);
    rk_buf_free(&b);
    return parse_commands(s);
}

struct Loaded {
    std::map<std::string, std::string> val;  // "db:key" -> describe()
    std::map<std::string, long long> ttl;
    std::map<std::string, std::string> aux;
    int checksum = -1;
};

int load_key(void *ud, int dbid, const char *key, size_t klen, rk_obj *value, long long expire_ms)
{
    Loaded *l = static_cast<Loaded *>(ud);
    std::string k = std::to_string(dbid) + ":" + std::string(key, klen);
    l->val[k] = describe(value);
    if (expire_ms >= 0)
        l->ttl[k] = expire_ms;
    obj_free(value);
    return 0;
}

void load_aux(void *ud, size_t, const char *name, const char *val, size_t vlen)
{
    static_cast<Loaded *>(ud)->aux[name] = std::string(val, vlen);
}

void load_checksum(void *ud, size_t, int status)
{
    static_cast<Loaded *>(ud)->checksum = status;
}

class SnapshotSinkTest : public ::testing::Test {
protected:
    void SetUp() override
    {
        ASSERT_EQ(rk_alloc_thread_init(), 0);
        char tmpl[] = "/tmp/rk-snapsink-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
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
        for (const auto &n : list_dir(dir_))
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

    // A data set on shard sh that fills several chunks: strings in dbs 0
    // and 2 (some with TTLs), and a few collections in db 3.
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
        set(sh, 3, "list", make_list(items, -2), 4100000000000LL);
        set(sh, 3, "hash", make_hash(150));
        set(sh, 3, "set", make_set(items));
        set(sh, 3, "zset-sl", make_zset(200, true));
        set(sh, 3, "zset-lp", make_zset(10, false));
    }

    rdb_sink *start(int first, const std::string &name, int fmt, int result_type, int incremental = 0,
                    const std::string &dir = "", int timestamp = 0)
    {
        rdb_sink_target t = {};
        std::string d = dir.empty() ? dir_ : dir;
        t.dir = d.c_str();
        t.final_name = name.c_str();
        t.shard_first = first;
        t.nshards = 1;
        t.format = fmt;
        t.checksum = 1;
        t.incremental_fsync = incremental;
        t.result_shard = 0;
        t.result_type = result_type;
        t.aof_timestamp = timestamp;
        char err[128] = "";
        rdb_sink *k = rdb_sink_start_target(++job_, &t, err, sizeof err);
        EXPECT_NE(k, nullptr) << err;
        return k;
    }

    static void send_start(rdb_sink *k, int aof_base)
    {
        rdb_aux_info aux = {};
        aux.ctime = 1700000000;
        aux.aof_base = aof_base;
        snprintf(aux.repl_id, sizeof aux.repl_id, "%040d", 0);
        rdb_sink_send_start(k, &aux);
    }

    // Runs both shards' snapshot slices and mailboxes until `want` results
    // of result_type arrived and no snapshot runs. Bounded: 60 s.
    std::vector<Result> pump(int want, int result_type, void (*between)(SnapshotSinkTest *) = nullptr)
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
                        EXPECT_EQ(m->type, result_type);
                        EXPECT_EQ(i, 0) << "results go to the target's result_shard";
                        const save_result *r = reinterpret_cast<save_result *>(m);
                        results.push_back(Result{r->job, r->shard, r->ok, r->bytes, r->err});
                        free(m);
                    }
                }
            }
            if (between)
                between(this);
            if ((int)results.size() == want && !shard(0)->snap && !shard(1)->snap) {
                // Chunks given back before the results were sent are in already.
                for (int i = 0; i < 2; i++) {
                    for (rk_msg *m; (m = rk_mailbox_pop(&shard(i)->mailbox));) {
                        EXPECT_TRUE(m->type == MSG_SNAP_CHUNK_BACK || m->type == MSG_SNAP_ABORT);
                        snapshot_handle_msg(shard(i), m);
                    }
                }
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

    // What shard sh holds, as the RDB loader would describe it.
    std::map<std::string, std::string> expected_values(int sh)
    {
        std::map<std::string, std::string> m;
        for (int d = 0; d < kDbs; d++) {
            dict_iter it;
            dict_iter_init(&it, shard(sh)->dbs[d].keys, 0);
            for (dict_entry *e; (e = dict_next(&it));) {
                rk_slice k = rkstr_slice(static_cast<const rk_str *>(e->key));
                m[std::to_string(d) + ":" + std::string(k.ptr, k.len)] = describe(static_cast<rk_obj *>(e->v.val));
            }
            dict_iter_release(&it);
        }
        return m;
    }

    // The commands shard sh's keys export to, per "db:key".
    std::map<std::string, std::vector<Cmd>> expected_commands(int sh)
    {
        std::map<std::string, std::vector<Cmd>> m;
        for (int d = 0; d < kDbs; d++) {
            rk_db *db = &shard(sh)->dbs[d];
            dict_iter it;
            dict_iter_init(&it, db->keys, 0);
            for (dict_entry *e; (e = dict_next(&it));) {
                rk_slice k = rkstr_slice(static_cast<const rk_str *>(e->key));
                std::string key(k.ptr, k.len);
                int64_t exp = db_get_expire(db, k);
                m[std::to_string(d) + ":" + key] = export_key(key, static_cast<rk_obj *>(e->v.val), exp);
            }
            dict_iter_release(&it);
        }
        return m;
    }

    // A commands file split per "db:key" by following its SELECTs.
    static std::map<std::string, std::vector<Cmd>> commands_by_key(const std::string &data, int *selects)
    {
        std::map<std::string, std::vector<Cmd>> m;
        int db = -1;
        *selects = 0;
        for (const Cmd &c : parse_commands(data)) {
            if (c[0] == "SELECT") {
                EXPECT_NE(std::stoi(c[1]), db) << "a SELECT of the db already selected";
                db = std::stoi(c[1]);
                (*selects)++;
                continue;
            }
            EXPECT_GE(db, 0) << "a command before the first SELECT";
            EXPECT_GE(c.size(), 2u);
            m[std::to_string(db) + ":" + c[1]].push_back(c);
        }
        return m;
    }

    std::string dir_;
    uint64_t job_ = 100;
    int aborts_[2] = {0, 0};
};

TEST_F(SnapshotSinkTest, RdbBasePerShard)
{
    populate(1, 20000);
    auto want = expected_values(1);
    rdb_sink *k = start(1, "ao.s1.1.base.rdb", SINK_FMT_RDB, kAofResult, 1);
    ASSERT_NE(k, nullptr);
    ASSERT_EQ(snapshot_begin_fmt(shard(1), k, job_, SNAP_FMT_RDB), 0);
    send_start(k, 1);
    auto res = pump(1, kAofResult);
    ASSERT_EQ(res.size(), 1u);
    EXPECT_TRUE(res[0].ok) << res[0].err;
    EXPECT_EQ(res[0].job, job_);
    EXPECT_EQ(res[0].shard, 1);
    EXPECT_EQ(aborts_[1], 0);

    std::string data = read_file(dir_ + "/ao.s1.1.base.rdb");
    EXPECT_EQ(res[0].bytes, data.size());
    EXPECT_GT(data.size(), 2u * SNAP_CHUNK_BYTES); // several chunks
    Loaded l;
    rdb_load_hooks h = {};
    h.key = load_key;
    h.aux = load_aux;
    h.checksum = load_checksum;
    char err[256] = "";
    size_t off = 0;
    ASSERT_EQ(rdb_file_load_hooks(reinterpret_cast<const unsigned char *>(data.data()), data.size(), &h, &l, err,
                                  sizeof err, &off),
              0)
        << err << " at " << off;
    EXPECT_EQ(l.aux["aof-base"], "1");
    EXPECT_EQ(l.checksum, 1);
    EXPECT_EQ(l.val, want);
    EXPECT_EQ(l.ttl.size(), 20000u / 5 + 1);
    // Only the final file is left: the temporary one was renamed.
    EXPECT_EQ(list_dir(dir_), std::vector<std::string>{"ao.s1.1.base.rdb"});
}

TEST_F(SnapshotSinkTest, CommandsBasePerShard)
{
    populate(1, 20000);
    auto want = expected_commands(1);
    rdb_sink *k = start(1, "ao.s1.2.base.aof", SINK_FMT_COMMANDS, kAofResult);
    ASSERT_NE(k, nullptr);
    ASSERT_EQ(snapshot_begin_fmt(shard(1), k, job_, SNAP_FMT_COMMANDS), 0);
    send_start(k, 1);
    auto res = pump(1, kAofResult);
    ASSERT_EQ(res.size(), 1u);
    EXPECT_TRUE(res[0].ok) << res[0].err;
    EXPECT_EQ(res[0].shard, 1);

    std::string data = read_file(dir_ + "/ao.s1.2.base.aof");
    EXPECT_EQ(res[0].bytes, data.size());
    EXPECT_GT(data.size(), 2u * SNAP_CHUNK_BYTES);
    ASSERT_EQ(data.substr(0, 1), "*"); // no RDB header: commands from the first byte
    int selects = 0;
    auto got = commands_by_key(data, &selects);
    EXPECT_EQ(got.size(), want.size());
    EXPECT_TRUE(got == want);
    // Nothing changed during the walk: one SELECT per db with keys.
    EXPECT_EQ(selects, 3);
    EXPECT_EQ(list_dir(dir_), std::vector<std::string>{"ao.s1.2.base.aof"});
}

// Writes during the snapshot: overwrite, delete, new keys, TTL changes.
void mutate(SnapshotSinkTest *t);

struct MutateState {
    int round = 0;
};
MutateState g_mutate;

class SnapshotSinkCowTest : public SnapshotSinkTest {
public:
    void mutate_once()
    {
        int r = g_mutate.round++;
        if (r >= 2000 || !shard(1)->snap)
            return;
        rk_db *db0 = &shard(1)->dbs[0];
        std::string k = "k1:" + std::to_string(r * 9 % 20000);
        std::string v = "changed";
        if (r % 3 == 0) {
            db_delete(shard(1), db0, S(k));
        } else {
            rk_obj *o = obj_new_string(v.data(), v.size());
            if (db_set(shard(1), db0, S(k), o, 0) != 0)
                obj_free(o);
        }
        std::string nk = "new:" + std::to_string(r);
        db_set(shard(1), db0, S(nk), obj_new_string(v.data(), v.size()), 0);
        if (r == 5) {
            // A collection changed in place, as a command would: announced first.
            rk_db *db3 = &shard(1)->dbs[3];
            db_announce(db3, S(std::string("list")));
            rk_obj *l = db_lookup(shard(1), db3, S(std::string("list")), 0);
            ASSERT_NE(l, nullptr);
            ASSERT_EQ(ql_push(static_cast<quicklist *>(l->u.ptr), "tail", 4, QL_TAIL), 0);
        }
    }
};

void mutate(SnapshotSinkTest *t) { static_cast<SnapshotSinkCowTest *>(t)->mutate_once(); }

TEST_F(SnapshotSinkCowTest, CommandsKeepTheCut)
{
    populate(1, 20000);
    auto want = expected_commands(1);
    rdb_sink *k = start(1, "ao.s1.3.base.aof", SINK_FMT_COMMANDS, kAofResult);
    ASSERT_NE(k, nullptr);
    ASSERT_EQ(snapshot_begin_fmt(shard(1), k, job_, SNAP_FMT_COMMANDS), 0);
    g_mutate.round = 0;
    mutate(this); // before the sink even started
    send_start(k, 1);
    auto res = pump(1, kAofResult, mutate);
    ASSERT_EQ(res.size(), 1u);
    EXPECT_TRUE(res[0].ok) << res[0].err;
    EXPECT_GT(g_mutate.round, 1);
    int selects = 0;
    auto got = commands_by_key(read_file(dir_ + "/ao.s1.3.base.aof"), &selects);
    EXPECT_EQ(got.size(), want.size());
    EXPECT_TRUE(got == want) << "the file must hold the keys exactly as at the cut";
}

// Larger than RDB_SINK_AUTOSYNC_BYTES, with incremental fsync: the file is
// the same, the fdatasyncs in between change nothing in it.
TEST_F(SnapshotSinkTest, IncrementalFsyncBigBase)
{
    std::string big(4096, 'b');
    for (int i = 0; i < 3000; i++) {
        std::string v = big + std::to_string(i);
        set(0, i % kDbs, "big:" + std::to_string(i), obj_new_string_noint(v.data(), v.size()));
    }
    auto want = expected_commands(0);
    rdb_sink *k = start(0, "ao.s0.6.base.aof", SINK_FMT_COMMANDS, kAofResult, 1, "", 1);
    ASSERT_NE(k, nullptr);
    ASSERT_EQ(snapshot_begin_fmt(shard(0), k, job_, SNAP_FMT_COMMANDS), 0);
    send_start(k, 1);
    auto res = pump(1, kAofResult);
    ASSERT_EQ(res.size(), 1u);
    EXPECT_TRUE(res[0].ok) << res[0].err;
    EXPECT_GT(res[0].bytes, 2ull * RDB_SINK_AUTOSYNC_BYTES);
    std::string data = read_file(dir_ + "/ao.s0.6.base.aof");
    EXPECT_EQ(data.substr(0, 16), "#TS:1700000000\r\n") << "aof-timestamp-enabled opens the base";
    int selects = 0;
    auto got = commands_by_key(data, &selects);
    EXPECT_TRUE(got == want);
}

TEST_F(SnapshotSinkTest, TwoSinksAtOnceReportSeparately)
{
    populate(0, 5000);
    populate(1, 7000);
    auto want0 = expected_values(0), want1 = expected_values(1);
    rdb_sink *k0 = start(0, "ao.s0.4.base.rdb", SINK_FMT_RDB, MSG_SAVE_RESULT);
    uint64_t job0 = job_;
    rdb_sink *k1 = start(1, "ao.s1.4.base.rdb", SINK_FMT_RDB, MSG_SAVE_RESULT);
    uint64_t job1 = job_;
    ASSERT_TRUE(k0 && k1);
    ASSERT_EQ(snapshot_begin_fmt(shard(0), k0, job0, SNAP_FMT_RDB), 0);
    ASSERT_EQ(snapshot_begin_fmt(shard(1), k1, job1, SNAP_FMT_RDB), 0);
    send_start(k1, 1);
    send_start(k0, 1);
    auto res = pump(2, MSG_SAVE_RESULT);
    ASSERT_EQ(res.size(), 2u);
    std::map<int, Result> by_shard;
    for (auto &r : res) {
        EXPECT_TRUE(r.ok) << r.err;
        by_shard[r.shard] = r;
    }
    ASSERT_EQ(by_shard.size(), 2u);
    EXPECT_EQ(by_shard[0].job, job0);
    EXPECT_EQ(by_shard[1].job, job1);
    const std::map<std::string, std::string> *want[2] = {&want0, &want1};
    for (int i = 0; i < 2; i++) {
        std::string data = read_file(dir_ + "/ao.s" + std::to_string(i) + ".4.base.rdb");
        Loaded l;
        rdb_load_hooks h = {};
        h.key = load_key;
        char err[256] = "";
        ASSERT_EQ(rdb_file_load_hooks(reinterpret_cast<const unsigned char *>(data.data()), data.size(), &h, &l,
                                      err, sizeof err, nullptr),
                  0)
            << err;
        EXPECT_EQ(l.val, *want[i]) << "shard " << i;
    }
}

TEST_F(SnapshotSinkTest, FailedSinkAbortsItsOwnShard)
{
    populate(1, 20000);
    rdb_sink *k = start(1, "ao.s1.5.base.rdb", SINK_FMT_RDB, kAofResult, 0, dir_ + "/missing-dir");
    ASSERT_NE(k, nullptr);
    ASSERT_EQ(snapshot_begin_fmt(shard(1), k, job_, SNAP_FMT_RDB), 0);
    send_start(k, 1);
    auto res = pump(1, kAofResult);
    ASSERT_EQ(res.size(), 1u);
    EXPECT_FALSE(res[0].ok);
    EXPECT_EQ(res[0].shard, 1);
    EXPECT_NE(res[0].err.find("opening the temp file"), std::string::npos) << res[0].err;
    EXPECT_NE(res[0].err.find("missing-dir/temp-"), std::string::npos) << res[0].err;
    EXPECT_EQ(aborts_[1], 1) << "the abort goes to the shard feeding the sink";
    EXPECT_EQ(aborts_[0], 0);
    EXPECT_TRUE(list_dir(dir_).empty());
}

// One snapshot per shard: a second one (a save while a rewrite runs) fails
// its own file with EBUSY and leaves the running one alone.
TEST_F(SnapshotSinkTest, SecondSnapshotOnAShardFailsItsSinkOnly)
{
    populate(1, 20000);
    auto want = expected_values(1);
    rdb_sink *a = start(1, "first.rdb", SINK_FMT_RDB, kAofResult);
    uint64_t job_a = job_;
    rdb_sink *b = start(1, "second.rdb", SINK_FMT_RDB, kAofResult);
    uint64_t job_b = job_;
    ASSERT_TRUE(a && b);
    ASSERT_EQ(snapshot_begin_fmt(shard(1), a, job_a, SNAP_FMT_RDB), 0);
    EXPECT_EQ(snapshot_begin_fmt(shard(1), b, job_b, SNAP_FMT_COMMANDS), -1);
    send_start(b, 0);
    send_start(a, 0);
    auto res = pump(2, kAofResult);
    ASSERT_EQ(res.size(), 2u);
    for (auto &r : res) {
        if (r.job == job_a) {
            EXPECT_TRUE(r.ok) << r.err;
        } else {
            EXPECT_EQ(r.job, job_b);
            EXPECT_FALSE(r.ok);
            EXPECT_NE(r.err.find("snapshot of shard 1: Device or resource busy"), std::string::npos) << r.err;
        }
    }
    std::string data = read_file(dir_ + "/first.rdb");
    Loaded l;
    rdb_load_hooks h = {};
    h.key = load_key;
    char err[256] = "";
    ASSERT_EQ(rdb_file_load_hooks(reinterpret_cast<const unsigned char *>(data.data()), data.size(), &h, &l, err,
                                  sizeof err, nullptr),
              0)
        << err;
    EXPECT_EQ(l.val, want);
    EXPECT_EQ(list_dir(dir_), std::vector<std::string>{"first.rdb"});
}

TEST_F(SnapshotSinkTest, LiveSinksAreBounded)
{
    std::vector<rdb_sink *> sinks;
    for (int i = 0; i < RDB_SINK_MAX_LIVE; i++) {
        rdb_sink *k = start(i % 2, "bound" + std::to_string(i), SINK_FMT_COMMANDS, kAofResult);
        ASSERT_NE(k, nullptr);
        sinks.push_back(k);
    }
    rdb_sink_target t = {};
    t.dir = dir_.c_str();
    t.final_name = "one-too-many";
    t.nshards = 1;
    t.format = SINK_FMT_COMMANDS;
    t.result_type = kAofResult;
    char err[128] = "";
    EXPECT_EQ(rdb_sink_start_target(999, &t, err, sizeof err), nullptr);
    EXPECT_NE(std::string(err).find("too many"), std::string::npos) << err;
    // End them all: an empty last chunk from each one's shard.
    for (size_t i = 0; i < sinks.size(); i++) {
        snap_chunk *c = static_cast<snap_chunk *>(calloc(1, sizeof *c));
        c->job = 101 + i;
        c->shard = (int)(i % 2);
        c->last = 1;
        rk_buf_init(&c->data);
        rdb_sink_send(sinks[i], c);
        send_start(sinks[i], 0);
    }
    auto res = pump((int)sinks.size(), kAofResult);
    EXPECT_EQ(res.size(), sinks.size());
    for (auto &r : res)
        EXPECT_TRUE(r.ok) << r.err;
    // The slots are free again.
    rdb_sink *k = start(0, "after", SINK_FMT_COMMANDS, kAofResult);
    ASSERT_NE(k, nullptr);
    snap_chunk *c = static_cast<snap_chunk *>(calloc(1, sizeof *c));
    c->job = job_;
    c->shard = 0;
    c->last = 1;
    rk_buf_init(&c->data);
    rdb_sink_send(k, c);
    send_start(k, 0);
    EXPECT_EQ(pump(1, kAofResult).size(), 1u);
}

} // namespace
