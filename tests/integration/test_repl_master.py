"""ringkv as a master with Debian's redis-server 7.0 as its replica (issue 6,
the master side): full sync diskless and disk-based at one cut of both
shards, the merged stream of every type on two shards (DEBUG DIGEST equal on
both), a multi-shard MULTI/EXEC arriving whole, a cut link continued with
PSYNC (sync_partial_ok), WAIT, min-replicas-to-write, INFO/ROLE fields, and
the backlog freed after repl-backlog-ttl. Skipped where redis-server is not
installed."""

import re
import time

import pytest
import redis

from conftest import wait_until_ok as wait_until

from conftest import keys_on_shard
from test_rdb_persist import fill_all_types

# Run in the io_uring stage only (scripts/test.sh): replication logic; the loop's unit tests cover the socket hand-over on epoll.
pytestmark = pytest.mark.once

NOREPLICAS = "NOREPLICAS Not enough good replicas to write."
MASTER_INFO_ORDER = ["role", "connected_slaves", "master_failover_state", "master_replid", "master_replid2",
                     "master_repl_offset", "second_repl_offset", "repl_backlog_active", "repl_backlog_size",
                     "repl_backlog_first_byte_offset", "repl_backlog_histlen"]


def digest(c):
    return c.execute_command("DEBUG", "DIGEST")


def online(master):
    info = master.info("replication")
    return info.get("slave0", {}).get("state") == "online"


def wait_synced(master, replica, timeout=30.0):
    wait_until(lambda: replica.info("replication").get("master_link_status") == "up", timeout, "link up")
    wait_until(lambda: online(master), timeout, "replica online")
    wait_until(lambda: replica.info("replication")["slave_repl_offset"] ==
               master.info("replication")["master_repl_offset"], timeout, "the replica to catch up")
    wait_until(lambda: digest(master) == digest(replica), timeout, "equal digests")


def writes(c, tag, round_):
    """Every type, two databases, both shards, expiries, deletes, and
    transactions over both shards."""
    host = c.connection_pool.connection_kwargs["host"]
    port = c.connection_pool.connection_kwargs["port"]
    for db in (0, 2):
        cc = c if db == 0 else redis.Redis(host=host, port=port, db=db)
        fill_all_types(cc, suffix=":%s:%d:%d" % (tag, db, round_))
        cc.delete("s_bin:%s:%d:%d" % (tag, db, round_))
        cc.incrby("counter:%d" % db, 5)
        cc.set("ttl:%s:%d" % (tag, round_), "v", ex=1000)
        cc.set("gone:%s:%d" % (tag, round_), "v", px=1)
        p = cc.pipeline(transaction=True)
        for k in keys_on_shard(0, 2, "tx%s%d" % (tag, round_)) + keys_on_shard(1, 2, "tx%s%d" % (tag, round_)):
            p.rpush(k, "a", "b")
            p.hincrby("txh", k, 1)
        p.execute()
        if cc is not c:
            cc.close()


@pytest.fixture
def replica(real_redis_in_dir, tmp_path):
    """redis-server replicas of a ringkv master: replica(master_port, *args)."""
    n = [0]

    def start(port, *args):
        n[0] += 1
        return real_redis_in_dir(tmp_path / ("replica%d" % n[0]), "--replicaof", "127.0.0.1", str(port), *args)
    return start


def raw_info(server):
    """INFO replication as the server wrote it (redis-py parses "000..." as 0)."""
    with server.raw() as conn:
        return conn.call("INFO", "replication").decode()


def master_of(start_server, **directives):
    directives.setdefault("repl_diskless_sync_delay", 0)
    directives.setdefault("save", "")
    return start_server(**directives)


@pytest.mark.smoke
@pytest.mark.parametrize("diskless", ["yes", "no"], ids=["diskless", "disk"])
def test_full_sync_then_stream(start_server, replica, diskless):
    m = master_of(start_server, repl_diskless_sync=diskless)
    mc = m.client()
    writes(mc, "before", 0)
    r = replica(m.port)
    rc = r.client()
    wait_synced(mc, rc)
    log = m.log_text()
    assert ("target: replicas sockets" in log) == (diskless == "yes")
    assert "Synchronization with replica" in log
    assert mc.info("stats")["sync_full"] == 1
    assert ("receiving streamed RDB from master with EOF" in r.log_text()) == (diskless == "yes")
    for round_ in range(1, 4):
        writes(mc, "after", round_)
    mc.flushdb()
    writes(mc, "late", 4)
    wait_synced(mc, rc)
    # the stream a Redis replica saw is what Redis expects: no protocol errors there
    assert "Protocol error" not in r.log_text()


def test_writes_during_full_sync_are_not_lost(start_server, replica):
    """Writes racing the cut land either in the RDB or in the stream after
    the +FULLRESYNC offset, never both, never neither."""
    m = master_of(start_server, repl_diskless_sync="yes")
    mc = m.client()
    for i in range(2000):
        mc.set("pre:%d" % i, "x" * 100)
    r = replica(m.port)
    for i in range(3000):
        mc.incr("ctr:%d" % (i % 50))
        mc.rpush("list:%d" % (i % 7), i)
    rc = r.client()
    wait_synced(mc, rc)
    assert rc.get("ctr:0") == mc.get("ctr:0") == b"60"


def test_multi_shard_transaction_arrives_whole(start_server, replica):
    m = master_of(start_server)
    mc = m.client()
    r = replica(m.port)
    rc = r.client()
    wait_synced(mc, rc)
    k0 = keys_on_shard(0, 3, "whole")
    k1 = keys_on_shard(1, 3, "whole")
    monitor_log = []
    # The replica's own MONITOR shows what its master link applied, in order.
    with rc.monitor() as mon:
        p = mc.pipeline(transaction=True)
        for k in k0 + k1:
            p.set(k, "v")
        p.execute()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            cmd = mon.next_command()["command"]
            monitor_log.append(cmd)
            if cmd.upper().startswith("EXEC"):
                break
    names = [c.split()[0].upper() for c in monitor_log]
    assert names[0] == "MULTI" and names[-1] == "EXEC", monitor_log
    sets = [c for c in monitor_log if c.upper().startswith("SET")]
    assert len(sets) == 6, monitor_log
    wait_synced(mc, rc)


def test_psync_after_link_cut(start_server, replica):
    m = master_of(start_server)
    mc = m.client()
    writes(mc, "a", 0)
    r = replica(m.port)
    rc = r.client()
    wait_synced(mc, rc)
    before = mc.info("stats")
    assert before["sync_partial_ok"] == 0
    rc.execute_command("CLIENT", "KILL", "TYPE", "master")
    writes(mc, "b", 1)
    wait_until(lambda: mc.info("stats")["sync_partial_ok"] >= 1, 30, "a partial sync")
    wait_synced(mc, rc)
    after = mc.info("stats")
    assert after["sync_full"] == before["sync_full"] == 1
    assert "Partial resynchronization request from" in m.log_text()
    assert "Successful partial resynchronization with master" in r.log_text()


def test_psync_outside_backlog_is_a_full_sync(start_server, replica):
    m = master_of(start_server, repl_backlog_size="16kb")
    mc = m.client()
    r = replica(m.port)
    rc = r.client()
    wait_synced(mc, rc)
    r.stop()
    for i in range(200):
        mc.set("big:%d" % i, "z" * 1000)  # far more than the backlog
    r2 = replica(m.port)
    rc2 = r2.client()
    wait_synced(mc, rc2)
    stats = mc.info("stats")
    assert stats["sync_full"] == 2
    assert stats["sync_partial_ok"] == 0


def test_wait(start_server, replica):
    m = master_of(start_server)
    mc = m.client()
    assert mc.execute_command("WAIT", 0, 0) == 0
    assert mc.execute_command("WAIT", 1, 100) == 0  # no replica: the timeout
    with pytest.raises(redis.ResponseError, match="timeout is negative"):
        mc.execute_command("WAIT", 1, -1)
    with pytest.raises(redis.ResponseError, match="timeout is not an integer"):
        mc.execute_command("WAIT", 1, "x")
    with pytest.raises(redis.ResponseError, match="value is not an integer"):
        mc.execute_command("WAIT", "x", 0)
    r = replica(m.port)
    rc = r.client()
    wait_synced(mc, rc)
    for i in range(100):
        mc.set(keys_on_shard(i % 2, 1, "w%d" % i)[0], i)
    assert mc.execute_command("WAIT", 1, 0) == 1
    assert mc.execute_command("WAIT", 2, 300) == 1  # only one there: the timeout, then the count
    with pytest.raises(redis.ResponseError, match="WAIT cannot be used with replica instances"):
        rc.execute_command("WAIT", 0, 0)


def test_min_replicas_to_write(start_server, replica):
    m = master_of(start_server, min_replicas_to_write=1, min_replicas_max_lag=10)
    mc = m.client()
    wait_until(lambda: _noreplicas(mc), 5, "NOREPLICAS")
    r = replica(m.port)
    rc = r.client()
    wait_until(lambda: online(mc), 30, "online")
    wait_until(lambda: mc.set("now", "ok"), 10, "writes accepted")
    info = mc.info("replication")
    assert info["min_slaves_good_slaves"] == 1
    r.stop()
    wait_until(lambda: _noreplicas(mc), 15, "NOREPLICAS again")
    assert rc is not None


def _noreplicas(c):
    try:
        c.set("x", 1)
    except redis.ResponseError as e:
        return str(e) == NOREPLICAS
    return False


def test_info_and_role(start_server, replica):
    m = master_of(start_server)
    mc = m.client()
    info = mc.info("replication")
    assert info["role"] == "master"
    assert info["connected_slaves"] == 0
    assert info["repl_backlog_active"] == 0
    assert info["second_repl_offset"] == -1
    assert "master_replid2:%s\r\n" % ("0" * 40) in raw_info(m)
    assert re.fullmatch(r"[0-9a-f]{40}", info["master_replid"])
    assert mc.execute_command("ROLE") == [b"master", 0, []]
    r = replica(m.port)
    rc = r.client()
    wait_synced(mc, rc)
    raw = raw_info(m)
    names = [line.split(":")[0] for line in raw.split("\r\n")[1:] if line]
    assert [n for n in names if not n.startswith("slave")] == MASTER_INFO_ORDER
    info = mc.info("replication")
    assert info["connected_slaves"] == 1
    s0 = info["slave0"]
    assert s0["ip"] == "127.0.0.1" and s0["port"] == r.port and s0["state"] == "online"
    assert info["repl_backlog_active"] == 1
    assert info["repl_backlog_first_byte_offset"] == 1
    assert info["repl_backlog_histlen"] == info["master_repl_offset"]
    # the replica saw the same replication id
    assert rc.info("replication")["master_replid"] == info["master_replid"]
    mc.set("role", "x")
    wait_until(lambda: mc.info("replication")["slave0"]["offset"] == mc.info("replication")["master_repl_offset"],
               10, "ack")
    role = mc.execute_command("ROLE")
    assert role[0] == b"master"
    assert role[2] == [[b"127.0.0.1", str(r.port).encode(), str(role[2][0][2].decode()).encode()]]
    assert int(role[2][0][2]) <= role[1]
    stats = mc.info("stats")
    for f in ("sync_full", "sync_partial_ok", "sync_partial_err"):
        assert f in stats


def test_backlog_ttl(start_server, replica):
    m = master_of(start_server, repl_backlog_ttl=1)
    mc = m.client()
    r = replica(m.port)
    rc = r.client()
    wait_synced(mc, rc)
    replid = mc.info("replication")["master_replid"]
    r.stop()
    wait_until(lambda: mc.info("replication")["repl_backlog_active"] == 0, 15, "the backlog freed")
    assert "Replication backlog freed after 1 seconds without connected replicas." in m.log_text()
    # Redis: a new history, so an old replica cannot continue a stream with holes
    assert mc.info("replication")["master_replid"] != replid
    mc.set("after", "ttl")
    r2 = replica(m.port)
    wait_synced(mc, r2.client())
    assert mc.info("stats")["sync_full"] == 2


def test_two_replicas_share_one_snapshot(start_server, replica):
    m = master_of(start_server, repl_diskless_sync_delay=2)
    mc = m.client()
    writes(mc, "pair", 0)
    r1 = replica(m.port)
    r2 = replica(m.port)
    wait_synced(mc, r1.client())
    wait_synced(mc, r2.client())
    assert m.log_text().count("Starting BGSAVE for SYNC") == 1
    assert mc.info("stats")["sync_full"] == 2


def test_replica_over_output_buffer_limit_is_dropped(start_server, replica):
    m = master_of(start_server, client_output_buffer_limit=["replica", "1mb", "0", "0"])
    mc = m.client()
    r = replica(m.port)
    rc = r.client()
    wait_synced(mc, rc)
    rc.execute_command("DEBUG", "SLEEP", "0")
    # A replica that does not read: pause its process and write more than the limit.
    import os
    import signal
    os.kill(r.proc.pid, signal.SIGSTOP)
    try:
        payload = "p" * 100000
        for i in range(200):
            mc.set("flood:%d" % i, payload)
        wait_until(lambda: "for overcoming of output buffer limits" in m.log_text(), 20, "the drop")
    finally:
        os.kill(r.proc.pid, signal.SIGCONT)
    wait_synced(mc, rc, timeout=60)
