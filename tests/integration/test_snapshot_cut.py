"""The fork-less snapshot keeps the dataset of its cut while the shards go
on changing every part of the key tables (storage/snapshot.c): deletes,
overwrites, in-place changes, TTL changes, new keys that force a table to
grow, FLUSHDB, SWAPDB, expiry. The file must hold exactly what DEBUG DIGEST
saw just before BGSAVE."""

import shutil
import subprocess
import time

import pytest

from conftest import Server

# Run once, in the io_uring stage (the marker is explained in pytest.ini).
pytestmark = pytest.mark.once


def wait_save_done(c, timeout=60):
    deadline = time.monotonic() + timeout
    while c.info("persistence")["rdb_bgsave_in_progress"]:
        assert time.monotonic() < deadline, "BGSAVE did not finish"
        time.sleep(0.02)
    return c.info("persistence")


def digest_of_file(path, tmp_path, name):
    """DEBUG DIGEST of a fresh ringkv that loads `path`."""
    d = tmp_path / name
    d.mkdir()
    shutil.copy(path, d / "dump.rdb")
    server = Server(d, directives={"save": ""})
    server.start()
    try:
        c = server.client()
        return c.execute_command("DEBUG", "DIGEST"), c.dbsize()
    finally:
        server.stop()


def mutate_everything(c, rounds):
    """Changes of every kind the page tracking must see, pipelined."""
    p = c.pipeline(transaction=False)
    for i in range(rounds):
        p.delete("key:%d" % i)                          # delete
        p.set("key:%d" % (i + 100000), "overwritten")   # overwrite in place
        p.append("key:%d" % (i + 200000), "-more")      # change the value in place
        p.expire("key:%d" % (i + 300000), 1000)         # a TTL appears
        p.persist("ttl:%d" % i)                         # a TTL goes
        p.set("new:%d" % i, "x")                        # a new key
        p.rpush("biglist", i)                           # a list grows in place
        p.hset("bighash", "f%d" % i, "changed")         # a hash changes in place
        p.sadd("small:set", i)
        p.execute_command("SELECT", 2)
        p.set("grow:%d" % i, i)                         # db 2 grows far past its table
        p.execute_command("SELECT", 0)
        if i % 500 == 0:
            p.execute()
    p.execute_command("SELECT", 3)
    p.flushdb()                                         # a whole db goes
    p.execute_command("SELECT", 0)
    p.execute_command("SWAPDB", 4, 5)                   # two dbs trade places
    p.execute()


@pytest.mark.parametrize("shards", [1, 2])
def test_bgsave_keeps_the_cut_under_every_kind_of_change(start_server, tmp_path, shards):
    s = start_server(shards=shards, save="")
    c = s.client()
    c.execute_command("DEBUG", "POPULATE", 300000, "key", 100)
    p = c.pipeline(transaction=False)
    for i in range(3000):
        p.set("ttl:%d" % i, "v", ex=5000)
    p.rpush("biglist", *range(2000))
    p.hset("bighash", mapping={"f%d" % i: "v" for i in range(3000)})
    p.sadd("small:set", 1, 2, 3)
    p.execute()
    for db, n in ((2, 20), (3, 500), (4, 300), (5, 7)):
        c.execute_command("SELECT", db)
        for i in range(n):
            c.set("db%d:%d" % (db, i), i)
    c.execute_command("SELECT", 0)
    before = c.execute_command("DEBUG", "DIGEST")
    keys_before = sum(v["keys"] for k, v in c.info("keyspace").items())

    assert c.bgsave()
    mutated_while_running = 0
    for _ in range(20):
        if not c.info("persistence")["rdb_bgsave_in_progress"]:
            break
        mutated_while_running += 1
        mutate_everything(c, 1000)
    info = wait_save_done(c)
    assert info["rdb_last_bgsave_status"] == "ok"
    # The test means something only if changes landed during the save.
    assert mutated_while_running >= 1, "the save ended before any change began; enlarge the dataset"
    assert c.execute_command("DEBUG", "DIGEST") != before

    got, _ = digest_of_file(s.dir / "dump.rdb", tmp_path, "load")
    assert got == before
    out = subprocess.run(["redis-check-rdb", str(s.dir / "dump.rdb")], capture_output=True, text=True)
    assert "RDB looks OK" in out.stdout, out.stdout
    assert "%d keys read" % keys_before in out.stdout, out.stdout


@pytest.mark.smoke
def test_bgsave_cut_survives_flushall_and_expiry(start_server, tmp_path):
    s = start_server(shards=2, save="")
    c = s.client()
    c.execute_command("DEBUG", "POPULATE", 300000, "key", 100)
    p = c.pipeline(transaction=False)
    for i in range(2000):
        p.set("short:%d" % i, "v", px=400)  # expire (actively) while the save runs
    p.execute()
    keys_before = c.dbsize()
    assert c.bgsave()
    c.flushall()
    time.sleep(0.6)
    assert c.dbsize() == 0
    wait_save_done(c)
    out = subprocess.run(["redis-check-rdb", str(s.dir / "dump.rdb")], capture_output=True, text=True)
    assert "RDB looks OK" in out.stdout, out.stdout
    assert "%d keys read" % keys_before in out.stdout, out.stdout
    assert "2000 expires" in out.stdout, out.stdout


def test_bgsave_is_refused_while_one_runs_and_lastsave_moves(start_server):
    s = start_server(shards=2, save="")
    c = s.client()
    c.execute_command("DEBUG", "POPULATE", 600000, "key", 100)
    first = c.lastsave()
    time.sleep(1.1)
    assert c.bgsave()
    with pytest.raises(Exception) as e:
        c.bgsave()
    assert "Background save already in progress" in str(e.value)
    with pytest.raises(Exception) as e:
        c.execute_command("SAVE")
    assert "Background save already in progress" in str(e.value)
    wait_save_done(c)
    assert c.lastsave() > first


def test_bgsave_cut_survives_eviction(start_server):
    s = start_server(shards=2, save="", rdbcompression="no")
    c = s.client()
    c.execute_command("DEBUG", "POPULATE", 300000, "key", 1000)
    keys_before = c.dbsize()
    used = c.info("memory")["used_memory"]
    assert c.bgsave()
    # Evict about half of the keys while the snapshot runs.
    c.config_set("maxmemory-policy", "allkeys-random")
    c.config_set("maxmemory", used // 2)
    for i in range(200):
        c.set("trigger:%d" % i, "x")
    # Meaningful only if keys went while the save still ran.
    assert c.info("stats")["evicted_keys"] > 0
    assert c.info("persistence")["rdb_bgsave_in_progress"] == 1, "the save ended first; enlarge the dataset"
    wait_save_done(c)
    assert c.dbsize() < keys_before
    c.config_set("maxmemory", 0)
    out = subprocess.run(["redis-check-rdb", str(s.dir / "dump.rdb")], capture_output=True, text=True)
    assert "RDB looks OK" in out.stdout, out.stdout
    assert "%d keys read" % keys_before in out.stdout, out.stdout
