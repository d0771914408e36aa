"""Streams against Debian's redis-server fed the same commands: replies,
errors and XINFO must be equal (times and the internal node counts
normalized), groups and PELs included; XREAD/XREADGROUP BLOCK woken by an
XADD on the other shard; RDB/AOF restart and replicas; RDB and DUMP
payloads moved both ways between ringkv and redis-server."""
import random
import threading
import time

import pytest
import redis

from conftest import (RealRedis, Server, keys_on_shard, node_client, raw, replicaof, wait_converged,
                      wait_link_up, wait_until)

TIME_FIELDS = {b"seen-time", b"idle"}


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    ours = Server(tmp_path_factory.mktemp("streams"), directives={"shards": "2", "save": ""}).start()
    real = RealRedis(tmp_path_factory.mktemp("streams-real"))
    yield ours.client(), real.client()
    real.stop()
    ours.stop()


def normalize(rep, cmd):
    """Drops what legitimately differs: wall-clock times and rax internals."""
    name = " ".join(str(c).upper() for c in cmd[:2])
    if isinstance(rep, list):
        out = []
        i = 0
        while i < len(rep):
            item = rep[i]
            if isinstance(item, bytes) and i + 1 < len(rep) and item in (b"radix-tree-keys", b"radix-tree-nodes"):
                i += 2
                continue
            if isinstance(item, bytes) and i + 1 < len(rep) and item in TIME_FIELDS:
                out += [item, "time"]
                i += 2
                continue
            out.append(normalize(item, cmd))
            i += 1
        if name.startswith("XPENDING") and len(cmd) > 3 and out and all(isinstance(x, list) and len(x) == 4 for x in out):
            out = [[x[0], x[1], "idle", x[3]] for x in out]
        if name.startswith("XINFO STREAM") and "FULL" in [str(c).upper() for c in cmd]:
            out = normalize_full(out)
        return out
    return rep


def normalize_full(rep):
    """Delivery times in XINFO STREAM FULL's PELs are wall-clock."""
    def walk(x):
        if isinstance(x, list):
            if len(x) == 4 and isinstance(x[1], bytes) and isinstance(x[2], int) and isinstance(x[0], bytes) \
                    and b"-" in x[0]:
                return [x[0], x[1], "t", x[3]]
            if len(x) == 3 and isinstance(x[0], bytes) and b"-" in x[0] and isinstance(x[1], int):
                return [x[0], "t", x[2]]
            return [walk(y) for y in x]
        return x
    return walk(rep)


def first_diff(a, b, path=()):
    """Where two replies first differ (for assertion messages)."""
    if isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return first_diff(x, y, path + (i,))
        return path + ("len %d vs %d" % (len(a), len(b)),)
    return path + (a, b)


def both(pair, *cmd):
    out = []
    for c in pair:
        try:
            out.append(normalize(raw(c, *cmd), cmd))
        except redis.ResponseError as e:
            out.append(("error", str(e)))
    assert out[0] == out[1], (cmd, out)
    return out[0]


@pytest.mark.smoke
def test_entries_ranges_trim_and_errors(pair):
    for c in pair:
        c.flushall()
    both(pair, "XADD", "s", "1-1", "a", "1")
    both(pair, "XADD", "s", "1-*", "a", "2", "b", "3")
    for bad in (("XADD", "s", "1-1", "a", "1"), ("XADD", "s", "0-0", "a", "1"), ("XADD", "s", "x-1", "a", "1"),
                ("XADD", "s", "*", "a"), ("XADD", "s", "MAXLEN", "-1", "*", "a", "b"),
                ("XADD", "s", "MAXLEN", "1", "MINID", "1", "*", "a", "b"), ("XADD", "s", "LIMIT", "5", "*", "a", "b"),
                ("XADD", "s", "MAXLEN", "=", "5", "LIMIT", "5", "*", "a", "b"), ("XADD", "nokey", "NOMKSTREAM", "*", "a", "b"),
                ("XTRIM", "s", "FOO"), ("XTRIM", "s"), ("XRANGE", "s", "(-", "+"), ("XRANGE", "s", "-", "+", "COUNT"),
                ("XSETID", "nokey", "1-1"), ("XSETID", "s", "0-1"), ("XDEL", "s", "abc"), ("XLEN", "s", "x")):
        both(pair, *bad)
    rnd = random.Random(1)
    ms = 10
    for i in range(400):
        ms += rnd.choice((0, 1, 1, 5))
        fields = []
        for f in range(rnd.randrange(1, 4)):
            fields += ["f%d" % rnd.randrange(3), "v" * rnd.randrange(0, 30) + str(i)]
        both(pair, "XADD", "s", "%d-*" % ms, *fields)
    both(pair, "XLEN", "s")
    for _ in range(20):
        a, b = sorted((rnd.randrange(5, ms + 5), rnd.randrange(5, ms + 5)))
        both(pair, "XRANGE", "s", a, b)
        both(pair, "XRANGE", "s", "(%d-1" % a, "(%d-2" % b, "COUNT", rnd.randrange(0, 5))
        both(pair, "XREVRANGE", "s", b, "-", "COUNT", 3)
    both(pair, "XDEL", "s", "1-1", "12-0", "999999-0", "15-1")
    both(pair, "XINFO", "STREAM", "s")
    both(pair, "XTRIM", "s", "MAXLEN", "=", 350)
    both(pair, "XTRIM", "s", "MINID", "30-0")
    both(pair, "XADD", "s", "MAXLEN", "300", "%d-*" % (ms + 1), "k", "v")   # "*" would read each clock
    both(pair, "XLEN", "s")
    both(pair, "XRANGE", "s", "-", "+", "COUNT", 0)
    both(pair, "XRANGE", "nokey", "-", "+")
    both(pair, "XSETID", "s", "99999999-0", "ENTRIESADDED", 1000, "MAXDELETEDID", "5-0")
    both(pair, "XSETID", "s", "1-0")
    both(pair, "XINFO", "STREAM", "s")
    both(pair, "XINFO", "STREAM", "s", "FULL", "COUNT", 3)
    # An emptied stream keeps its metadata.
    both(pair, "XADD", "e", "5-5", "a", "b")
    both(pair, "XDEL", "e", "5-5")
    both(pair, "XINFO", "STREAM", "e")
    both(pair, "XADD", "e", "5-5", "a", "b")
    both(pair, "TYPE", "e")
    both(pair, "OBJECT", "ENCODING", "e")
    assert pair[0].execute_command("DEBUG", "DIGEST") == pair[1].execute_command("DEBUG", "DIGEST")


def test_consumer_groups(pair):
    for c in pair:
        c.flushall()
    for i in range(1, 30):
        both(pair, "XADD", "s", "%d-1" % i, "n", i)
    for cmd in (("XGROUP", "CREATE", "s", "g1", "0"), ("XGROUP", "CREATE", "s", "g1", "0"),
                ("XGROUP", "CREATE", "s", "g2", "$", "ENTRIESREAD", "5"), ("XGROUP", "CREATE", "nokey", "g", "$"),
                ("XGROUP", "CREATE", "mk", "g", "$", "MKSTREAM"), ("XGROUP", "CREATE", "s", "g3", "bad"),
                ("XGROUP", "CREATE", "s", "g4", "0", "ENTRIESREAD", "-5"),
                ("XREADGROUP", "GROUP", "g1", "alice", "COUNT", 3, "STREAMS", "s", ">"),
                ("XREADGROUP", "GROUP", "g1", "bob", "COUNT", 2, "STREAMS", "s", ">"),
                ("XREADGROUP", "GROUP", "g1", "alice", "STREAMS", "s", "0"),
                ("XREADGROUP", "GROUP", "g1", "alice", "COUNT", 1, "STREAMS", "s", "2-1"),
                ("XREADGROUP", "GROUP", "g1", "carol", "NOACK", "COUNT", 2, "STREAMS", "s", ">"),
                ("XPENDING", "s", "g1"), ("XPENDING", "s", "g1", "-", "+", 10), ("XPENDING", "s", "g1", "-", "+", 10, "bob"),
                ("XPENDING", "s", "g1", "IDLE", 0, "-", "+", 10), ("XPENDING", "s", "nog"), ("XPENDING", "s", "g1", "-", "+"),
                ("XACK", "s", "g1", "1-1", "2-1", "99-1"), ("XPENDING", "s", "g1"), ("XACK", "s", "nog", "1-1"),
                ("XCLAIM", "s", "g1", "dave", 0, "4-1", "JUSTID"), ("XCLAIM", "s", "g1", "dave", 0, "3-1", "RETRYCOUNT", 7),
                ("XCLAIM", "s", "g1", "dave", 0, "20-1", "FORCE", "JUSTID"), ("XCLAIM", "s", "g1", "dave", "x", "3-1"),
                ("XCLAIM", "s", "g1", "dave", 0, "3-1", "BOGUS"), ("XCLAIM", "s", "nog", "dave", 0, "3-1"),
                ("XAUTOCLAIM", "s", "g1", "erin", 0, "0", "COUNT", 2, "JUSTID"),
                ("XAUTOCLAIM", "s", "g1", "erin", 0, "0", "COUNT", 0), ("XAUTOCLAIM", "s", "nog", "erin", 0, "0"),
                ("XDEL", "s", "4-1"), ("XAUTOCLAIM", "s", "g1", "frank", 0, "0-0"),
                ("XGROUP", "CREATECONSUMER", "s", "g1", "gina"), ("XGROUP", "CREATECONSUMER", "s", "g1", "gina"),
                ("XGROUP", "DELCONSUMER", "s", "g1", "bob"), ("XGROUP", "DELCONSUMER", "s", "g1", "nobody"),
                ("XGROUP", "SETID", "s", "g2", "0", "ENTRIESREAD", "0"), ("XGROUP", "SETID", "s", "nog", "0"),
                ("XINFO", "GROUPS", "s"), ("XINFO", "CONSUMERS", "s", "g1"), ("XINFO", "CONSUMERS", "s", "nog"),
                ("XINFO", "STREAM", "s", "FULL"), ("XGROUP", "DESTROY", "s", "g2"), ("XGROUP", "DESTROY", "s", "g2"),
                ("XREADGROUP", "GROUP", "nog", "c", "STREAMS", "s", ">"),
                ("XREADGROUP", "GROUP", "g1", "c", "STREAMS", "s", "$"), ("XREAD", "STREAMS", "s", ">"),
                ("XREAD", "GROUP", "g", "c", "STREAMS", "s", "0"), ("XREADGROUP", "STREAMS", "s", "0"),
                ("XREAD", "COUNT", 2, "STREAMS", "s", "mk", "0", "0"), ("XREAD", "STREAMS", "s", "$"),
                ("XREAD", "STREAMS", "s"), ("XGROUP", "HELP"), ("XINFO", "HELP"), ("XGROUP", "NOPE"),
                ("XINFO", "STREAM", "nokey")):
        both(pair, *cmd)
    for name in ("xadd", "xrange", "xrevrange", "xlen", "xdel", "xtrim", "xread", "xreadgroup", "xack",
                 "xpending", "xclaim", "xautoclaim", "xsetid", "xgroup", "xinfo"):
        infos = [raw(c, "COMMAND", "INFO", name)[0] for c in pair]
        for spec in infos[1][8]:           # ringkv's key specs carry no notes
            if spec[:1] == [b"notes"]:
                del spec[:2]
        strip = lambda info: info[:7] + [info[8]]      # tips differ in form for containers
        assert strip(infos[0]) == strip(infos[1]), name


def test_blocking_reads_woken_from_the_other_shard(pair):
    ours, _ = pair
    ours.flushall()
    a = keys_on_shard(0, 1, "bs")[0]
    b = keys_on_shard(1, 1, "bs")[0]
    ours.xadd(a, {"x": 1}, id="1-1")
    got = {}

    def reader(name, *cmd):
        c = redis.Redis(host="127.0.0.1", port=ours.connection_pool.connection_kwargs["port"])
        got[name] = raw(c, *cmd)
        c.close()

    t1 = threading.Thread(target=reader, args=("xread", "XREAD", "BLOCK", 5000, "STREAMS", a, b, "$", "$"))
    t1.start()
    time.sleep(0.3)
    ours.xadd(a, {"old": 1})        # before: entries after $ on a also count
    t1.join(5)
    assert got["xread"][0][0] == a.encode()
    ours.xgroup_create(b, "g", id="$", mkstream=True)
    t2 = threading.Thread(target=reader, args=("group", "XREADGROUP", "GROUP", "g", "c", "BLOCK", 5000,
                                               "STREAMS", b, ">"))
    t2.start()
    time.sleep(0.3)
    writer = keys_on_shard(0, 1, "w")[0]    # a client whose own key is on the other shard
    ours.set(writer, 1)
    ours.xadd(b, {"new": 2}, id="7-7")
    t2.join(5)
    assert got["group"] == [[b.encode(), [[b"7-7", [b"new", b"2"]]]]]
    assert ours.xpending(b, "g")["pending"] == 1
    # Timeout, and a blocked XREAD that never sees data.
    t0 = time.monotonic()
    assert raw(ours, "XREAD", "BLOCK", 200, "STREAMS", "nokey", "$") is None
    assert time.monotonic() - t0 >= 0.15
    # In MULTI a blocking read does not block.
    from conftest import RespConn
    with RespConn("127.0.0.1", ours.connection_pool.connection_kwargs["port"]) as conn:
        conn.call("MULTI")
        conn.call("XREAD", "BLOCK", 0, "STREAMS", "nokey", "$")
        assert conn.call("EXEC") == [None]


@pytest.mark.once
def test_rdb_and_dump_both_ways_and_restart(tmp_path, real_redis_in_dir, server_in_dir):
    real = real_redis_in_dir(tmp_path)
    rc = real.client()
    for i in range(1, 500):
        rc.xadd("big", {"f%d" % (i % 3): "v" * (i % 50), "n": i}, id="%d-%d" % (i, i % 4))
    rc.xdel("big", "10-2", "11-3", "450-2")
    rc.xgroup_create("big", "g", id="0")
    rc.xgroup_create("big", "h", id="$")
    raw(rc, "XREADGROUP", "GROUP", "g", "alice", "COUNT", 20, "STREAMS", "big", ">")
    raw(rc, "XREADGROUP", "GROUP", "g", "bob", "COUNT", 5, "STREAMS", "big", ">")
    raw(rc, "XGROUP", "CREATECONSUMER", "big", "g", "lazy")
    rc.xadd("empty", {"a": 1}, id="3-3")
    rc.xdel("empty", "3-3")
    rc.xadd("trimmed", {"a": 1}, id="1-1")
    rc.xadd("trimmed", {"a": 2}, id="2-1", maxlen=1)
    expected = {k: normalize(raw(rc, "XINFO", "STREAM", k, "FULL"), ("XINFO", "STREAM", "FULL"))
                for k in ("big", "empty", "trimmed")}
    dig = rc.execute_command("DEBUG", "DIGEST")
    dumps = {k: rc.dump(k) for k in expected}
    rc.save()
    real.stop()
    ours = server_in_dir(tmp_path, shards="2")
    c = ours.client()
    assert c.execute_command("DEBUG", "DIGEST") == dig
    for k, info in expected.items():
        assert normalize(raw(c, "XINFO", "STREAM", k, "FULL"), ("XINFO", "STREAM", "FULL")) == info
    for k, d in dumps.items():
        c.restore(k + ":r", 0, d)
        assert normalize(raw(c, "XINFO", "STREAM", k + ":r", "FULL"), ("XINFO", "STREAM", "FULL")) == expected[k]
        c.delete(k + ":r")
    # Ours to redis-server: its RDB and DUMP payloads.
    raw(c, "XREADGROUP", "GROUP", "h", "zed", "STREAMS", "big", ">")
    c.xadd("big", {"late": 1})
    expected = {k: normalize(raw(c, "XINFO", "STREAM", k, "FULL"), ("XINFO", "STREAM", "FULL")) for k in expected}
    dig = c.execute_command("DEBUG", "DIGEST")
    c.execute_command("SAVE")
    ours.stop()
    real2 = real_redis_in_dir(tmp_path)
    r2 = real2.client()
    assert r2.execute_command("DEBUG", "DIGEST") == dig
    for k, info in expected.items():
        assert normalize(raw(r2, "XINFO", "STREAM", k, "FULL"), ("XINFO", "STREAM", "FULL")) == info
    ours.start()
    c = ours.client()
    for k in expected:
        r2.restore(k + ":o", 0, c.dump(k))
        assert normalize(raw(r2, "XINFO", "STREAM", k + ":o", "FULL"), ("XINFO", "STREAM", "FULL")) == expected[k]
    # AOF (RESP base and RDB base) after kill -9.
    for preamble in ("no", "yes"):
        c.config_set("aof-use-rdb-preamble", preamble)
        c.config_set("appendfsync", "always")
        c.config_set("appendonly", "yes")
        wait_until(lambda: (lambda p: p["aof_enabled"] and not p["aof_rewrite_in_progress"]
                            and not p["aof_rewrite_scheduled"])(c.info("persistence")), 30, "AOF on")
        c.execute_command("BGREWRITEAOF")
        wait_until(lambda: not c.info("persistence")["aof_rewrite_in_progress"], 30, "rewrite")
        raw(c, "XREADGROUP", "GROUP", "g", "carl", "COUNT", 3, "STREAMS", "big", ">")
        c.xack("big", "g", "1-1")
        c.xadd("big", {"after": preamble}, maxlen=400, approximate=True)
        want = {k: normalize(raw(c, "XINFO", "STREAM", k, "FULL"), ("XINFO", "STREAM", "FULL")) for k in expected}
        dig = c.execute_command("DEBUG", "DIGEST")
        ours.kill()
        ours.directives.update({"appendonly": "yes", "appendfsync": "always", "aof-use-rdb-preamble": preamble})
        ours.start()
        c = ours.client()
        assert c.execute_command("DEBUG", "DIGEST") == dig
        for k, info in want.items():
            got = normalize(raw(c, "XINFO", "STREAM", k, "FULL"), ("XINFO", "STREAM", "FULL"))
            assert got == info, (preamble, k, first_diff(got, info))


@pytest.mark.once
def test_replicas_get_streams_and_groups(repl_node):
    master = repl_node("ringkv", shards="2")
    replica = repl_node("ringkv", shards="2")
    real = repl_node("redis")
    m = node_client(master)
    for i in range(300):
        m.xadd("s%d" % (i % 3), {"i": i})
    m.xgroup_create("s0", "g", id="0")
    for node in (replica, real):
        replicaof(node, "127.0.0.1", master.port)
    wait_link_up(replica)
    wait_link_up(real)
    raw(m, "XREADGROUP", "GROUP", "g", "a", "COUNT", 10, "STREAMS", "s0", ">")
    raw(m, "XREADGROUP", "GROUP", "g", "b", "NOACK", "COUNT", 5, "STREAMS", "s0", ">")
    m.xack("s0", "g", *[e[0] for e in m.xrange("s0", count=3)])
    raw(m, "XCLAIM", "s0", "g", "c", 0, m.xrange("s0", count=5)[4][0])
    raw(m, "XAUTOCLAIM", "s0", "g", "d", 0, "0", "COUNT", 2)
    m.xadd("s1", {"t": 1}, maxlen=50, approximate=True)
    m.xtrim("s2", minid="0-0")
    m.xadd("s2", {"x": 1}, id="9999999999999-*")
    wait_converged(master, [replica, real])
    for node in (replica, real):
        c = node_client(node)
        for k in ("s0", "s1", "s2"):
            assert normalize(raw(c, "XINFO", "GROUPS", k), ()) == normalize(raw(m, "XINFO", "GROUPS", k), ())
            assert c.xpending("s0", "g") == m.xpending("s0", "g")
