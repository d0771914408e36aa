"""Issue 7 end to end: streams (with consumer groups), HyperLogLogs, geo
sets, scripts and functions written on a 2-shard ringkv master arrive on a
ringkv replica and on Debian's redis-server as replica (DEBUG DIGEST equal,
FUNCTION DUMP equal), survive kill -9 with the AOF and a restart from the
RDB, and that RDB loads in redis-server with the same digest."""
import random

import pytest

from conftest import RealRedis, digest, node_client, replicaof, wait_converged, wait_link_up

LIB = """#!lua name=durlib
local function bump(keys, args)
  redis.call('HINCRBY', keys[1], 'n', args[1])
  return redis.call('HGET', keys[1], 'n')
end
local function pfboth(keys, args)
  redis.call('PFADD', keys[1], args[1])
  return redis.call('PFCOUNT', keys[1])
end
redis.register_function('bump', bump)
redis.register_function{function_name='pfboth', callback=pfboth}
"""

SCRIPT = """
local n = redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('XADD', KEYS[2], '*', 'n', n)
redis.call('ZADD', KEYS[3], n, 'm' .. n)
return n
"""


def workload(c, n, seed):
    """n writes of the new types, in pipelines; returns nothing (replies of
    writes that fail, e.g. XACK of nothing, are not checked)."""
    rnd = random.Random(seed)
    p = c.pipeline(transaction=False)
    for i in range(n):
        op = rnd.randrange(14)
        s = "s%d" % rnd.randrange(6)
        if op < 3:
            p.execute_command("XADD", s, "*", "f", i, "g", rnd.randrange(100))
        elif op == 3:
            p.execute_command("XADD", s, "MAXLEN", "~", 50, "*", "f", i)
        elif op == 4:
            p.execute_command("XREADGROUP", "GROUP", "g", "c%d" % rnd.randrange(3), "COUNT", 3,
                              "STREAMS", s, ">")
        elif op == 5:
            p.execute_command("XAUTOCLAIM", s, "g", "c9", 0, "0-0", "COUNT", 2)
        elif op == 6:
            p.execute_command("XTRIM", s, "MINID", "0-%d" % rnd.randrange(3))
        elif op == 7:
            p.execute_command("PFADD", "hll%d" % rnd.randrange(4), *[rnd.randrange(10**6) for _ in range(20)])
        elif op == 8:
            p.execute_command("PFMERGE", "{h}all", "{h}a%d" % rnd.randrange(3), "{h}b")
            p.execute_command("PFADD", "{h}a%d" % rnd.randrange(3), rnd.randrange(10**6))
        elif op == 9:
            p.execute_command("GEOADD", "geo%d" % rnd.randrange(3), rnd.uniform(-179, 179),
                              rnd.uniform(-84, 84), "p%d" % rnd.randrange(500))
        elif op == 10:
            p.execute_command("GEOSEARCHSTORE", "{g}dst", "{g}src", "FROMLONLAT", 10, 10, "BYRADIUS",
                              rnd.randrange(100, 3000), "km", "STOREDIST")
            p.execute_command("GEOADD", "{g}src", rnd.uniform(0, 20), rnd.uniform(0, 20), "q%d" % i)
        elif op == 11:
            p.execute_command("EVAL", SCRIPT, 3, "{e}n", "{e}s", "{e}z", rnd.randrange(1, 10))
        elif op == 12:
            p.execute_command("FCALL", "bump", 1, "fh%d" % rnd.randrange(5), rnd.randrange(1, 10))
        else:
            p.execute_command("FCALL", "pfboth", 1, "fp", rnd.randrange(10**6))
        if len(p) >= 200:
            p.execute(raise_on_error=False)
    p.execute(raise_on_error=False)


def setup_groups(c):
    for i in range(6):
        c.execute_command("XGROUP", "CREATE", "s%d" % i, "g", "$", "MKSTREAM")
    c.execute_command("FUNCTION", "LOAD", LIB)


@pytest.mark.once
def test_new_types_replicate_and_survive_restart(repl_node, tmp_path):
    master = repl_node("ringkv", shards="2", appendonly="yes", appendfsync="always")
    replica = repl_node("ringkv", shards="2")
    real = repl_node("redis")
    m = node_client(master)
    setup_groups(m)
    workload(m, 1500, 1)
    for node in (replica, real):
        replicaof(node, "127.0.0.1", master.port)
    wait_link_up(replica)
    wait_link_up(real)
    workload(m, 3000, 2)
    _, dig = wait_converged(master, [replica, real])
    fdump = m.execute_command("FUNCTION", "DUMP")
    for node in (replica, real):
        c = node_client(node)
        assert c.execute_command("FUNCTION", "DUMP") == fdump
        assert c.xinfo_groups("s1") == m.xinfo_groups("s1")

    # kill -9: everything acknowledged is in the AOF.
    master.kill()
    master.start()
    assert digest(master) == dig
    m = node_client(master)
    assert m.execute_command("FUNCTION", "DUMP") == fdump
    workload(m, 500, 3)
    dig = digest(master)

    # Restart from the RDB alone, then give that RDB to redis-server.
    m.execute_command("SAVE")
    master.stop()
    master.directives["appendonly"] = "no"
    master.start()
    assert digest(master) == dig
    m = node_client(master)
    rdb = master.dir / "dump.rdb"
    other = RealRedis(tmp_path / "real-load")
    other.stop()
    (tmp_path / "real-load" / "dump.rdb").write_bytes(rdb.read_bytes())
    other = RealRedis(tmp_path / "real-load")
    try:
        oc = other.client()
        assert oc.execute_command("DEBUG", "DIGEST").decode() == dig
        assert oc.execute_command("FUNCTION", "DUMP") == m.execute_command("FUNCTION", "DUMP")
    finally:
        other.stop()
