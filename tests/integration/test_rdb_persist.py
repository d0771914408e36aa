"""RDB persistence of ringkv itself (issue 4): SAVE then a restart in the same
dir gives back every type and encoding (both sides of the compact thresholds,
with and without TTLs, several databases, both shards), also with
rdbcompression/rdbchecksum off; BGSAVE, LASTSAVE, INFO persistence counters,
save points, SHUTDOWN SAVE/NOSAVE, SIGTERM, DEBUG RELOAD, a second BGSAVE
while one runs, SAVE inside MULTI, -LOADING during a long start-up load.

fill_all_types / dataset / check_loaded are also used by test_rdb_interop.py.
Expected behaviour is Redis 7.0.15's (Debian's redis-server), checked by hand."""

import os
import signal
import socket
import time

import pytest
import redis

from conftest import keys_on_shard, persistence, raw, value_of, wait_bgsave_done, wait_exit

# Run in the io_uring stage only (scripts/test.sh): file formats and persistence logic.
pytestmark = pytest.mark.once

DBS = (0, 1, 7, 15)
# one hash tag per shard, so every key name exists on both shards
TAGS = tuple("{%s}" % keys_on_shard(shard, 1, "tag")[0] for shard in (0, 1))
TTL_TOLERANCE_MS = 5000
MULTI_SAVE_ERR = "Command not allowed inside a transaction"
BGSAVE_BUSY = "Background save already in progress"
LOADING = "LOADING Redis is loading the dataset in memory"
# Redis 7.0 defaults to 512 hash entries, ringkv to 128: say it explicitly so the
# encodings below do not depend on that default (reported separately).
THRESHOLDS = {"hash_max_listpack_entries": 128}
LOADING_FIELDS = ("loading_start_time", "loading_total_bytes", "loading_rdb_used_mem",
                  "loading_loaded_bytes", "loading_loaded_perc", "loading_eta_seconds")
BIG_KEYS = 800000           # DEBUG POPULATE ... pad 100: about 130 MB


def fill_all_types(c, suffix=""):
    """Writes one key per type and encoding into client `c`'s database;
    returns {key: expected OBJECT ENCODING, or None where ringkv is known to
    differ from Redis (README: sets of integers outside [0, 2^32))}.
    Thresholds: embstr <= 44 bytes, listpack hashes and zsets <= 128 entries
    of <= 64 bytes (THRESHOLDS for hashes), intsets <= 512 entries."""
    k = lambda name: name + suffix
    exp = {}

    def put(name, enc, fn):
        fn(k(name))
        exp[k(name)] = enc

    put("s_int", "int", lambda key: c.set(key, "12345"))
    put("s_llmin", "int", lambda key: c.set(key, "-9223372036854775808"))
    put("s_llmax", "int", lambda key: c.set(key, "9223372036854775807"))
    put("s_overflow", "embstr", lambda key: c.set(key, "92233720368547758070"))
    put("s_lead0", "embstr", lambda key: c.set(key, "007"))
    put("s_empty", "embstr", lambda key: c.set(key, ""))
    put("s_short", "embstr", lambda key: c.set(key, "hello"))
    put("s_emb21", "embstr", lambda key: c.set(key, "a" * 21))         # >20: LZF candidate
    put("s_emb44", "embstr", lambda key: c.set(key, "xy" * 22))
    put("s_raw45", "raw", lambda key: c.set(key, "z" * 45))
    put("s_lzf", "raw", lambda key: c.set(key, "abc" * 300))
    put("s_bin", "raw", lambda key: c.set(key, bytes(range(256)) + os.urandom(200)))
    put("s_float", "embstr", lambda key: c.set(key, "3.14159"))
    put("l_small", "quicklist", lambda key: c.rpush(key, "a", "1", "-300", "x" * 100, ""))
    put("l_big", "quicklist", lambda key: c.rpush(key, *["element-%d" % i for i in range(5000)]))
    put("l_fat", "quicklist", lambda key: c.rpush(key, "y" * 20000, "small", "q" * 9000))
    put("h_small", "listpack", lambda key: c.hset(key, mapping={"f1": "v1", "f2": "22"}))
    put("h_lp128", "listpack",
        lambda key: c.hset(key, mapping={"f%d" % i: "v%d" % i for i in range(128)}))
    put("h_ht129", "hashtable",
        lambda key: c.hset(key, mapping={"f%d" % i: "v%d" % i for i in range(129)}))
    put("h_val64", "listpack", lambda key: c.hset(key, mapping={"f": "v" * 64, "g": 1}))
    put("h_val65", "hashtable", lambda key: c.hset(key, mapping={"f": "v" * 65, "g": 1}))
    put("set_int", "intset", lambda key: c.sadd(key, 3, 1, 2, 70000, 2 ** 31))
    put("set_int512", "intset", lambda key: c.sadd(key, *range(512)))
    put("set_int513", "hashtable", lambda key: c.sadd(key, *range(513)))
    put("set_str", "hashtable", lambda key: c.sadd(key, "x", "y", "zz"))
    put("set_big", "hashtable", lambda key: c.sadd(key, *["m%d" % i for i in range(1000)]))
    put("set_neg", None, lambda key: c.sadd(key, -5, 1, 2 ** 40))
    put("z_small", "listpack", lambda key: c.zadd(key, {"a": 1, "b": 2.5, "c": -1, "d": 1e300}))
    put("z_inf", "listpack",
        lambda key: c.zadd(key, {"lo": float("-inf"), "hi": float("inf"), "mid": 0}))
    put("z_lp128", "listpack", lambda key: c.zadd(key, {"m%d" % i: i * 0.5 for i in range(128)}))
    put("z_sl129", "skiplist", lambda key: c.zadd(key, {"m%d" % i: i / 3 - 20 for i in range(129)}))
    put("z_long", "skiplist", lambda key: c.zadd(key, {"m" * 65: 1, "b": 2}))
    return exp


def dataset(make_client, dbs=DBS):
    """Fills every database in `dbs` on both shards; half of the keys (all of
    the last database's) get TTLs. make_client(db) -> redis client.
    Returns {(db, key): expected encoding}."""
    expected = {}
    for n, db in enumerate(dbs):
        c = make_client(db)
        for t, tag in enumerate(TAGS):
            enc = fill_all_types(c, suffix=tag)
            for i, key in enumerate(sorted(enc)):
                if t == 1 or n == len(dbs) - 1:
                    # TTLs between 1000 s and 2000 s, distinct per key
                    c.pexpire(key, 1000000 + 97 * i + 1000 * n)
                expected[(db, key)] = enc[key]
        c.close()
    return expected


def state(make_client, dbs=DBS):
    """{(db, key): (type, value, pttl)} for every key of `dbs`."""
    out = {}
    for db in dbs:
        c = make_client(db)
        for key in c.scan_iter(count=1000):
            key = key.decode()
            out[(db, key)] = value_of(c, key) + (c.pttl(key),)
        c.close()
    return out


def digest(c):
    return c.execute_command("DEBUG", "DIGEST")


def check_loaded(before, make_client, expected_enc, elapsed_ms, dbs=DBS):
    """The loaded server holds exactly `before`'s keys and values, TTLs within
    tolerance, and the expected encodings."""
    after = state(make_client, dbs)
    assert sorted(after) == sorted(before)
    for dk, (t, value, pttl) in before.items():
        t2, value2, pttl2 = after[dk]
        assert (t2, value2) == (t, value), dk
        if pttl == -1:
            assert pttl2 == -1, dk
        else:
            assert pttl - elapsed_ms - TTL_TOLERANCE_MS <= pttl2 <= pttl, (dk, pttl, pttl2)
    for (db, key), enc in expected_enc.items():
        if enc is None:
            continue
        c = make_client(db)
        assert c.object("encoding", key).decode() == enc, (db, key)
        c.close()


def client_factory(server):
    return lambda db: server.client(db=db)


def call(c, *args):
    """A command's reply or its error text (as str), without redis-py's
    per-command reply conversions."""
    try:
        return raw(c, *args)
    except redis.ResponseError as e:
        return "ERR:" + str(e)


# ---- round trip ---------------------------------------------------------------

@pytest.mark.parametrize("options", [{}, {"rdbcompression": "no"}, {"rdbchecksum": "no"}],
                         ids=["default", "rdbcompression-no", "rdbchecksum-no"])
def test_save_restart_round_trip(start_server, server_in_dir, options):
    first = start_server(save="", **THRESHOLDS, **options)
    expected = dataset(client_factory(first))
    c = first.client()
    before_digest = digest(c)
    before = state(client_factory(first))
    assert c.save() is True
    c.close()
    t0 = time.monotonic()
    first.stop()
    data = (first.dir / "dump.rdb").read_bytes()
    assert data.startswith(b"REDIS0010"), data[:16]
    if options.get("rdbchecksum") == "no":
        assert data[-8:] == b"\0" * 8
    else:
        assert data[-8:] != b"\0" * 8
    # "abc" * 300 is stored LZF-compressed unless compression is off
    assert (b"abc" * 300 in data) == (options.get("rdbcompression") == "no")

    second = server_in_dir(first.dir, save="", **THRESHOLDS, **options)
    c = second.client()
    assert digest(c) == before_digest
    check_loaded(before, client_factory(second), expected, int((time.monotonic() - t0) * 1000))
    info = persistence(c)
    assert info["loading"] == 0
    assert info["rdb_changes_since_last_save"] == 0
    c.close()


@pytest.mark.smoke
def test_small_round_trip_and_expired_keys_dropped(start_server, server_in_dir):
    first = start_server(save="")
    c = first.client()
    for shard in (0, 1):
        for i, key in enumerate(keys_on_shard(shard, 20, "rt")):
            c.set(key, "v%d" % i)
        c.set(keys_on_shard(shard, 1, "short")[0], "gone", px=300)
    assert c.dbsize() == 42
    assert c.save() is True
    time.sleep(0.5)          # the two short keys are in the file, already expired
    c.close()
    first.stop()
    second = server_in_dir(first.dir, save="")
    c = second.client()
    assert c.dbsize() == 40
    for shard in (0, 1):
        assert c.exists(keys_on_shard(shard, 1, "short")[0]) == 0
        assert c.get(keys_on_shard(shard, 20, "rt")[7]) == b"v7"
    c.close()


def test_dbfilename_and_dir(start_server, server_in_dir, tmp_path):
    other = tmp_path / "elsewhere"
    other.mkdir()
    first = start_server(save="", dir=str(other), dbfilename="snap.rdb")
    c = first.client()
    assert c.config_get("dbfilename") == {"dbfilename": "snap.rdb"}
    assert c.config_get("dir") == {"dir": str(other)}
    c.set("a", "1")
    assert c.save() is True
    assert (other / "snap.rdb").exists()
    assert not (other / "dump.rdb").exists()
    assert not (first.dir / "snap.rdb").exists()
    # Redis 7.0 protects both (enable-protected-configs no)
    for name in ("dir", "dbfilename"):
        assert call(c, "CONFIG", "SET", name, "x") == \
            "ERR:CONFIG SET failed (possibly related to argument '%s') - can't set protected config" % name
    c.close()
    first.stop()
    second = server_in_dir(first.dir, save="", dir=str(other), dbfilename="snap.rdb")
    c = second.client()
    assert c.get("a") == b"1"
    c.close()


# ---- BGSAVE, LASTSAVE, INFO -------------------------------------------------------

def test_bgsave_lastsave_and_info_counters(start_server, server_in_dir):
    srv = start_server(save="")
    c = srv.client()
    info = persistence(c)
    assert info["rdb_bgsave_in_progress"] == 0
    assert info["rdb_last_bgsave_status"] == "ok"
    assert info["rdb_current_bgsave_time_sec"] == -1
    for field in ("rdb_changes_since_last_save", "rdb_last_save_time", "rdb_saves",
                  "rdb_last_cow_size", "rdb_last_bgsave_time_sec", "loading"):
        assert field in info, field
    saves0 = info["rdb_saves"]
    last0 = c.lastsave()
    assert info["rdb_last_save_time"] == int(last0.timestamp())
    changes0 = info["rdb_changes_since_last_save"]

    for i in range(50):
        c.set("key:%d" % i, i)
    c.hset("h", mapping={"a": 1, "b": 2})
    assert persistence(c)["rdb_changes_since_last_save"] == changes0 + 52

    time.sleep(1.1)          # LASTSAVE has a resolution of one second
    assert call(c, "BGSAVE") == b"Background saving started"
    info = wait_bgsave_done(c)
    assert info["rdb_last_bgsave_status"] == "ok", info
    assert info["rdb_saves"] == saves0 + 1, info
    assert info["rdb_changes_since_last_save"] == 0, info
    assert info["rdb_last_bgsave_time_sec"] >= 0
    assert info["rdb_current_bgsave_time_sec"] == -1
    assert info["rdb_last_cow_size"] >= 0
    last1 = c.lastsave()
    assert last1 > last0
    assert info["rdb_last_save_time"] == int(last1.timestamp())
    assert (srv.dir / "dump.rdb").exists()
    # the temp file was renamed over dump.rdb, nothing else is left
    assert sorted(os.listdir(srv.dir)) == ["dump.rdb", "server.log"]

    c.set("after", "x")
    assert persistence(c)["rdb_changes_since_last_save"] == 1
    time.sleep(1.1)
    assert c.save() is True
    info = persistence(c)
    assert info["rdb_saves"] == saves0 + 2, info
    assert info["rdb_changes_since_last_save"] == 0, info
    assert c.lastsave() > last1
    # SCHEDULE with nothing running starts one at once, as in Redis
    assert call(c, "BGSAVE", "SCHEDULE") == b"Background saving started"
    assert wait_bgsave_done(c)["rdb_saves"] == saves0 + 3
    assert call(c, "BGSAVE", "NOW") == "ERR:syntax error"
    c.close()
    srv.stop()
    again = server_in_dir(srv.dir, save="")
    c = again.client()
    assert c.dbsize() == 52
    assert c.get("after") == b"x"
    c.close()


def test_save_points_trigger_bgsave(start_server):
    srv = start_server(save=["1", "1"])
    c = srv.client()
    assert c.config_get("save") == {"save": "1 1"}
    saves0 = persistence(c)["rdb_saves"]
    time.sleep(1.1)         # the save point counts seconds since the last save
    c.set("k", "v")
    deadline = time.monotonic() + 3.0
    while persistence(c)["rdb_saves"] == saves0:
        assert time.monotonic() < deadline, "no automatic save within 3 s of a write"
        time.sleep(0.05)
    info = wait_bgsave_done(c)
    assert info["rdb_changes_since_last_save"] == 0
    assert (srv.dir / "dump.rdb").exists()

    assert c.config_set("save", "")
    assert c.config_get("save") == {"save": ""}
    saves1 = info["rdb_saves"]
    c.set("k2", "v")
    time.sleep(2.5)
    info = persistence(c)
    assert info["rdb_saves"] == saves1
    assert info["rdb_changes_since_last_save"] == 1
    c.close()


# ---- SHUTDOWN and signals ---------------------------------------------------------

def shutdown(srv, *args):
    c = srv.client()
    with pytest.raises(redis.ConnectionError):
        c.execute_command("SHUTDOWN", *args)
    c.close()
    assert wait_exit(srv) == 0


def test_shutdown_save_and_nosave(start_server, server_in_dir):
    # SHUTDOWN SAVE saves even without save points
    srv = start_server(save="")
    srv.client().set("a", "1")
    shutdown(srv, "SAVE")
    assert (srv.dir / "dump.rdb").exists()
    again = server_in_dir(srv.dir, save="")
    assert again.client().get("a") == b"1"
    again.stop()

    # SHUTDOWN NOSAVE does not save even with save points
    srv = start_server(save=["3600", "1"])
    srv.client().set("a", "1")
    shutdown(srv, "NOSAVE")
    assert not (srv.dir / "dump.rdb").exists()

    # plain SHUTDOWN saves when save points exist
    srv = start_server(save=["3600", "1"])
    srv.client().set("b", "2")
    shutdown(srv)
    assert (srv.dir / "dump.rdb").exists()
    again = server_in_dir(srv.dir, save="")
    assert again.client().get("b") == b"2"


@pytest.mark.smoke
def test_sigterm_saves_only_with_save_points(start_server, server_in_dir):
    srv = start_server(save=["3600", "1"])
    srv.client().set("a", "1")
    srv.stop()               # SIGTERM, checked exit code 0
    assert (srv.dir / "dump.rdb").exists()
    again = server_in_dir(srv.dir, save="")
    assert again.client().get("a") == b"1"

    srv = start_server(save="")
    srv.client().set("a", "1")
    srv.stop()
    assert not (srv.dir / "dump.rdb").exists()


def test_debug_reload_keeps_digest(start_server):
    srv = start_server(save="", **THRESHOLDS)
    expected = dataset(client_factory(srv), dbs=(0, 5))
    c = srv.client()
    before_digest = digest(c)
    before = state(client_factory(srv), dbs=(0, 5))
    t0 = time.monotonic()
    assert c.execute_command("DEBUG", "RELOAD") in (b"OK", "OK", True)
    assert digest(c) == before_digest
    check_loaded(before, client_factory(srv), expected, int((time.monotonic() - t0) * 1000),
                 dbs=(0, 5))
    assert (srv.dir / "dump.rdb").exists()
    c.close()


# ---- concurrency with a long save ---------------------------------------------------

def test_bgsave_busy_and_loading(start_server, server_in_dir):
    """Over a hundred MB, so that BGSAVE and the start-up load take a while
    (no DEBUG DIGEST here: it takes seconds per million keys)."""
    srv = start_server(save="")
    c = srv.client(socket_timeout=60)
    c.execute_command("DEBUG", "POPULATE", BIG_KEYS, "pad", 100)
    c.set("marker", "m")
    sample = ["pad:%d" % i for i in range(0, BIG_KEYS, 9973)]
    expect_sample = c.mget(sample)
    assert call(c, "BGSAVE") == b"Background saving started"
    assert call(c, "BGSAVE") == "ERR:" + BGSAVE_BUSY
    # 7.0 schedules only behind an AOF rewrite, not behind another BGSAVE
    assert call(c, "BGSAVE", "SCHEDULE") == "ERR:" + BGSAVE_BUSY
    assert call(c, "SAVE") == "ERR:" + BGSAVE_BUSY
    info = persistence(c)
    assert info["rdb_bgsave_in_progress"] == 1, "BGSAVE of %d keys ended too fast to test" % BIG_KEYS
    assert info["rdb_current_bgsave_time_sec"] >= 0
    # the server keeps serving while it saves
    assert c.ping() is True
    assert c.get("marker") == b"m"
    info = wait_bgsave_done(c, timeout=60)
    assert info["rdb_last_bgsave_status"] == "ok"
    c.close()
    srv.stop()

    dump_size = (srv.dir / "dump.rdb").stat().st_size
    loader = server_in_dir(srv.dir, wait=False, save="")
    replies = set()
    loading_info = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert loader.is_running(), loader.log_text()[-3000:]
        try:
            with socket.create_connection((loader.host, loader.port), timeout=1.0) as s:
                s.settimeout(5.0)
                s.sendall(b"*1\r\n$4\r\nPING\r\n")
                line = s.recv(256).split(b"\r\n")[0].decode()
        except OSError:
            time.sleep(0.01)
            continue
        replies.add(line)
        if line == "+PONG":
            break
        assert line == "-" + LOADING, line
        if loading_info is None:
            loading_info = info_while_loading(loader)
        time.sleep(0.01)
    assert "+PONG" in replies, replies
    assert loading_info is not None, "INFO never showed loading:1"
    for field in LOADING_FIELDS:
        assert field in loading_info, (field, loading_info)
    assert 0 <= float(loading_info["loading_loaded_perc"]) <= 100
    assert int(loading_info["loading_total_bytes"]) == dump_size
    assert "-" + LOADING in replies, "a start-up load of %d keys was never observed (%s)" % (BIG_KEYS, replies)
    c = loader.client(socket_timeout=60)
    assert c.dbsize() == BIG_KEYS + 1
    assert c.mget(sample) == expect_sample
    assert c.get("marker") == b"m"
    info = persistence(c)
    assert info["loading"] == 0
    c.close()


def info_while_loading(server):
    """INFO persistence (allowed while loading) as a dict when it says
    loading:1, else None."""
    with server.raw() as conn:
        text = conn.call("INFO", "persistence").decode()
    fields = dict(line.split(":", 1) for line in text.split("\r\n") if ":" in line)
    return fields if fields.get("loading") == "1" else None


def test_save_inside_multi_refused(start_server):
    srv = start_server(save="")
    with srv.raw() as conn:
        assert conn.call("MULTI") == "OK"
        assert conn.call("SET", "k", "v") == "QUEUED"
        reply = conn.send("SAVE") or conn.read()
        assert str(reply) == "ERR " + MULTI_SAVE_ERR
        reply = conn.send("EXEC") or conn.read()
        assert str(reply).startswith("EXECABORT"), reply
    c = srv.client()
    assert c.exists("k") == 0
    assert persistence(c)["rdb_saves"] == 0
    c.close()
