"""The AOF as a user turns it on and relies on it (issue 5): files and the
manifest of a fresh start, every type surviving SHUTDOWN NOSAVE and kill -9,
appendonly yes ignoring dump.rdb (Redis 7.0 does), CONFIG SET appendonly at
run time, INFO persistence's aof_* names (Redis 7.0.15's, checked by hand),
WAITAOF (Redis 7.2's replies and errors)."""
import os
import re
import signal
import time

import pytest
import redis

from conftest import Server, keys_on_shard, wait_exit

MANIFEST = "appendonly.aof.manifest"
INFO_FIELDS = ("aof_enabled", "aof_rewrite_in_progress", "aof_rewrite_scheduled",
               "aof_last_rewrite_time_sec", "aof_current_rewrite_time_sec",
               "aof_last_bgrewrite_status", "aof_rewrites", "aof_rewrites_consecutive_failures",
               "aof_last_write_status", "aof_last_cow_size")
INFO_ON_FIELDS = ("aof_current_size", "aof_base_size", "aof_pending_rewrite",
                  "aof_buffer_length", "aof_pending_bio_fsync", "aof_delayed_fsync")


def aof_dir(srv):
    return srv.dir / "appendonlydir"


def manifest_lines(srv):
    text = (aof_dir(srv) / MANIFEST).read_text()
    return [line.split() for line in text.splitlines() if line and not line.startswith("#")]


def listed_files(srv):
    return {fields[1] for fields in manifest_lines(srv)}


def fill(c):
    """One key of every type on both shards, some with TTLs."""
    for shard in (0, 1):
        tag = "{%s}" % keys_on_shard(shard, 1, "t")[0]
        c.set("s" + tag, "v" * 100)
        c.set("n" + tag, 42)
        c.incrby("n" + tag, 8)
        c.rpush("l" + tag, *range(300))
        c.lpop("l" + tag)
        c.hset("h" + tag, mapping={"f%d" % i: i for i in range(200)})
        c.hdel("h" + tag, "f3")
        c.sadd("si" + tag, *range(100))
        c.sadd("ss" + tag, "a", "b", "c")
        c.srem("ss" + tag, "b")
        c.zadd("z" + tag, {"m%d" % i: i / 7 for i in range(150)})
        c.zincrby("z" + tag, 2.5, "m1")
        c.set("ttl" + tag, "x", px=500000)
        c.expire("l" + tag, 100000)
    c.mset({"a{x}": 1, "b{y}": 2, "c{z}": 3})
    c.rename("a{x}", "a2{x}")
    p = c.pipeline(transaction=True)
    p.set("m1", 1).incr("m2").lpush("m3", "q")
    p.execute()
    c.execute_command("SELECT", 3)
    c.set("db3", "three")
    c.execute_command("SELECT", 0)


def digest(c):
    return c.execute_command("DEBUG", "DIGEST")


def start_aof(tmp_path, **directives):
    d = dict({"appendonly": "yes", "save": '""'}, **directives)
    return Server(tmp_path / "data", directives=d).start()


def test_fresh_start_creates_bases_incr_and_manifest(tmp_path):
    srv = start_aof(tmp_path)
    try:
        lines = manifest_lines(srv)
        kinds = sorted((f[5], f[7]) for f in lines)  # (type, shard)
        assert kinds == [("b", "0"), ("b", "1"), ("i", "0"), ("i", "1")]
        for f in lines:
            assert re.fullmatch(r"appendonly\.aof\.s[01]\.1\.(base\.rdb|incr\.aof)", f[1]), f
            assert (aof_dir(srv) / f[1]).exists()
        assert set(os.listdir(aof_dir(srv))) == listed_files(srv) | {MANIFEST}
        assert "Creating AOF base file appendonly.aof.s0.1.base.rdb on server start" in srv.log_text()
        info = srv.client().info("persistence")
        assert info["aof_enabled"] == 1 and info["aof_rewrites"] == 0
    finally:
        srv.stop()


@pytest.mark.parametrize("fsync", ["always", "everysec"])
def test_every_type_survives_shutdown_nosave(tmp_path, fsync):
    srv = start_aof(tmp_path, appendfsync=fsync)
    c = srv.client()
    fill(c)
    before = digest(c)
    with pytest.raises(redis.ConnectionError):
        c.execute_command("SHUTDOWN", "NOSAVE")
    assert wait_exit(srv) == 0
    assert "Calling fsync() on the AOF file." in srv.log_text()
    srv.start()
    try:
        assert digest(srv.client()) == before
    finally:
        srv.stop()


def test_kill9_with_always_keeps_every_write(tmp_path):
    srv = start_aof(tmp_path, appendfsync="always")
    c = srv.client()
    fill(c)
    for i in range(500):
        c.set("k%d" % i, i)
    before = digest(c)
    c.close()  # an open connection of a killed server would hold the port
    srv.kill()
    time.sleep(0.5)
    srv.start()
    try:
        c = srv.client()
        assert digest(c) == before
        # and once more, continuing the same INCR files
        c.set("after", "restart")
        before = digest(c)
        c.close()
        srv.kill()
        time.sleep(0.5)  # the killed server's sockets leave the port
        srv.start()
        assert digest(srv.client()) == before
    finally:
        srv.stop()


def test_dump_rdb_ignored_with_appendonly_yes(tmp_path):
    plain = Server(tmp_path / "data", directives={"save": '""'}).start()
    c = plain.client()
    c.set("from-rdb", 1)
    c.save()
    plain.stop()
    assert (plain.dir / "dump.rdb").exists()
    srv = start_aof(tmp_path)
    try:
        assert srv.client().dbsize() == 0  # Redis 7.0: the AOF (created empty) wins
    finally:
        srv.stop()


def test_config_set_appendonly_at_run_time(tmp_path):
    srv = Server(tmp_path / "data", directives={"save": '""'}).start()
    c = srv.client()
    fill(c)
    assert c.info("persistence")["aof_enabled"] == 0
    assert c.config_set("appendonly", "yes")
    assert c.info("persistence")["aof_enabled"] == 1
    deadline = time.monotonic() + 10
    while not (srv.dir / "appendonlydir" / MANIFEST).exists():
        assert time.monotonic() < deadline, "no manifest after CONFIG SET appendonly yes"
        time.sleep(0.05)
    c.set("written-after", "on")
    before = digest(c)
    srv.proc.send_signal(signal.SIGTERM)
    assert wait_exit(srv) == 0
    srv.directives["appendonly"] = "yes"
    srv.start()
    try:
        c = srv.client()
        assert digest(c) == before
        # off: the writers close, the files stay
        assert c.config_set("appendonly", "no")
        c.set("not-in-aof", 1)
        time.sleep(0.3)
        assert c.info("persistence")["aof_enabled"] == 0
        assert (srv.dir / "appendonlydir" / MANIFEST).exists()
    finally:
        srv.stop()


def test_turning_on_over_an_earlier_aof(tmp_path):
    """An appendonly-no start over the files of an earlier AOF: turning on
    writes files of new names (an INCR file of an old name would be appended
    to, replaying the old commands at the next start), and the old files
    become history."""
    srv = start_aof(tmp_path)
    c = srv.client()
    for i in range(50):
        c.incr("counter")
        c.rpush("old-list", i)
    old = {f for f in os.listdir(aof_dir(srv))}
    with pytest.raises(redis.ConnectionError):
        c.execute_command("SHUTDOWN", "NOSAVE")
    assert wait_exit(srv) == 0
    srv.directives["appendonly"] = "no"
    srv.start()
    try:
        c = srv.client()
        assert c.dbsize() == 0  # no dump.rdb: the AOF is not read with appendonly no
        c.set("counter", 7)
        assert c.config_set("appendonly", "yes")
        deadline = time.monotonic() + 10
        while c.info("persistence")["aof_rewrites"] < 1 or c.info("persistence")["aof_rewrite_in_progress"]:
            assert time.monotonic() < deadline, "turning on did not finish"
            time.sleep(0.05)
        assert c.info("persistence")["aof_last_bgrewrite_status"] == "ok"
        c.incr("counter")
        present = set(os.listdir(aof_dir(srv)))
        assert not (present & old) - {MANIFEST}
        assert present == listed_files(srv) | {MANIFEST}
        before = digest(c)
        with pytest.raises(redis.ConnectionError):
            c.execute_command("SHUTDOWN", "NOSAVE")
        assert wait_exit(srv) == 0
        srv.directives["appendonly"] = "yes"
        srv.start()
        c = srv.client()
        assert digest(c) == before
        assert c.get("counter") == b"8" and not c.exists("old-list")
    finally:
        srv.stop()


def test_info_fields(tmp_path):
    srv = start_aof(tmp_path)
    try:
        with srv.raw() as conn:
            text = conn.call("INFO", "persistence").decode()
        names = [line.split(":")[0] for line in text.splitlines() if ":" in line]
        aof_names = [n for n in names if n.startswith("aof_")]
        assert aof_names == [n for n in INFO_FIELDS + INFO_ON_FIELDS]
        assert names.index("module_fork_in_progress") < names.index("aof_current_size")
    finally:
        srv.stop()
    off = Server(tmp_path / "off", directives={"save": '""'}).start()
    try:
        info = off.client().info("persistence")
        for name in INFO_FIELDS:
            assert name in info
        for name in INFO_ON_FIELDS:
            assert name not in info
        assert info["aof_enabled"] == 0 and info["aof_last_rewrite_time_sec"] == -1
    finally:
        off.stop()


def test_waitaof(tmp_path):
    off = Server(tmp_path / "off", directives={"save": '""'}).start()
    try:
        c = off.client()
        with pytest.raises(redis.ResponseError, match="WAITAOF cannot be used when numlocal is set but "
                                                       "appendonly is disabled."):
            c.execute_command("WAITAOF", 1, 0, 0)
        assert c.execute_command("WAITAOF", 0, 0, 0) == [0, 0]
        with pytest.raises(redis.ResponseError, match="value is out of range, value must between 0 and 1"):
            c.execute_command("WAITAOF", 2, 0, 0)
        with pytest.raises(redis.ResponseError, match="value is out of range, must be positive"):
            c.execute_command("WAITAOF", 0, -1, 0)
        with pytest.raises(redis.ResponseError, match="timeout is negative"):
            c.execute_command("WAITAOF", 0, 0, -1)
    finally:
        off.stop()
    for fsync in ("no", "everysec", "always"):
        srv = start_aof(tmp_path / fsync, appendfsync=fsync)
        try:
            c = srv.client()
            for i in range(100):
                c.set("k%d" % i, i)
            assert c.execute_command("WAITAOF", 1, 0, 0) == [1, 0]
            t0 = time.monotonic()
            assert c.execute_command("WAITAOF", 1, 1, 200) == [1, 0]  # no replicas: the timeout answers
            assert time.monotonic() - t0 >= 0.15
            p = c.pipeline(transaction=True)
            p.set("x", 1).execute_command("WAITAOF", 1, 0, 0)
            res = p.execute()
            assert res[1][1] == 0 and res[1][0] in (0, 1)  # inside MULTI it never blocks
        finally:
            srv.stop()


def test_redis_appendonlydir_migrates(tmp_path):
    """Debian's redis-server 7.0 writes an appendonlydir (a base, an INCR
    file); ringkv loads it, rewrites it into its per-shard layout before
    serving, and removes Redis's files once its manifest is committed."""
    import shutil
    import subprocess
    rs = shutil.which("redis-server")
    if not rs:
        pytest.skip("redis-server not installed")
    from conftest import free_port
    data = tmp_path / "data"
    data.mkdir()
    port = free_port()
    proc = subprocess.Popen([rs, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data),
                             "--appendonly", "yes", "--save", "", "--enable-debug-command", "yes"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        rc = redis.Redis(port=port)
        deadline = time.monotonic() + 10
        while True:
            try:
                rc.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline
                time.sleep(0.05)
        fill(rc)
        rc.bgrewriteaof()
        time.sleep(0.5)
        rc.set("after-rewrite", 1)
        rc.rpush("after-list", "a", "b")
        expected = digest(rc)
        try:
            rc.shutdown(nosave=True)
        except redis.ConnectionError:
            pass
    finally:
        proc.wait(timeout=10)
    assert (data / "appendonlydir" / "appendonly.aof.2.base.rdb").exists()
    srv = Server(data, directives={"appendonly": "yes", "save": '""'}).start()
    try:
        assert digest(srv.client()) == expected
        files = set(os.listdir(data / "appendonlydir"))
        assert files == listed_files(srv) | {MANIFEST}
        assert all(".s0." in f or ".s1." in f for f in listed_files(srv))
        assert "Removing the history file appendonly.aof.2.base.rdb in the background" in srv.log_text()
    finally:
        srv.stop()
    srv.start()
    try:
        assert digest(srv.client()) == expected
    finally:
        srv.stop()
