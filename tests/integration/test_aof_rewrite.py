"""AOF rewrites (issue 5): BGREWRITEAOF under write load keeps every key and
leaves only the files the manifest lists; BGREWRITEAOF during BGSAVE is
scheduled, BGSAVE during a rewrite is refused (Redis 7.0's texts);
aof-use-rdb-preamble no writes RESP bases; the automatic rewrite fires on
growth; a rewrite that cannot write its bases (RLIMIT_FSIZE) leaves the old
set in charge and the data recoverable; BGREWRITEAOF with appendonly no
writes bases only (Redis 7.0); CONFIG SET appendonly no and SHUTDOWN while a
rewrite runs; turning on that fails is retried after 5 s."""
import os
import subprocess
import threading
import time

import pytest
import redis

from conftest import Server, prlimit_fsize, wait_exit

MANIFEST = "appendonly.aof.manifest"


def manifest_lines(srv):
    text = (srv.dir / "appendonlydir" / MANIFEST).read_text()
    return [line.split() for line in text.splitlines() if line and not line.startswith("#")]


def assert_dir_matches_manifest(srv):
    listed = {f[1] for f in manifest_lines(srv)}
    present = set(os.listdir(srv.dir / "appendonlydir"))
    assert present == listed | {MANIFEST}, (present, listed)
    for f in manifest_lines(srv):
        assert f[5] in ("b", "i"), f  # no history left


def digest(c):
    return c.execute_command("DEBUG", "DIGEST")


def wait_rewrite_done(c, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        info = c.info("persistence")
        if not info["aof_rewrite_in_progress"] and not info["aof_rewrite_scheduled"]:
            return info
        assert time.monotonic() < deadline, info
        time.sleep(0.05)


def start(tmp_path, name="data", **directives):
    d = dict({"appendonly": "yes", "save": '""'}, **directives)
    return Server(tmp_path / name, directives=d).start()


def shutdown_nosave(srv):
    c = srv.client()
    with pytest.raises(redis.ConnectionError):
        c.execute_command("SHUTDOWN", "NOSAVE")
    assert wait_exit(srv) == 0


def restart_same(srv):
    shutdown_nosave(srv)
    srv.start()


class Load(threading.Thread):
    def __init__(self, srv):
        super().__init__(daemon=True)
        self.c = srv.client()
        self.stop_flag = False
        self.n = 0

    def run(self):
        while not self.stop_flag:
            self.n += 1
            p = self.c.pipeline(transaction=False)
            p.set("w:%d" % self.n, self.n).incr("counter").rpush("list", self.n)
            p.hset("hash", "f%d" % (self.n % 500), self.n)
            p.mset({"m{a}:%d" % (self.n % 100): self.n, "m{b}:%d" % (self.n % 100): self.n})
            p.execute()


@pytest.mark.parametrize("preamble", ["yes", "no"])
def test_bgrewriteaof_under_write_load(tmp_path, preamble):
    srv = start(tmp_path, aof_use_rdb_preamble=preamble)
    c = srv.client()
    c.execute_command("DEBUG", "POPULATE", 50000, "pop", 50)
    load = Load(srv)
    load.start()
    try:
        for _ in range(3):
            time.sleep(0.2)
            assert c.bgrewriteaof()
            wait_rewrite_done(c)
    finally:
        load.stop_flag = True
        load.join()
    assert load.n > 0
    info = c.info("persistence")
    assert info["aof_last_bgrewrite_status"] == "ok" and info["aof_rewrites"] == 3
    suffix = ".base.rdb" if preamble == "yes" else ".base.aof"
    bases = [f[1] for f in manifest_lines(srv) if f[5] == "b"]
    assert len(bases) == 2 and all(b.endswith(suffix) for b in bases)
    assert_dir_matches_manifest(srv)
    before = digest(c)
    restart_same(srv)
    try:
        assert digest(srv.client()) == before
        assert_dir_matches_manifest(srv)
    finally:
        srv.stop()


def test_bgrewriteaof_and_bgsave_share_the_slot(tmp_path):
    srv = start(tmp_path)
    try:
        c = srv.client()
        c.execute_command("DEBUG", "POPULATE", 400000, "big", 100)
        conn = srv.raw()
        assert conn.call("BGSAVE") == "Background saving started"
        assert conn.call("BGREWRITEAOF") == "Background append only file rewriting scheduled"
        assert c.info("persistence")["aof_rewrite_scheduled"] == 1
        info = wait_rewrite_done(c)
        assert info["aof_rewrites"] == 1
        # BGSAVE while a rewrite runs
        assert conn.call("BGREWRITEAOF") == "Background append only file rewriting started"
        with pytest.raises(redis.ResponseError) as e:
            c.execute_command("BGREWRITEAOF")
        assert "Background append only file rewriting already in progress" in str(e.value)
        with pytest.raises(redis.ResponseError) as e:
            c.execute_command("BGSAVE")
        assert str(e.value) == ("Another child process is active (AOF?): use BGSAVE SCHEDULE in order to "
                                "schedule a BGSAVE whenever possible.")
        assert conn.call("BGSAVE", "SCHEDULE") == "Background saving scheduled"
        conn.close()
        wait_rewrite_done(c)
        deadline = time.monotonic() + 30
        while c.info("persistence")["rdb_saves"] < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        assert_dir_matches_manifest(srv)
    finally:
        srv.stop()


def test_auto_rewrite(tmp_path):
    srv = start(tmp_path, auto_aof_rewrite_min_size="64kb", auto_aof_rewrite_percentage=100)
    try:
        c = srv.client()
        for i in range(2000):
            c.set("k%d" % i, "v" * 100)
        deadline = time.monotonic() + 10
        while c.info("persistence")["aof_rewrites"] < 1:
            assert time.monotonic() < deadline, "no automatic rewrite"
            time.sleep(0.05)
        wait_rewrite_done(c)
        assert "Starting automatic rewriting of AOF on" in srv.log_text()
        info = c.info("persistence")
        assert 0 < info["aof_base_size"] <= info["aof_current_size"]
        assert_dir_matches_manifest(srv)
    finally:
        srv.stop()


def test_failed_rewrite_keeps_the_old_set(tmp_path):
    srv = start(tmp_path, appendfsync="always")
    c = srv.client()
    for i in range(300):
        c.set("k%d" % i, os.urandom(1000))  # incompressible: the bases stay large
    assert c.bgrewriteaof()
    assert wait_rewrite_done(c)["aof_last_bgrewrite_status"] == "ok"
    c.set("small", 1)
    before_bases = {f[1] for f in manifest_lines(srv) if f[5] == "b"}
    # a 100 KB file-size limit: the new INCR files stay far below it, the
    # bases (about 150 KB per shard) cannot be written
    subprocess.run(["prlimit", "--pid", str(srv.proc.pid), "--fsize=100000:unlimited"], check=True)
    try:
        assert c.bgrewriteaof()
        info = wait_rewrite_done(c)
        assert info["aof_last_bgrewrite_status"] == "err"
        assert info["aof_rewrites_consecutive_failures"] == 1
        assert "Background AOF rewrite terminated with error" in srv.log_text()
        # the old bases stay in charge; the INCR files of the cut are listed
        assert {f[1] for f in manifest_lines(srv) if f[5] == "b"} == before_bases
        assert len([f for f in manifest_lines(srv) if f[5] == "i"]) == 4
        assert_dir_matches_manifest(srv)
        c.set("after-failure", 2)
        c.delete("k7")
    finally:
        subprocess.run(["prlimit", "--pid", str(srv.proc.pid), "--fsize=unlimited:unlimited"], check=True)
    before = digest(c)
    c.close()
    srv.kill()
    time.sleep(0.5)
    srv.start()
    try:
        c = srv.client()
        assert digest(c) == before
        # and a rewrite succeeds now
        assert c.bgrewriteaof()
        assert wait_rewrite_done(c)["aof_last_bgrewrite_status"] == "ok"
        assert_dir_matches_manifest(srv)
    finally:
        srv.stop()


def aof_files(srv):
    return set(os.listdir(srv.dir / "appendonlydir"))


@pytest.mark.parametrize("preamble", ["yes", "no"])
def test_bgrewriteaof_with_the_aof_off(tmp_path, preamble):
    """Redis 7.0.15 with appendonly no: BGREWRITEAOF writes a base and a
    manifest listing only the base; ringkv writes one base per shard. The
    files an earlier run left become history and are removed; a start with
    appendonly yes loads the bases and gives every shard an INCR file."""
    srv = start(tmp_path, aof_use_rdb_preamble=preamble)
    c = srv.client()
    c.set("from-the-old-aof", 1)
    old = aof_files(srv)
    shutdown_nosave(srv)
    srv.directives["appendonly"] = "no"
    srv.start()
    try:
        c = srv.client()
        assert c.dbsize() == 0  # appendonly no, no dump.rdb
        c.execute_command("DEBUG", "POPULATE", 20000, "pop", 20)
        c.rpush("list", *range(100))
        c.hset("hash", mapping={"f%d" % i: i for i in range(50)})
        c.zadd("z", {"m%d" % i: i for i in range(50)})
        c.set("ttl", "x", px=600000)
        with srv.raw() as conn:
            assert conn.call("BGREWRITEAOF") == "Background append only file rewriting started"
        info = wait_rewrite_done(c)
        assert info["aof_enabled"] == 0
        assert info["aof_rewrites"] == 1
        assert info["aof_last_bgrewrite_status"] == "ok"
        log = srv.log_text()
        assert "Background AOF rewrite terminated with success" in log
        assert "Background AOF rewrite finished successfully" in log
        suffix = ".base.rdb" if preamble == "yes" else ".base.aof"
        lines = manifest_lines(srv)
        assert sorted((f[5], f[7], f[9], f[11]) for f in lines) == [("b", "0", "0", "0"), ("b", "1", "0", "0")]
        assert all(f[1].endswith(suffix) for f in lines)
        assert not {f[1] for f in lines} & old  # new names: sequence numbers past the old files
        assert_dir_matches_manifest(srv)  # the old run's files were history: removed
        # a second one makes the first one's bases history
        first = {f[1] for f in lines}
        assert c.bgrewriteaof()
        info = wait_rewrite_done(c)
        assert info["aof_rewrites"] == 2 and info["aof_last_bgrewrite_status"] == "ok"
        assert not {f[1] for f in manifest_lines(srv)} & first
        assert_dir_matches_manifest(srv)
        before = digest(c)
        shutdown_nosave(srv)
    finally:
        srv.stop()
    srv.directives["appendonly"] = "yes"
    srv.start()
    try:
        c = srv.client()
        assert digest(c) == before
        kinds = sorted((f[5], f[7]) for f in manifest_lines(srv))
        assert kinds == [("b", "0"), ("b", "1"), ("i", "0"), ("i", "1")]
        assert_dir_matches_manifest(srv)
        c.set("after", 1)
        before = digest(c)
        restart_same(srv)
        assert digest(srv.client()) == before
    finally:
        srv.stop()


def wait_for(cond, what, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def slow_rewrite_data(c):
    """Enough keys that a rewrite takes a while (the test acts during it).
    DEBUG POPULATE is not journaled (nor is it in Redis's AOF): a first
    rewrite puts the keys into the AOF."""
    c.execute_command("DEBUG", "POPULATE", 500000, "big")
    c.rpush("list", *range(100))
    c.set("ttl", "x", px=600000)
    assert c.bgrewriteaof()
    assert wait_rewrite_done(c)["aof_last_bgrewrite_status"] == "ok"


@pytest.mark.once
def test_appendonly_no_while_a_rewrite_runs(tmp_path):
    srv = start(tmp_path)
    try:
        c = srv.client(socket_timeout=60)
        slow_rewrite_data(c)
        assert c.bgrewriteaof()
        assert c.info("persistence")["aof_rewrite_in_progress"] == 1
        assert c.config_set("appendonly", "no")
        info = wait_rewrite_done(c)
        # Redis kills its rewrite child: neither success nor failure
        assert info["aof_enabled"] == 0
        assert info["aof_last_bgrewrite_status"] == "ok"
        assert info["aof_rewrites_consecutive_failures"] == 0
        assert "Stopping the running AOF rewrite: the AOF was turned off" in srv.log_text()
        c.set("while-off", 1)
        c.delete("big:7")
        assert c.config_set("appendonly", "yes")
        info = wait_for(lambda: (lambda i: i if i["aof_rewrites"] == 3 and not i["aof_rewrite_in_progress"]
                                 else None)(c.info("persistence")), "no turning-on rewrite")
        assert info["aof_enabled"] == 1 and info["aof_last_bgrewrite_status"] == "ok"
        c.set("after-on", 1)
        before = digest(c)
        assert_dir_matches_manifest(srv)
        restart_same(srv)
        c = srv.client(socket_timeout=60)
        assert digest(c) == before
        assert c.get("while-off") == b"1" and c.exists("big:7") == 0
        assert_dir_matches_manifest(srv)
    finally:
        srv.stop()


@pytest.mark.once
def test_shutdown_while_a_rewrite_runs(tmp_path):
    srv = start(tmp_path)
    try:
        c = srv.client(socket_timeout=60)
        slow_rewrite_data(c)
        before = digest(c)
        assert c.bgrewriteaof()
        assert c.info("persistence")["aof_rewrite_in_progress"] == 1
        c.set("during", 1)  # in the INCR file the cut started
        shutdown_nosave(srv)
        log = srv.log_text()
        assert "There is a child rewriting the AOF. Killing it!" in log
        assert "Calling fsync() on the AOF file." in log
        srv.start()
        c = srv.client(socket_timeout=60)
        assert c.get("during") == b"1"
        c.delete("during")
        assert digest(c) == before
        assert not [f for f in aof_files(srv) if f.startswith("temp-")]
        assert_dir_matches_manifest(srv)
        assert c.bgrewriteaof()
        assert wait_rewrite_done(c)["aof_last_bgrewrite_status"] == "ok"
        assert_dir_matches_manifest(srv)
    finally:
        srv.stop()


@pytest.mark.once
def test_turning_on_fails_then_retries(tmp_path):
    srv = start(tmp_path, appendonly="no")
    try:
        c = srv.client()
        for i in range(300):
            c.set("k%d" % i, os.urandom(1000))  # incompressible: about 150 KB per shard's base
        # the bases cannot be written; the INCR files opened at the cut stay small
        prlimit_fsize(srv.proc.pid, 100000)
        assert c.config_set("appendonly", "yes")
        info = wait_for(lambda: (lambda i: i if i["aof_last_bgrewrite_status"] == "err" else None)(
            c.info("persistence")), "turning on did not fail")
        failed_at = time.monotonic()
        assert info["aof_enabled"] == 1
        assert info["aof_rewrites_consecutive_failures"] >= 1
        assert "Background AOF rewrite terminated with error" in srv.log_text()
        c.set("while-failing", 1)
        prlimit_fsize(srv.proc.pid, "unlimited")
        info = wait_for(lambda: (lambda i: i if i["aof_last_bgrewrite_status"] == "ok" else None)(
            c.info("persistence")), "turning on was not retried", timeout=20)
        assert time.monotonic() - failed_at > 3  # the retry waits 5 s (Redis's CONFIG_BGSAVE_RETRY_DELAY)
        assert info["aof_enabled"] == 1 and info["aof_rewrites_consecutive_failures"] == 0
        c.set("after", 1)
        before = digest(c)
        assert_dir_matches_manifest(srv)
        shutdown_nosave(srv)
        srv.directives["appendonly"] = "yes"
        srv.start()
        assert digest(srv.client()) == before
    finally:
        srv.stop()
