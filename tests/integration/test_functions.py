"""FUNCTION and FCALL (issue 7) against Debian's redis-server 7.0.15: the same
inputs give the same replies and errors on both; DUMP payloads and RDB files
carry libraries both ways; libraries survive restarts (RDB, AOF with and
without the RDB preamble) and reach replicas. One ringkv and one redis-server
serve the whole module."""

import re
import shutil

import pytest
import redis

from conftest import RealRedis, wait_until

LIB_A = "#!lua name=liba\n" \
        "redis.register_function('fa', function(keys, args) return {keys, args} end)\n" \
        "redis.register_function{function_name='fa_ro', callback=function(keys, args) " \
        "return redis.call('GET', keys[1]) end, flags={'no-writes', 'allow-stale'}, description='reads'}\n"
LIB_B = "#!LUA name=libb\n" \
        "local function setter(keys, args) return redis.call('SET', keys[1], args[1]) end\n" \
        "redis.register_function('fb_set', setter)\n"

# (payload, note) pairs: valid libraries and every load-time error Redis names.
LOAD_CASES = [
    LIB_A,
    LIB_B,
    "#!lua name=liba\nredis.register_function('other', function() return 1 end)",  # library exists
    "#!lua name=libc\nredis.register_function('FA', function() return 1 end)",     # function exists (any case)
    "#!lua name=libc\nlocal x = string.len('a')\nredis.register_function('f', function() end)",
    "#!lua name=libc\nx = 1\nredis.register_function('f', function() end)",
    "#!lua name=libc\nredis.call('set', 'x', '1')",
    "#!lua name=libc\nreturn 1",
    "#!lua\nfoo",
    "#!lua name=c foo=bar\nfoo",
    "#!lua name=c name=d\nfoo",
    "#!lua2 name=c\nfoo",
    "name=c\nfoo",
    "#!lua name=c",
    "#!lua name=c-d\nfoo",
    '#!lua "name=c\nfoo',
    "#!lua name=c\nfoo(",
    "#!lua name=c\nerror('boom')",
    "#!lua name=c\nredis.register_function('f-x', function() end)",
    "#!lua name=c\nredis.register_function('q', function() end)\nredis.register_function('q', function() end)",
    "#!lua name=c\nredis.register_function{function_name='q', callback=function() end, flags={'bad'}}",
    "#!lua name=c\nredis.register_function{function_name='q', callback=function() end, foo=1}",
    "#!lua name=c\nredis.register_function{function_name='q', callback=function() end, flags='x'}",
    "#!lua name=c\nredis.register_function{function_name='q', callback=1}",
    "#!lua name=c\nredis.register_function{function_name={}, callback=function() end}",
    "#!lua name=c\nredis.register_function{function_name='q', description=1, callback=function() end}",
    "#!lua name=c\nredis.register_function('q')",
    "#!lua name=c\nredis.register_function(1, 2)",
    "#!lua name=c\nredis.register_function{callback=function() end}",
    "#!lua name=c\nredis.register_function{function_name='q'}",
    "#!lua name=c\nredis.register_function('q', function() end, 3)",
    "#!lua name=c\nredis.register_function()",
    "#!lua name=c\nredis.log(redis.LOG_NOTICE, 'loading', 'c')\n"
    "redis.register_function('c1', function() return redis.REDIS_VERSION end)",
    "#!lua name=d\nredis.log(99, 'x')",
    "#!lua name=d\nredis.log('x')",
]


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    server = RealRedis(tmp_path_factory.mktemp("redis-functions"))
    yield server
    server.stop()


def outcome(c, *args):
    try:
        return ("ok", c.execute_command(*args))
    except redis.ResponseError as e:
        return ("err", str(e))


def both(r, real_client, *args):
    """Runs the command on both servers; asserts the same outcome; returns it."""
    ours, theirs = outcome(r, *args), outcome(real_client, *args)
    assert ours == theirs, args
    return ours


def listing(c, *args):
    """FUNCTION LIST as comparable data (Redis's order is its dict's)."""
    libs = c.execute_command("FUNCTION", "LIST", *args)
    out = []
    for lib in libs:
        d = dict(zip(lib[::2], lib[1::2]))
        d[b"functions"] = sorted([sorted(map(repr, zip(f[::2], f[1::2]))) for f in d[b"functions"]])
        out.append(sorted(d.items()))
    return sorted(out)


@pytest.mark.smoke
def test_load_errors_and_list_match_redis(r, real):
    rc = real.client()
    try:
        for c in (r, rc):
            c.function_flush()
        for payload in LOAD_CASES:
            both(r, rc, "FUNCTION", "LOAD", payload)
        for args in [(), ("WITHCODE",), ("LIBRARYNAME", "lib*"), ("LIBRARYNAME", "LIBA", "WITHCODE"),
                     ("LIBRARYNAME", "nomatch")]:
            assert listing(r, *args) == listing(rc, *args), args
        for args in [("LIST", "LIBRARYNAME"), ("LIST", "foo"), ("LIST", "WITHCODE", "WITHCODE"),
                     ("LOAD",), ("LOAD", "REPLACE"), ("LOAD", "BOGUS", LIB_A), ("DELETE", "nosuch"),
                     ("DELETE",), ("FLUSH", "BAD"), ("FLUSH", "SYNC", "X"), ("RESTORE", "x", "BAD"),
                     ("RESTORE", "short"), ("RESTORE", "x", "FLUSH", "X"), ("DUMP", "x"), ("NOSUCH",),
                     ("HELP",)]:
            both(r, rc, "FUNCTION", *args)
        # REPLACE swaps a library whole; its old functions go with it.
        new_a = "#!lua name=liba\nredis.register_function('fa2', function() return 2 end)"
        assert both(r, rc, "FUNCTION", "LOAD", "REPLACE", new_a) == ("ok", b"liba")
        assert listing(r) == listing(rc)
        both(r, rc, "FUNCTION", "LOAD", "REPLACE",
             "#!lua name=libz\nredis.register_function('fb_set', function() return 2 end)")
        assert both(r, rc, "FUNCTION", "DELETE", "liba") == ("ok", b"OK")
        assert listing(r) == listing(rc)
        assert both(r, rc, "FUNCTION", "FLUSH", "ASYNC") == ("ok", b"OK")
        assert r.function_list() == []
    finally:
        rc.close()


def test_dump_restore_both_ways(r, real):
    rc = real.client()
    try:
        for c in (r, rc):
            c.function_flush()
        rc.function_load(LIB_A)
        rc.function_load(LIB_B)
        theirs = rc.function_dump()
        assert r.function_restore(theirs) is True
        assert listing(r, "WITHCODE") == listing(rc, "WITHCODE")
        # Same libraries in the same order: the same bytes (code, version, CRC).
        rc.function_flush()
        assert rc.function_restore(r.function_dump()) is True
        assert r.function_dump() == rc.function_dump()
        # Policies and their errors.
        payload = r.function_dump()
        for args in [(payload,), (payload, "APPEND"), (payload, "REPLACE"), (payload, "FLUSH"),
                     (payload[:-1] + bytes([payload[-1] ^ 1]),), (b"\xf5" + payload,),
                     (payload[:3] + payload[-10:],)]:
            # With several clashing libraries Redis names the first in its
            # dict's (unspecified) order: compare the text without the name.
            ours, theirs = (outcome(c, "FUNCTION", "RESTORE", *args) for c in (r, rc))
            assert ours[0] == theirs[0] and re.sub(r"Library \w+ ", "Library X ", str(ours[1])) == \
                re.sub(r"Library \w+ ", "Library X ", str(theirs[1])), args
        assert listing(r) == listing(rc)
        other = "#!lua name=libo\nredis.register_function('fa', function() return 0 end)"
        for c in (r, rc):
            c.function_flush()
            c.function_load(other)
        both(r, rc, "FUNCTION", "RESTORE", payload, "REPLACE")
        both(r, rc, "FUNCTION", "RESTORE", payload, "FLUSH")
        assert listing(r) == listing(rc)
    finally:
        for c in (r, rc):
            c.function_flush()
        rc.close()


def test_libraries_are_on_every_shard(r):
    r.function_flush()
    r.function_load(LIB_A)
    # Every shard answers LIST and DUMP from its own registry: connections
    # land on either shard, and all must agree.
    clients = [redis.Redis(host="127.0.0.1", port=r.connection_pool.connection_kwargs["port"])
               for _ in range(6)]
    try:
        dumps = {c.function_dump() for c in clients}
        assert len(dumps) == 1
        r.function_delete("liba")
        assert all(c.function_list() == [] for c in clients)
    finally:
        for c in clients:
            c.close()


@pytest.mark.once
def test_rdb_files_carry_libraries_both_ways(start_server, tmp_path, real):
    ours = start_server(save="")
    c = ours.client()
    c.function_load(LIB_A)
    c.function_load(LIB_B)
    c.set("k", "v")
    want = listing(c, "WITHCODE")
    c.save()
    # ringkv's file in redis-server, and what redis-server saves back in ringkv.
    theirs = RealRedis(tmp_path / "redis-load")
    try:
        shutil.copyfile(ours.dir / "dump.rdb", tmp_path / "redis-load" / "dump.rdb")
        theirs.stop()
        theirs = RealRedis(tmp_path / "redis-load")
        tc = theirs.client()
        assert listing(tc, "WITHCODE") == want
        assert tc.get("k") == b"v"
        tc.function_load("#!lua name=fromredis\nredis.register_function('fr', function() return 1 end)")
        tc.save()
        want2 = listing(tc, "WITHCODE")
        tc.close()
        shutil.copyfile(tmp_path / "redis-load" / "dump.rdb", ours.dir / "dump.rdb")
    finally:
        theirs.stop()
    c.close()
    ours.stop()
    ours.start()
    c = ours.client()
    assert listing(c, "WITHCODE") == want2
    assert c.get("k") == b"v"
    c.close()


@pytest.mark.once
def test_restart_from_rdb_and_aof(start_server):
    srv = start_server(save="", appendonly="yes")
    c = srv.client()
    c.function_load(LIB_A)
    c.function_load(LIB_B)
    c.function_load("#!lua name=gone\nredis.register_function('g', function() return 1 end)")
    c.function_delete("gone")
    c.function_load(LIB_B, replace=True)
    want = listing(c, "WITHCODE")

    def restart():
        nonlocal c
        c.close()
        srv.stop()
        srv.start()
        c = srv.client()
        assert listing(c, "WITHCODE") == want

    restart()                                     # AOF: base + incr commands
    c.bgrewriteaof()
    wait_until(lambda: c.info("persistence")["aof_rewrite_in_progress"] == 0, 20, "rewrite")
    restart()                                     # AOF: RDB preamble base
    c.config_set("aof-use-rdb-preamble", "no")
    c.bgrewriteaof()
    wait_until(lambda: c.info("persistence")["aof_rewrite_in_progress"] == 0, 20, "rewrite")
    srv.directives["aof-use-rdb-preamble"] = "no"
    restart()                                     # AOF: RESP base (FUNCTION LOAD commands)
    c.config_set("appendonly", "no")
    c.save()
    srv.directives["appendonly"] = "no"
    restart()                                     # dump.rdb
    c.close()


def listing_or_none(c, *args):
    """listing(), or None while the node is loading or syncing."""
    try:
        return listing(c, *args)
    except (redis.BusyLoadingError, redis.ConnectionError):
        return None


@pytest.mark.once
def test_replica_gets_libraries(repl_node):
    master = repl_node("ringkv", **{"repl-diskless-sync-delay": "0"})
    mc = master.client()
    mc.function_load(LIB_A)
    # A ringkv replica (another shard count) and a redis-server replica.
    replicas = [repl_node("ringkv", shards="3", replicaof="127.0.0.1 %d" % master.port),
                repl_node("redis", replicaof="127.0.0.1 %d" % master.port)]
    rcs = [n.client() for n in replicas]
    try:
        for rc in rcs:
            wait_until(lambda: listing_or_none(rc) == listing(mc), 30, "full sync carries the libraries")
        mc.function_load(LIB_B)
        mc.function_delete("liba")
        for rc in rcs:
            wait_until(lambda: listing_or_none(rc, "WITHCODE") == listing(mc, "WITHCODE"), 30, "live changes")
        mc.function_restore(mc.function_dump(), "FLUSH")
        mc.function_flush()
        for rc in rcs:
            wait_until(lambda: rc.function_list() == [], 30, "flush")
    finally:
        for rc in rcs:
            rc.close()
        mc.close()
