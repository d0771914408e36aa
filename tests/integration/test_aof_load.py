"""AOF recovery at start-up (storage/aof_load.c): Redis 7.0's appendonlydir
(with and without RDB preamble), legacy appendonly.aof files (RESP only, and
with an RDB preamble), ringkv's own per-shard AOF (same and different shard
count), and the failure modes: truncated tail (aof-load-truncated yes/no),
corruption in the middle, a missing file, a bad manifest line.

The reference for every dataset is Debian's redis-server 7.0 loading the
same files: DEBUG DIGEST must be equal."""

import os
import shutil
import signal
import time

import pytest

from conftest import Server, wait_exit, keys_on_shard

# Run once, in the io_uring stage (the marker is explained in pytest.ini).
pytestmark = pytest.mark.once


def digest(c):
    return c.execute_command("DEBUG", "DIGEST")


def write_everything(c, swapdb=True):
    """Writes of every type, MULTI/EXEC, SELECT, EXPIRE, cross-slot commands."""
    for i in range(150):
        c.set("k%d" % i, "v%d" % i)
        c.hset("h%d" % (i % 7), "f%d" % i, i)
        c.sadd("s%d" % (i % 5), "m%d" % i)
        c.zadd("z%d" % (i % 3), {"m%d" % i: i * 1.5})
        c.rpush("l%d" % (i % 4), "x%d" % i)
        c.incr("counter")
    c.lpop("l1")
    c.srem("s1", "m1")
    c.zincrby("z0", 10, "m3")
    c.hdel("h1", "f1")
    c.append("k5", "-more")
    c.expire("k7", 5000)
    c.pexpireat("k8", int(time.time() * 1000) + 9_000_000)
    c.setex("k9", 4000, "with-ttl")
    c.persist("k7")
    c.expire("k10", 7000)
    c.delete("k11", "k12", "k13")
    c.mset({"ma": 1, "mb": 2, "mc": 3, "md": 4})
    c.rename("k20", "k20-renamed")
    c.lmove("l2", "l3", "LEFT", "RIGHT")
    c.sunionstore("s-union", "s1", "s2", "s3")
    c.zunionstore("z-union", ["z0", "z1"])
    c.copy("k30", "k30-copy")
    p = c.pipeline(transaction=True)
    p.set("t1", "a")
    p.incr("t2")
    p.sadd("t3", "x", "y")
    p.execute()
    c.execute_command("SELECT", "3")
    c.set("db3-a", "x")
    c.rpush("db3-l", 1, 2, 3)
    c.expire("db3-a", 10000)
    c.execute_command("SELECT", "0")
    if swapdb:
        c.execute_command("SWAPDB", "3", "4")
    c.set("after-swap", "1")


def redis_dir(tmp_path, real_redis_in_dir, preamble, rewrite_midway=True):
    """An appendonlydir written by redis-server 7.0; returns (dir, digest, dbsize)."""
    d = tmp_path / ("redis-%s" % preamble)
    rr = real_redis_in_dir(d, "--appendonly", "yes", "--aof-use-rdb-preamble", preamble,
                           "--auto-aof-rewrite-percentage", "0")
    c = rr.client()
    for i in range(50):
        c.set("pre%d" % i, i)
    c.rpush("pre-list", *range(100))
    c.hset("pre-hash", mapping={"f%d" % i: i for i in range(80)})
    if rewrite_midway:
        c.bgrewriteaof()
        deadline = time.monotonic() + 10
        while c.info("persistence")["aof_rewrite_in_progress"] or \
                c.info("persistence").get("aof_rewrite_scheduled"):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.2)
    write_everything(c)
    dg, n = digest(c), c.dbsize()
    c.close()
    rr.stop()
    return d / "appendonlydir", dg, n


def ringkv_on(tmp_path, name, files_from, nshards, start_server_dir, **directives):
    """Copies an appendonlydir into a fresh dir and starts ringkv on it."""
    d = tmp_path / name
    d.mkdir()
    if files_from is not None:
        shutil.copytree(files_from, d / "appendonlydir")
    return start_server_dir(d, nshards, **directives)


@pytest.fixture
def start_in_dir():
    started = []

    def start(workdir, nshards, wait=True, **directives):
        directives.setdefault("appendonly", "yes")
        directives["shards"] = str(nshards)
        server = Server(workdir, directives=directives)
        started.append(server)
        return server.start(wait=wait)

    yield start
    for s in started:
        if s.is_running():
            s.stop(check=False)


def wait_loaded(c, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        try:
            if c.info("persistence").get("loading", 0) == 0:
                return
        except Exception:
            pass
        assert time.monotonic() < deadline
        time.sleep(0.05)


# ---------------------------------------------------------------------------
# Redis 7.0's appendonlydir

@pytest.mark.parametrize("preamble", ["yes", "no"])
@pytest.mark.parametrize("nshards", [1, 2])
def test_redis_appendonlydir(tmp_path, real_redis_in_dir, start_in_dir, preamble, nshards):
    src, want, n = redis_dir(tmp_path, real_redis_in_dir, preamble)
    srv = ringkv_on(tmp_path, "rk", src, nshards, start_in_dir)
    c = srv.client()
    wait_loaded(c)
    assert c.dbsize() == n
    assert digest(c) == want
    assert c.execute_command("SELECT", "4") and c.get("db3-a") == b"x"


def test_redis_appendonlydir_without_rewrite(tmp_path, real_redis_in_dir, start_in_dir):
    """Only the base Redis creates at start plus one INCR file."""
    src, want, _ = redis_dir(tmp_path, real_redis_in_dir, "yes", rewrite_midway=False)
    srv = ringkv_on(tmp_path, "rk", src, 2, start_in_dir)
    assert digest(srv.client()) == want


# ---------------------------------------------------------------------------
# Legacy appendonly.aof (Redis < 7)

def resp(*args):
    out = b"*%d\r\n" % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b"$%d\r\n%s\r\n" % (len(a), a)
    return out


def legacy_commands():
    cmds = []
    for i in range(100):
        cmds.append(resp("SET", "lk%d" % i, "v%d" % i))
        cmds.append(resp("RPUSH", "ll%d" % (i % 3), i))
        cmds.append(resp("SADD", "ls", i))
    cmds.append(resp("MULTI"))
    cmds.append(resp("INCRBY", "lc", 5))
    cmds.append(resp("HSET", "lh", "a", "1", "b", "2"))
    cmds.append(resp("EXEC"))
    cmds.append(resp("SELECT", 2))
    cmds.append(resp("SET", "in-db2", "yes"))
    cmds.append(resp("PEXPIREAT", "in-db2", int(time.time() * 1000) + 5_000_000))
    cmds.append(resp("SELECT", 0))
    cmds.append(resp("MSET", "ma", "1", "mb", "2", "mc", "3"))
    cmds.append(resp("DEL", "lk1", "lk2", "lk3", "lk4"))
    cmds.append(resp("RENAME", "lk5", "lk5-renamed"))
    cmds.append(resp("SUNIONSTORE", "ls2", "ls", "ls"))
    return b"".join(cmds)


def reference_digest(tmp_path, real_redis_in_dir, name, files):
    """redis-server 7.0 loading the given files (a legacy appendonly.aof)."""
    d = tmp_path / ("ref-" + name)
    d.mkdir()
    for fname, data in files.items():
        (d / fname).write_bytes(data)
    rr = real_redis_in_dir(d, "--appendonly", "yes", "--auto-aof-rewrite-percentage", "0")
    c = rr.client()
    dg, n = digest(c), c.dbsize()
    c.close()
    rr.stop()
    return dg, n


@pytest.mark.parametrize("nshards", [1, 2])
def test_legacy_resp(tmp_path, real_redis_in_dir, start_in_dir, nshards):
    data = legacy_commands()
    want, n = reference_digest(tmp_path, real_redis_in_dir, "resp", {"appendonly.aof": data})
    d = tmp_path / "rk"
    d.mkdir()
    (d / "appendonly.aof").write_bytes(data)
    srv = start_in_dir(d, nshards)
    c = srv.client()
    wait_loaded(c)
    assert c.dbsize() == n
    assert digest(c) == want


@pytest.mark.parametrize("nshards", [1, 2])
def test_legacy_with_rdb_preamble(tmp_path, real_redis_in_dir, start_in_dir, nshards):
    # an RDB from redis-server, then commands
    src = tmp_path / "rdbsrc"
    rr = real_redis_in_dir(src)
    c = rr.client()
    for i in range(200):
        c.set("r%d" % i, i)
    c.zadd("rz", {"a": 1, "b": 2})
    c.hset("rh", mapping={"x": 1})
    c.save()
    c.close()
    rr.stop()
    data = (src / "dump.rdb").read_bytes() + legacy_commands() + resp("DEL", "r1") + resp("ZADD", "rz", 5, "c")
    want, n = reference_digest(tmp_path, real_redis_in_dir, "preamble", {"appendonly.aof": data})
    d = tmp_path / "rk"
    d.mkdir()
    (d / "appendonly.aof").write_bytes(data)
    srv = start_in_dir(d, nshards)
    c = srv.client()
    wait_loaded(c)
    assert c.dbsize() == n
    assert digest(c) == want


# ---------------------------------------------------------------------------
# ringkv's own AOF

@pytest.mark.smoke
def test_ringkv_restart_same_and_other_shard_count(tmp_path, start_in_dir):
    d = tmp_path / "own"
    d.mkdir()
    srv = start_in_dir(d, 2, appendfsync="always")
    c = srv.client()
    # no SWAPDB: replaying it on another shard count is refused (see aof_load.c)
    write_everything(c, swapdb=False)
    a, b = keys_on_shard(0, 3, "x"), keys_on_shard(1, 3, "y")
    for i in range(20):
        c.mset({a[0]: i, b[0]: i, a[1]: "p", b[1]: "q"})       # a multi-shard transaction
        p = c.pipeline(transaction=True)
        p.incr(a[2])
        p.incr(b[2])
        p.execute()
    c.execute_command("FLUSHDB")                                 # framed on every shard
    write_everything(c, swapdb=False)
    want, n = digest(c), c.dbsize()
    os.kill(srv.proc.pid, signal.SIGKILL)
    srv.proc.wait()
    srv.expect_exit = True
    srv = start_in_dir(d, 2)        # a fresh port: the killed one may linger
    c = srv.client()
    wait_loaded(c)
    assert digest(c) == want
    srv.stop()
    # the same files on three shards: every key to its new shard
    d3 = tmp_path / "own3"
    shutil.copytree(d / "appendonlydir", d3 / "appendonlydir")
    srv3 = start_in_dir(d3, 3)
    c3 = srv3.client()
    wait_loaded(c3)
    assert c3.dbsize() == n
    assert digest(c3) == want


# ---------------------------------------------------------------------------
# Failures

def incr_file(d):
    names = sorted(p for p in os.listdir(d) if p.endswith(".incr.aof"))
    assert names
    return d / names[-1]


def test_truncated_tail_loaded_with_aof_load_truncated_yes(tmp_path, real_redis_in_dir, start_in_dir):
    src, want, n = redis_dir(tmp_path, real_redis_in_dir, "yes")
    d = tmp_path / "rk"
    shutil.copytree(src, d / "appendonlydir")
    f = incr_file(d / "appendonlydir")
    good = f.stat().st_size
    with open(f, "ab") as fh:
        fh.write(b"*3\r\n$3\r\nSET\r\n$3\r\nfoo\r\n$10\r\nbar")  # cut inside a command
    srv = start_in_dir(d, 2, aof_load_truncated="yes")
    c = srv.client()
    wait_loaded(c)
    assert digest(c) == want
    log = srv.log_text()
    assert "!!! Warning: short read while loading the AOF file %s!!!" % f.name in log
    assert "!!! Truncating the AOF %s at offset %d !!!" % (f.name, good) in log
    assert "AOF %s loaded anyway because aof-load-truncated is enabled" % f.name in log


def test_truncated_tail_refused_with_aof_load_truncated_no(tmp_path, real_redis_in_dir, start_in_dir):
    src, _, _ = redis_dir(tmp_path, real_redis_in_dir, "no")
    d = tmp_path / "rk"
    shutil.copytree(src, d / "appendonlydir")
    f = incr_file(d / "appendonlydir")
    good = f.stat().st_size
    with open(f, "ab") as fh:
        fh.write(b"*2\r\n$4\r\nINCR\r\n$1")
    srv = start_in_dir(d, 2, wait=False, aof_load_truncated="no")
    assert wait_exit(srv) != 0
    log = srv.log_text()
    assert "Unexpected end of file reading the append only file %s" % f.name in log
    assert "offset %d" % good in log
    assert f.stat().st_size > good  # not cut


def test_truncated_multi_reverted(tmp_path, start_in_dir):
    d = tmp_path / "rk"
    d.mkdir()
    data = resp("SET", "a", "1") + resp("MULTI") + resp("SET", "b", "2")
    (d / "appendonly.aof").write_bytes(data)
    srv = start_in_dir(d, 2, aof_load_truncated="yes")
    c = srv.client()
    wait_loaded(c)
    assert c.get("a") == b"1" and c.get("b") is None
    assert "Revert incomplete MULTI/EXEC transaction in AOF file appendonly.aof" in srv.log_text()


@pytest.mark.smoke
def test_corruption_in_the_middle(tmp_path, real_redis_in_dir, start_in_dir):
    src, _, _ = redis_dir(tmp_path, real_redis_in_dir, "yes")
    d = tmp_path / "rk"
    shutil.copytree(src, d / "appendonlydir")
    f = incr_file(d / "appendonlydir")
    data = bytearray(f.read_bytes())
    mid = data.index(b"*", len(data) // 2)
    data[mid] = ord("!")
    f.write_bytes(bytes(data))
    srv = start_in_dir(d, 2, wait=False)
    assert wait_exit(srv) != 0
    log = srv.log_text()
    assert "Bad file format reading the append only file %s at offset %d" % (f.name, mid) in log
    assert "redis-check-aof --fix" in log


def test_missing_file(tmp_path, real_redis_in_dir, start_in_dir):
    src, _, _ = redis_dir(tmp_path, real_redis_in_dir, "yes")
    d = tmp_path / "rk"
    shutil.copytree(src, d / "appendonlydir")
    f = incr_file(d / "appendonlydir")
    f.unlink()
    srv = start_in_dir(d, 2, wait=False)
    assert wait_exit(srv) != 0
    assert f.name in srv.log_text()


def test_bad_manifest_line(tmp_path, real_redis_in_dir, start_in_dir):
    src, _, _ = redis_dir(tmp_path, real_redis_in_dir, "yes")
    d = tmp_path / "rk"
    shutil.copytree(src, d / "appendonlydir")
    m = d / "appendonlydir" / "appendonly.aof.manifest"
    m.write_text(m.read_text() + "file appendonly.aof.9.incr.aof seq 9 type x\n")
    srv = start_in_dir(d, 2, wait=False)
    assert wait_exit(srv) != 0
    log = srv.log_text()
    assert "Unknown AOF file type" in log
    assert "appendonly.aof.manifest:3" in log


def test_empty_aof_is_an_empty_dataset(tmp_path, start_in_dir):
    d = tmp_path / "rk"
    (d / "appendonlydir").mkdir(parents=True)
    (d / "appendonlydir" / "appendonly.aof.1.base.rdb").write_bytes(b"")
    (d / "appendonlydir" / "appendonly.aof.1.incr.aof").write_bytes(b"")
    (d / "appendonlydir" / "appendonly.aof.manifest").write_text(
        "file appendonly.aof.1.base.rdb seq 1 type b\nfile appendonly.aof.1.incr.aof seq 1 type i\n")
    srv = start_in_dir(d, 2)
    assert srv.client().dbsize() == 0


@pytest.mark.smoke
def test_multi_shard_transaction_recovered_whole_or_not_at_all(tmp_path, start_in_dir):
    """Shard 1's part of the last MSET lost its #E (as after a crash): the
    cut rule drops the transaction on both shards, and cuts the files."""
    d = tmp_path / "own"
    d.mkdir()
    srv = start_in_dir(d, 2)
    c = srv.client()
    a, b = keys_on_shard(0, 1, "x")[0], keys_on_shard(1, 1, "y")[0]
    c.mset({a: "1", b: "1"})
    c.mset({a: "2", b: "2"})
    solo = "{%s}-solo" % a                  # a's slot: shard 0
    c.set(solo, "kept")
    srv.stop()
    aofdir = d / "appendonlydir"
    s1 = next(aofdir / n for n in os.listdir(aofdir) if ".s1." in n and n.endswith(".incr.aof"))
    data = s1.read_bytes()
    last_e = data.rindex(b"#E ")
    s1.write_bytes(data[:last_e])
    srv = start_in_dir(d, 2)
    c = srv.client()
    wait_loaded(c)
    assert c.get(a) == b"1" and c.get(b) == b"1"
    log = srv.log_text()
    assert "is not complete in every shard" in log
    # shard 0's log was cut at the transaction's #B: what followed it there is gone too
    assert c.get(solo) is None
