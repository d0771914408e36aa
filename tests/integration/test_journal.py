"""The shard journal (core/journal.h) seen through DEBUG JOURNAL, compared
with what Debian's redis-server 7.0.15 propagates (read from the
appendonly.aof it writes with appendfsync always).

Commands are compared after normalisation: SELECTs kept only where the
database changes, names upper-cased, absolute times (PXAT / PEXPIREAT)
equal within TIME_TOLERANCE_MS, and members chosen at random (SPOP) masked.
"""

import glob
import os
import random
import shutil
import subprocess
import time

import pytest
import redis

from conftest import RespConn, RespError, free_port, keys_on_shard

TIME_TOLERANCE_MS = 3000
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


# ---- the journal's framing ---------------------------------------------------

def parse_stream(data):
    """[('cmd', [bytes...]) | ('B', seq, mask) | ('E', seq)] from journal bytes."""
    out, i = [], 0
    while i < len(data):
        if data[i:i + 1] == b"#":
            j = data.index(b"\r\n", i)
            parts = data[i + 1:j].split()
            if parts[0] == b"B":
                out.append(("B", int(parts[1]), int(parts[2], 16)))
            else:
                assert parts[0] == b"E", data[i:j]
                out.append(("E", int(parts[1])))
            i = j + 2
            continue
        assert data[i:i + 1] == b"*", data[i:i + 40]
        j = data.index(b"\r\n", i)
        argc = int(data[i + 1:j])
        i = j + 2
        args = []
        for _ in range(argc):
            assert data[i:i + 1] == b"$"
            j = data.index(b"\r\n", i)
            n = int(data[i + 1:j])
            args.append(data[j + 2:j + 2 + n])
            assert data[j + 2 + n:j + 4 + n] == b"\r\n"
            i = j + 4 + n
        out.append(("cmd", args))
    return out


def commands(data):
    return [r[1] for r in parse_stream(data) if r[0] == "cmd"]


def normalise(cmds):
    """Upper-case names, SELECT only on a change, times as ('T', ms), SPOP's SREM member masked."""
    out, db = [], None
    for c in cmds:
        name = c[0].upper()
        args = [name] + list(c[1:])
        if name == b"SELECT":
            if args[1] != db:
                db = args[1]
                out.append(tuple(args))
            continue
        if name == b"PEXPIREAT":
            args[2] = ("T", int(args[2]))
        if name == b"RESTORE" and any(isinstance(a, bytes) and a.upper() == b"ABSTTL" for a in args[4:]):
            args[2] = ("T", int(args[2])) if int(args[2]) else args[2]
        if name == b"SET":
            for k in range(3, len(args) - 1):
                if isinstance(args[k], bytes) and args[k].upper() == b"PXAT":
                    args[k + 1] = ("T", int(args[k + 1]))
        out.append(tuple(args))
    return out


def same(a, b):
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if len(x) != len(y):
            return False
        for u, v in zip(x, y):
            if isinstance(u, tuple) and isinstance(v, tuple):
                if abs(u[1] - v[1]) > TIME_TOLERANCE_MS:
                    return False
            elif u != v:
                return False
    return True


# ---- the two servers ----------------------------------------------------------

class RedisAof:
    """redis-server 7.0 writing every propagated command to its AOF."""

    def __init__(self, tmp_path):
        self.dir = tmp_path / "redis"
        self.dir.mkdir()
        self.port = free_port()
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--save", "", "--appendonly", "yes", "--appendfsync", "always",
             "--aof-timestamp-enabled", "no", "--enable-debug-command", "yes"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.r = redis.Redis(port=self.port)
        for _ in range(200):
            try:
                self.r.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.02)
        self.seen = 0

    def _aof(self):
        files = glob.glob(str(self.dir / "appendonlydir" / "*.incr.aof"))
        assert len(files) == 1
        with open(files[0], "rb") as f:
            return f.read()

    def take(self):
        data = self._aof()
        new, self.seen = data[self.seen:], len(data)
        return commands(new)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture
def redis_aof(tmp_path):
    if not os.path.exists(REDIS_SERVER):
        pytest.skip("redis-server not installed")
    srv = RedisAof(tmp_path)
    srv.take()
    yield srv
    srv.stop()


def journal_take(r):
    """Per shard, the journal bytes since the previous call."""
    return r.execute_command("DEBUG", "JOURNAL")


def ringkv_commands(r):
    parts = journal_take(r)
    out = []
    for p in parts:
        assert not p.startswith(b"-"), p
        out += commands(p)
    return out


@pytest.fixture
def rk(start_server):
    """A ringkv with 2 shards; every comparison uses keys with one hash tag,
    so one shard journals them all, in order."""
    srv = start_server()
    r = redis.Redis(port=srv.port)
    journal_take(r)
    return r


def run_both(rk, redis_aof, script, sleep_between=0.0):
    rk_replies, rd_replies = [], []
    for cmd in script:
        if cmd == "SLEEP":
            time.sleep(0.05)
            continue
        for conn, replies in ((rk, rk_replies), (redis_aof.r, rd_replies)):
            try:
                replies.append(conn.execute_command(*cmd))
            except redis.ResponseError as e:
                replies.append(("err", str(e)[:20]))
    return normalise(ringkv_commands(rk)), normalise(redis_aof.take()), rk_replies, rd_replies


def compare(rk, redis_aof, script):
    ours, theirs, a, b = run_both(rk, redis_aof, script)
    assert same(ours, theirs), "\nringkv: %r\nredis:  %r" % (ours, theirs)
    return ours, a, b


# ---- rewrites compared with redis-server ----------------------------------------

def test_expire_family(rk, redis_aof):
    compare(rk, redis_aof, [
        ("SET", "{t}a", "1"), ("EXPIRE", "{t}a", "100"), ("PEXPIRE", "{t}a", "100000"),
        ("EXPIREAT", "{t}a", "99999999999"), ("PEXPIREAT", "{t}a", "99999999999000"),
        ("EXPIRE", "{t}a", "100", "NX"), ("EXPIRE", "{t}a", "99999999", "GT"),
        ("EXPIRE", "{t}missing", "100"), ("PERSIST", "{t}a"), ("PERSIST", "{t}a"),
        ("EXPIRE", "{t}a", "-1"), ("SET", "{t}p", "1"), ("PEXPIREAT", "{t}p", "1"),
    ])


def test_set_family_with_expires(rk, redis_aof):
    compare(rk, redis_aof, [
        ("SETEX", "{t}b", "100", "v"), ("PSETEX", "{t}c", "100000", "v"),
        ("SET", "{t}d", "v", "EX", "100"), ("SET", "{t}e", "v", "PX", "100000", "GET"),
        ("SET", "{t}f", "v", "EXAT", "99999999999"), ("SET", "{t}g", "v", "PXAT", "99999999999000", "GET"),
        ("SET", "{t}g", "w", "KEEPTTL"), ("SET", "{t}h", "v", "NX", "EX", "100"),
        ("SET", "{t}h", "v", "NX"), ("SET", "{t}nope", "v", "XX"), ("SET", "{t}past", "v", "EXAT", "1"),
        ("GETEX", "{t}g", "EX", "100"), ("GETEX", "{t}g"), ("GETEX", "{t}g", "PERSIST"),
        ("GETEX", "{t}g", "PERSIST"), ("GETEX", "{t}g", "PXAT", "1"),
        ("GETSET", "{t}d", "x"), ("GETDEL", "{t}d"), ("GETDEL", "{t}d"),
        ("SETNX", "{t}e", "1"), ("DEL", "{t}zz", "{t}zz"), ("SETEX", "{t}bad", "0", "v"),
        ("SET", "{t}gx", "v", "GET"), ("SET", "{t}gy", "v", "NX", "GET"), ("SET", "{t}gz", "v", "XX", "GET"),
    ])


def test_float_increments(rk, redis_aof):
    compare(rk, redis_aof, [
        ("SET", "{t}h", "1.5"), ("INCRBYFLOAT", "{t}h", "2"), ("EXPIRE", "{t}h", "100"),
        ("INCRBYFLOAT", "{t}h", "0.1"), ("INCRBYFLOAT", "{t}n", "3.0e3"),
        ("HINCRBYFLOAT", "{t}hh", "f", "1.5"), ("HINCRBYFLOAT", "{t}hh", "f", "0.25"),
    ])


def test_spop_is_srem(rk, redis_aof):
    script = [("SADD", "{t}s", *"abcdefg"), ("SPOP", "{t}s"), ("SPOP", "{t}s", "2"),
              ("SPOP", "{t}s", "0"), ("SPOP", "{t}s", "10"), ("SPOP", "{t}s")]
    ours, theirs, replies, _ = run_both(rk, redis_aof, script)

    def mask(cmds):
        return [c[:2] + (b"*",) if c[0] == b"SREM" else c for c in cmds]
    assert same(mask(ours), mask(theirs)), "\nringkv: %r\nredis:  %r" % (ours, theirs)
    # The journaled members are the ones the client got.
    popped = {replies[1]} | set(replies[2])
    assert {c[2] for c in ours if c[0] == b"SREM"} == popped


def test_list_moves_and_blocking_pops(rk, redis_aof):
    compare(rk, redis_aof, [
        ("RPUSH", "{t}l", *"abcdefgh"), ("LMOVE", "{t}l", "{t}l2", "LEFT", "RIGHT"),
        ("RPOPLPUSH", "{t}l", "{t}l2"), ("BLMOVE", "{t}l", "{t}l2", "LEFT", "LEFT", "0"),
        ("BRPOPLPUSH", "{t}l", "{t}l2", "0"), ("BLPOP", "{t}empty", "{t}l", "0"), ("BRPOP", "{t}l2", "0"),
        ("BLMPOP", "0", "2", "{t}empty", "{t}l2", "LEFT", "COUNT", "2"),
        ("LMPOP", "1", "{t}l", "RIGHT", "COUNT", "100"), ("LMPOP", "1", "{t}l", "RIGHT"),
        ("LPUSHX", "{t}none", "x"),
    ])


def test_zset_blocking_pops(rk, redis_aof):
    compare(rk, redis_aof, [
        ("ZADD", "{t}z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e"),
        ("BZPOPMIN", "{t}z", "0"), ("BZPOPMAX", "{t}z", "0"),
        ("BZMPOP", "0", "1", "{t}z", "MIN", "COUNT", "1"), ("ZMPOP", "1", "{t}z", "MAX", "COUNT", "9"),
        ("ZADD", "{t}z", "1", "a"), ("ZADD", "{t}z", "1", "a"),
    ])


def test_lazy_expiry_is_del(rk, redis_aof):
    compare(rk, redis_aof, [
        ("DEBUG", "SET-ACTIVE-EXPIRE", "0"),
        ("SET", "{t}e1", "v", "PX", "1"), "SLEEP", ("GET", "{t}e1"),
        # An expired key found by a write: DEL then the write, as one unit (MULTI/EXEC in 7.0).
        ("SET", "{t}e2", "v", "PX", "1"), "SLEEP", ("SET", "{t}e2", "w"),
        ("DEBUG", "SET-ACTIVE-EXPIRE", "1"),
    ])


def test_multi_exec_on_one_shard(rk, redis_aof):
    def tx(*cmds):
        return [("MULTI",)] + list(cmds) + [("EXEC",)]
    script = tx(("SET", "{t}t1", "1")) + tx(("SET", "{t}t1", "2"), ("SET", "{t}t2", "2"), ("GET", "{t}t1")) + \
        tx(("GET", "{t}t1"),) + tx(("SADD", "{t}s", "a", "b", "c"), ("SPOP", "{t}s", "3"))
    # Raw connections: redis-py would parse QUEUED with each command's reply callback.
    rk1 = RespConn("127.0.0.1", rk.connection_pool.connection_kwargs["port"])
    rd1 = RespConn("127.0.0.1", redis_aof.port)
    for cmd in script:
        rk1.call(*cmd)
        rd1.call(*cmd)
    ours, theirs = normalise(ringkv_commands(rk)), normalise(redis_aof.take())
    assert same(ours, theirs), "\nringkv: %r\nredis:  %r" % (ours, theirs)


def test_restore_relative_ttl_is_absttl(rk, redis_aof):
    """RESTORE with a relative TTL propagates the absolute time plus ABSTTL
    after the client's options; one already expired propagates DEL of the
    replaced key (or nothing)."""
    redis_aof.r.rpush("{t}src", "a", "b", 1)
    payload = redis_aof.r.dump("{t}src")
    redis_aof.take()
    rk.set("{t}w", "1")  # the journal's SELECT, as redis-server's AOF already has it
    journal_take(rk)
    compare(rk, redis_aof, [
        ("RESTORE", "{t}k", "5000", payload), ("RESTORE", "{t}k", "5000", payload),
        ("RESTORE", "{t}k", "7000", payload, "REPLACE", "IDLETIME", "10"),
        ("RESTORE", "{t}k0", "0", payload), ("RESTORE", "{t}k0", "0", payload, "REPLACE"),
        ("RESTORE", "{t}ka", "99999999999000", payload, "ABSTTL"),
        ("RESTORE", "{t}k", "1", payload, "REPLACE", "ABSTTL"),
        ("RESTORE", "{t}gone", "1", payload, "ABSTTL"),
        ("RESTORE", "{t}k0", "9223372036854775807", payload, "REPLACE"),
    ])


def key_dumps(r, keys):
    return {k: (r.dump(k), r.pttl(k) > 0) for k in keys}


def test_gather_journals_only_changed_keys(start_server, redis_aof):
    """Multi-shard commands run on a scratch copy (core/multikey.c) journal
    exactly the keys whose value or TTL changed, as their final state; every
    other key named stays out of the journal. Checked against redis-server
    running the same commands (its DUMPs before/after say which keys changed),
    and the journals replayed into redis-server give its digest."""
    srv = start_server()
    rk = redis.Redis(port=srv.port)
    a0, b0, c0, l0 = keys_on_shard(0, 4, "g0")
    a1, b1, c1, l1 = keys_on_shard(1, 4, "g1")
    keys = [a0, b0, c0, l0, a1, b1, c1, l1]
    setup = [("SADD", a0, *"123"), ("SADD", a1, *"234"), ("SADD", c1, "x"), ("RPUSH", l0, *"abc"),
             ("SET", b1, "v"), ("PEXPIRE", b1, "100000000")]
    script = [
        ("SINTERSTORE", b0, a0, a1),           # b0 new; a0, a1 read only
        ("SUNIONSTORE", c1, a0, a1),           # c1 replaced
        ("SMOVE", a0, a1, "1"),                # both change
        ("SMOVE", a0, a1, "nope"),             # nothing changes
        ("SDIFFSTORE", a0, a0, c1),            # a0 emptied: deleted; c1 read only
        ("LMOVE", l0, l1, "LEFT", "RIGHT"),    # both change
        ("RPOPLPUSH", l1, l0),
        ("RENAME", b1, c0),                    # b1 gone, c0 takes its value and TTL
        ("COPY", a1, c0, "REPLACE"),           # c0 replaced; a1 read only
        ("SINTERCARD", "2", c1, a1),           # read only: no journal at all
        ("ZUNIONSTORE", b1, "2", a1, c1),      # b1 new; the sources read only
    ]
    raw = RespConn("127.0.0.1", srv.port)
    for cmd in setup:
        raw.call(*cmd)
        redis_aof.r.execute_command(*cmd)
    journal_take(rk)
    redis_aof.take()
    for cmd in script:
        before = key_dumps(redis_aof.r, keys)
        redis_aof.r.execute_command(*cmd)
        after = key_dumps(redis_aof.r, keys)
        changed = {k for k in keys if before[k] != after[k]}
        raw.call(*cmd)
        parts = [parse_stream(p) for p in journal_take(rk)]
        journaled = {r[1][1].decode() for recs in parts for r in recs
                     if r[0] == "cmd" and r[1][0].upper() != b"SELECT"}
        assert journaled == changed, (cmd, journaled, changed)
    assert rk.execute_command("DEBUG", "DIGEST") == redis_aof.r.execute_command("DEBUG", "DIGEST")


def test_gathered_journal_replays_to_the_same_digest(start_server, tmp_path):
    """The changed-keys-only journal of gather commands, replayed into a
    fresh ringkv and redis-server, rebuilds the same data."""
    srv = start_server()
    r = redis.Redis(port=srv.port)
    a0, b0 = keys_on_shard(0, 2, "h0")
    a1, b1 = keys_on_shard(1, 2, "h1")
    raw = RespConn("127.0.0.1", srv.port)
    journal_take(r)
    for cmd in [("SADD", a0, *"12345"), ("SADD", a1, *"3456"), ("HSET", b0, "f", "1", "g", "2"),
                ("SINTERSTORE", b1, a0, a1), ("SMOVE", a0, a1, "1"), ("SUNIONSTORE", a0, a0, b1),
                ("COPY", b0, b1, "REPLACE"), ("EXPIRE", b1, "100000"), ("RENAME", b1, a1),
                ("SDIFFSTORE", b1, a0, a0)]:
        raw.call(*cmd)
    parts = journal_take(r)
    want = r.execute_command("DEBUG", "DIGEST")
    fresh = start_server()
    if not os.path.exists(REDIS_SERVER):
        pytest.skip("redis-server not installed")
    rd = RedisAof(tmp_path)
    try:
        merge_and_replay(parts, [fresh.port, rd.port])
        assert redis.Redis(port=fresh.port).execute_command("DEBUG", "DIGEST") == want
        assert rd.r.execute_command("DEBUG", "DIGEST") == want
    finally:
        rd.stop()


def test_debug_populate_is_not_journaled(rk, redis_aof):
    compare(rk, redis_aof, [("DEBUG", "POPULATE", "50"), ("SET", "{t}x", "1")])


def test_server_wide_writes_single_shard(start_server, redis_aof):
    srv = start_server(shards=1)
    r = redis.Redis(port=srv.port)
    journal_take(r)
    compare(r, redis_aof, [
        ("SET", "a", "1"), ("MOVE", "a", "1"), ("MOVE", "a", "1"), ("HSET", "h", "f", "v"),
        ("COPY", "h", "h2"), ("COPY", "h", "h3", "DB", "2"), ("SWAPDB", "0", "1"),
        ("FLUSHDB",), ("SET", "m", "1"), ("FLUSHALL",), ("FLUSHALL",),
    ])


# ---- ringkv-only behaviour --------------------------------------------------------

def test_active_expiry_and_eviction_are_del(start_server):
    srv = start_server(hz=100)
    r = redis.Redis(port=srv.port)
    journal_take(r)
    r.set("gone", "v", px=20)
    deadline = time.time() + 5
    seen = []
    while time.time() < deadline:
        seen += ringkv_commands(r)
        if [b"DEL", b"gone"] in seen:
            break
        time.sleep(0.05)
    assert [b"DEL", b"gone"] in seen

    r.config_set("lazyfree-lazy-expire", "yes")
    r.set("gone2", "v", px=20)
    deadline = time.time() + 5
    while time.time() < deadline:
        seen += ringkv_commands(r)
        if [b"UNLINK", b"gone2"] in seen:
            break
        time.sleep(0.05)
    assert [b"UNLINK", b"gone2"] in seen

    r.config_set("maxmemory-policy", "allkeys-random")
    r.config_set("maxmemory", "3mb")
    for i in range(4000):
        r.set("big:%d" % i, "x" * 1000)
    dels = [c for c in ringkv_commands(r) if c[0] == b"DEL"]
    time.sleep(0.3)  # the shards' ticks may evict a little more
    r.config_set("maxmemory", "0")
    time.sleep(0.1)
    dels += [c for c in ringkv_commands(r) if c[0] == b"DEL"]
    evicted = r.info("stats")["evicted_keys"]
    assert evicted > 0
    assert len(dels) == evicted


def test_multi_shard_frames(rk):
    a, b = keys_on_shard(0, 1, "ka")[0], keys_on_shard(1, 1, "kb")[0]
    rk.mset({a: "1", b: "2"})
    parts = [parse_stream(p) for p in journal_take(rk)]
    for shard, key in ((0, a), (1, b)):
        recs = parts[shard]
        assert recs[0][0] == "B" and recs[0][2] == 3, recs
        assert recs[-1] == ("E", recs[0][1])
        cmds = [r[1] for r in recs if r[0] == "cmd"]
        assert [c for c in cmds if c[0] != b"SELECT"] == [[b"MSET", key.encode(), b"1" if shard == 0 else b"2"]]
    assert parts[0][0][1] == parts[1][0][1]  # one transaction number

    # A read-only multi-shard command writes no markers.
    rk.mget(a, b)
    assert journal_take(rk) == [b"", b""]

    # The gather executor journals each key's final state on its owner.
    rk.expire(a, 1000)
    journal_take(rk)
    rk.rename(a, b)
    parts = [parse_stream(p) for p in journal_take(rk)]
    cmds0 = [r[1] for r in parts[0] if r[0] == "cmd" and r[1][0] != b"SELECT"]
    cmds1 = [r[1] for r in parts[1] if r[0] == "cmd" and r[1][0] != b"SELECT"]
    assert cmds0 == [[b"DEL", a.encode()]]
    assert cmds1[0] == [b"SET", b.encode(), b"1"] and cmds1[1][0] == b"PEXPIREAT"

    # MULTI/EXEC over both shards: one frame per shard, no MULTI inside.
    c = RespConn("127.0.0.1", rk.connection_pool.connection_kwargs["port"])
    for cmd in (("MULTI",), ("SET", a, "x"), ("SET", b, "y"), ("INCR", "%s:n" % a), ("EXEC",)):
        c.call(*cmd)
    parts = [parse_stream(p) for p in journal_take(rk)]
    for recs in parts:
        assert recs[0][0] == "B" and recs[-1][0] == "E"
        assert all(r[1][0].upper() not in (b"MULTI", b"EXEC") for r in recs if r[0] == "cmd")

    # An EXEC aborted by WATCH closes the parts it opened: empty frames.
    c.call("WATCH", a)
    rk.set(a, "changed")
    journal_take(rk)
    for cmd in (("MULTI",), ("SET", a, "x"), ("SET", b, "y")):
        c.call(*cmd)
    assert c.call("EXEC") is None
    parts = [parse_stream(p) for p in journal_take(rk)]
    for recs in parts:
        assert [r[0] for r in recs] == ["B", "E"], recs
        assert recs[0][1] == recs[1][1]
    assert rk.get(a) == b"changed"


def test_overrun_is_reported_and_recovers(start_server):
    srv = start_server()
    r = redis.Redis(port=srv.port)
    journal_take(r)
    r.execute_command("DEBUG", "JOURNAL", "OFF")
    assert r.execute_command("DEBUG", "JOURNAL") == [b"", b""]  # registered again
    r.set("x", "1")
    assert b"".join(journal_take(r)).endswith(b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$1\r\n1\r\n")


# ---- property: replaying the journal rebuilds the same data ------------------------

def merge_and_replay(parts, targets):
    # (each stream is replayed over a raw connection: replies are not parsed)
    """Replays the shard streams into each target (one connection per shard
    stream, so each keeps its own SELECT), honouring transaction frames: a
    frame is applied when every shard in its mask has reached it."""
    streams = [parse_stream(p) for p in parts]
    pos = [0] * len(streams)
    conns = [[RespConn("127.0.0.1", t) for _ in streams] for t in targets]

    def apply(shard, args):
        for per_target in conns:
            per_target[shard].call(*args)  # an error reply raises: the journal must replay cleanly

    while True:
        progressed = False
        for s, recs in enumerate(streams):
            while pos[s] < len(recs) and recs[pos[s]][0] == "cmd":
                apply(s, recs[pos[s]][1])
                pos[s] += 1
                progressed = True
        if all(pos[s] == len(recs) for s, recs in enumerate(streams)):
            return
        if progressed:
            continue
        heads = [recs[pos[s]] for s, recs in enumerate(streams) if pos[s] < len(recs)]
        assert all(h[0] == "B" for h in heads), heads
        seq = min(h[1] for h in heads)
        mask = [h for h in heads if h[1] == seq][0][2]
        for s, recs in enumerate(streams):
            if not mask & (1 << s):
                continue
            assert recs[pos[s]][:2] == ("B", seq), (s, recs[pos[s]], seq)
            pos[s] += 1
            while recs[pos[s]][0] != "E":
                assert recs[pos[s]][0] == "cmd"
                apply(s, recs[pos[s]][1])
                pos[s] += 1
            assert recs[pos[s]] == ("E", seq)
            pos[s] += 1


def random_ops(rng, n):
    keys = ["k%d" % i for i in range(12)] + ["{t}%d" % i for i in range(4)]
    lists = ["l%d" % i for i in range(5)]
    hashes = ["h%d" % i for i in range(4)]
    sets = ["s%d" % i for i in range(5)]
    zsets = ["z%d" % i for i in range(4)]
    val = lambda: str(rng.randint(0, 50))
    ops = []
    for _ in range(n):
        k, k2 = rng.choice(keys), rng.choice(keys)
        l, l2 = rng.choice(lists), rng.choice(lists)
        s, s2 = rng.choice(sets), rng.choice(sets)
        z, h = rng.choice(zsets), rng.choice(hashes)
        ops.append(rng.choice([
            ("SET", k, val()), ("SET", k, val(), "EX", "5000"), ("SETEX", k, "5000", val()),
            ("INCRBYFLOAT", "f" + k, "1.1"), ("APPEND", k, "x"), ("GETDEL", k), ("GETEX", k, "PX", "900000"),
            ("EXPIRE", k, "5000"), ("PERSIST", k), ("DEL", k, k2), ("MSET", k, val(), k2, val()),
            ("RENAME", k, k2), ("COPY", k, k2, "REPLACE"), ("MSETNX", k, "1", k2, "2"),
            ("LPUSH", l, val(), val()), ("RPOP", l), ("LMOVE", l, l2, "LEFT", "RIGHT"), ("BLPOP", l, "0.01"),
            ("BRPOPLPUSH", l, l2, "0.01"),
            ("LMPOP", "2", l, l2, "LEFT", "COUNT", "2"),
            ("HSET", h, "f" + val(), val()), ("HINCRBYFLOAT", h, "fl", "0.5"), ("HDEL", h, "f1", "f2"),
            ("SADD", s, val(), val(), "m" + val()), ("SPOP", s), ("SPOP", s, "2"), ("SREM", s, val()),
            ("SMOVE", s, s2, val()), ("SINTERSTORE", s, s, s2), ("SUNIONSTORE", s2, s, s2),
            ("ZADD", z, val(), "m" + val()), ("ZINCRBY", z, "1.5", "m1"), ("ZPOPMIN", z), ("BZPOPMAX", z, "0.01"),
            ("ZMPOP", "1", z, "MIN", "COUNT", "2"), ("ZREM", z, "m2"),
            ("MULTI_EXEC", ("SET", k, "t"), ("INCR", "n" + k), ("SADD", s, "x")),
            ("MULTI_EXEC", ("SPOP", s, "2"), ("LPUSH", l, "q")),
            ("SELECT_RUN", ("SET", k, "in-db-1"), ("LPUSH", l, "d1")),
        ]))
    return ops


@pytest.mark.once
@pytest.mark.slow
def test_replayed_journal_has_the_same_digest(start_server, tmp_path):
    src = start_server()
    r = redis.Redis(port=src.port)
    raw = RespConn("127.0.0.1", src.port)
    journal_take(r)
    rng = random.Random(20240611)
    for op in random_ops(rng, 1500):
        if op[0] == "MULTI_EXEC":
            batch = [("MULTI",)] + list(op[1:]) + [("EXEC",)]
        elif op[0] == "SELECT_RUN":
            batch = [("SELECT", "1")] + list(op[1:]) + [("SELECT", "0")]
        else:
            batch = [op]
        for cmd in batch:
            try:
                raw.call(*cmd)
            except RespError:
                pass
    r.execute_command("SWAPDB", "0", "1")
    r.execute_command("SWAPDB", "0", "1")
    parts = journal_take(r)
    for p in parts:
        assert not p.startswith(b"-"), p
    want = r.execute_command("DEBUG", "DIGEST")
    assert want != b"0" * 40

    fresh = start_server()
    if not os.path.exists(REDIS_SERVER):
        pytest.skip("redis-server not installed")
    rd = RedisAof(tmp_path)
    try:
        merge_and_replay(parts, [fresh.port, rd.port])
        assert redis.Redis(port=fresh.port).execute_command("DEBUG", "DIGEST") == want
        assert rd.r.execute_command("DEBUG", "DIGEST") == want
    finally:
        rd.stop()
