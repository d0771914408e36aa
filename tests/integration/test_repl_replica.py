"""ringkv as a replica of Debian's redis-server 7.0 (issue 6, the replica
side): full sync from a disk-based and a diskless master, the stream applied
(every type, several databases, transactions, expiries) with DEBUG DIGEST
equal on both, reads served and writes refused with READONLY, a cut link
continued with PSYNC (the master counts sync_partial_ok), REPLICAOF NO ONE
keeping the data and the old replid as replid2, a wrong masterauth logged and
retried, and INFO/ROLE as Redis prints them. Skipped where redis-server is not
installed."""

import re
import time

import pytest
import redis

from conftest import wait_until_ok as wait_until

from conftest import keys_on_shard
from test_rdb_persist import fill_all_types

# The replication logic is backend-independent past the loop's socket
# hand-over, which test_repl_master.py and the loop's unit tests cover on epoll.
pytestmark = pytest.mark.once

READONLY = "READONLY You can't write against a read only replica."
REPLICA_INFO_FIELDS = ["role", "master_host", "master_port", "master_link_status",
                       "master_last_io_seconds_ago", "master_sync_in_progress",
                       "slave_read_repl_offset", "slave_repl_offset"]
TAIL_FIELDS = ["slave_priority", "slave_read_only", "replica_announced", "connected_slaves"]


def info_repl(c):
    return c.info("replication")


def link_up(c):
    return info_repl(c).get("master_link_status") == "up"


def caught_up(master, replica):
    """The replica applied every byte the master produced."""
    moff = info_repl(master)["master_repl_offset"]
    return info_repl(replica).get("slave_repl_offset") == moff


def digest(c):
    return c.execute_command("DEBUG", "DIGEST")


def wait_synced(master, replica, timeout=30.0):
    wait_until(lambda: link_up(replica), timeout, "master_link_status:up")
    wait_until(lambda: caught_up(master, replica), timeout, "the replica to catch up")
    wait_until(lambda: digest(master) == digest(replica), timeout, "equal digests")


def writes(c, tag, round_):
    """Writes of every type and a few of every kind of effect the stream
    carries (SELECT, MULTI/EXEC, expiries as PEXPIREAT, DEL, counters)."""
    for db in (0, 3):
        cc = c if db == 0 else redis.Redis(host=c.connection_pool.connection_kwargs["host"],
                                           port=c.connection_pool.connection_kwargs["port"], db=db)
        fill_all_types(cc, suffix=":%s:%d:%d" % (tag, db, round_))
        cc.delete("s_bin:%s:%d:%d" % (tag, db, round_))
        cc.incrby("counter:%d" % db, 7)
        cc.set("ttl:%s:%d" % (tag, round_), "v", ex=1000)
        cc.pexpire("l_small:%s:%d:%d" % (tag, db, round_), 500000)
        cc.delete("s_short:%s:%d:%d" % (tag, db, round_))
        p = cc.pipeline(transaction=True)
        for k in keys_on_shard(0, 3, "tx%d" % round_) + keys_on_shard(1, 3, "tx%d" % round_):
            p.lpush(k, "a", "b")
            p.hincrby("txh", k, 1)
        p.execute()
        if cc is not c:
            cc.close()


@pytest.fixture
def master(real_redis_in_dir, tmp_path):
    """A redis-server master; parametrize indirectly with its diskless flag."""
    def start(*args):
        return real_redis_in_dir(tmp_path / "master", "--repl-diskless-sync-delay", "0",
                                 "--hash-max-listpack-entries", "128", *args)
    return start


def replica_of(start_server, master_port, **directives):
    return start_server(replicaof=["127.0.0.1", master_port], save="",
                        hash_max_listpack_entries=128, **directives)


@pytest.mark.parametrize("diskless", ["yes", "no"], ids=["diskless", "disk"])
def test_full_sync_then_stream(master, start_server, diskless):
    m = master("--repl-diskless-sync", diskless)
    mc = m.client()
    writes(mc, "before", 0)
    mc.set("expired-soon", "x", px=1)  # expires on the master before the sync
    ours = replica_of(start_server, m.port)
    rc = ours.client()
    wait_synced(mc, rc)
    log = ours.log_text()
    assert "Partial resynchronization not possible (no cached master)" in log
    assert "MASTER <-> REPLICA sync: Finished with success" in log
    assert ("receiving streamed RDB from master with EOF" in log) == (diskless == "yes")
    assert mc.info("stats")["sync_full"] == 1

    for round_ in range(1, 4):
        writes(mc, "after", round_)
    mc.flushdb()  # db 0 only: a FLUSHDB in the stream
    writes(mc, "late", 4)
    wait_synced(mc, rc)
    assert rc.dbsize() == mc.dbsize()
    assert rc.get("counter:0") == mc.get("counter:0")
    assert rc.lrange("l_small:late:0:4", 0, -1) == mc.lrange("l_small:late:0:4", 0, -1)

    # reads work, writes are refused
    with pytest.raises(redis.ReadOnlyError) as e:
        rc.set("k", "v")
    assert str(e.value) == READONLY.split(" ", 1)[1]
    rc.close()
    mc.close()


def test_psync_after_link_cut(master, start_server):
    m = master()
    mc = m.client()
    writes(mc, "a", 0)
    ours = replica_of(start_server, m.port)
    rc = ours.client()
    wait_synced(mc, rc)
    partial_before = mc.info("stats")["sync_partial_ok"]
    replid = info_repl(rc)["master_replid"]
    assert replid == info_repl(mc)["master_replid"]

    for round_ in range(3):
        killed = mc.execute_command("CLIENT", "KILL", "TYPE", "replica")
        assert killed >= 1
        writes(mc, "b", round_)
        wait_until(lambda: mc.info("stats")["sync_partial_ok"] > partial_before + round_, 30,
                   "a partial resync")
        wait_synced(mc, rc)
    assert mc.info("stats")["sync_full"] == 1
    log = ours.log_text()
    assert "Trying a partial resynchronization (request %s:" % replid in log
    assert "MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization." in log
    rc.close()
    mc.close()


def test_replicaof_command_then_promotion(master, start_server):
    m = master()
    mc = m.client()
    writes(mc, "a", 0)
    ours = start_server(save="", hash_max_listpack_entries=128)
    rc = ours.client()
    rc.set("mine", "will be replaced")
    assert info_repl(rc)["role"] == "master"
    assert rc.execute_command("REPLICAOF", "127.0.0.1", m.port) in (b"OK", "OK", True)
    assert rc.execute_command("REPLICAOF", "127.0.0.1", m.port) == b"OK Already connected to specified master"
    wait_synced(mc, rc)
    assert rc.get("mine") is None
    writes(mc, "b", 1)
    wait_synced(mc, rc)

    before = info_repl(rc)
    old_replid, off = before["master_replid"], before["master_repl_offset"]
    dig = digest(rc)
    assert rc.execute_command("REPLICAOF", "NO", "ONE") in (b"OK", True)
    after = wait_until(lambda: (lambda i: i if i["role"] == "master" else None)(info_repl(rc)), 10,
                       "role:master")
    assert after["master_replid2"] == old_replid
    assert after["second_repl_offset"] == off + 1
    assert after["master_replid"] != old_replid
    assert digest(rc) == dig
    rc.set("now-writable", "yes")
    assert rc.get("now-writable") == b"yes"
    role = rc.execute_command("ROLE")
    assert role[0] == b"master"
    rc.close()
    mc.close()


def test_demoted_master_continues_partially(start_server, real_redis_in_dir, tmp_path):
    """A master made a replica of its promoted replica asks PSYNC with its
    own replid and offset (Redis's cached master synthesized from itself);
    the promoted redis-server holds that replid as replid2 and continues."""
    ours = start_server(save="", hash_max_listpack_entries=128)
    rc = ours.client()
    writes(rc, "a", 0)
    theirs = real_redis_in_dir(tmp_path / "redis", "--hash-max-listpack-entries", "128",
                               "--replicaof", "127.0.0.1", str(ours.port))
    tc = theirs.client()
    wait_synced(rc, tc)
    writes(rc, "b", 1)
    wait_synced(rc, tc)
    our_replid = info_repl(rc)["master_replid"]

    assert tc.execute_command("REPLICAOF", "NO", "ONE") in (b"OK", True)
    assert info_repl(tc)["master_replid2"] == our_replid
    assert rc.execute_command("REPLICAOF", "127.0.0.1", theirs.port) in (b"OK", True)
    wait_synced(tc, rc)
    stats = tc.info("stats")
    assert stats["sync_partial_ok"] == 1 and stats["sync_full"] == 0
    log = ours.log_text()
    assert "Before turning into a replica, using my own master parameters" in log
    assert "Trying a partial resynchronization (request %s:" % our_replid in log
    assert "Master replication ID changed to %s" % info_repl(tc)["master_replid"] in log
    info = info_repl(rc)
    assert info["master_replid2"] == our_replid
    tc.set("after", "1")
    wait_synced(tc, rc)
    assert rc.get("after") == b"1"
    rc.close()
    tc.close()


def test_wrong_masterauth_logs_and_retries(master, start_server):
    # requirepass set after start: the fixture's start-up PING has no password.
    m = master()
    mc = m.client()
    mc.config_set("requirepass", "secret")
    mc.close()
    mc = m.client(password="secret")
    mc.set("k", "v")
    ours = replica_of(start_server, m.port, masterauth="wrong")
    wait_until(lambda: ours.log_text().count("Unable to AUTH to MASTER: -WRONGPASS") >= 2, 15,
               "two failed AUTH attempts")
    rc = ours.client()
    assert info_repl(rc)["master_link_status"] == "down"
    rc.config_set("masterauth", "secret")
    wait_synced(mc, rc)
    assert rc.get("k") == b"v"
    rc.close()
    mc.close()


def test_replicaof_errors_as_redis(start_server):
    ours = start_server(save="")
    rc = ours.client()
    for port in ("abc", "70000", "-1", "+5", " 5", ""):
        with pytest.raises(redis.ResponseError) as e:
            rc.execute_command("REPLICAOF", "localhost", port)
        assert str(e.value) == "Invalid master port"
    with pytest.raises(redis.ResponseError) as e:
        rc.execute_command("SLAVEOF", "a", "b", "c")
    assert str(e.value) == "wrong number of arguments for 'slaveof' command"
    assert rc.execute_command("REPLICAOF", "no", "one") in (b"OK", True)
    assert info_repl(rc)["role"] == "master"
    rc.close()


def test_info_and_role_while_down_and_up(master, start_server, tmp_path):
    ours = start_server(save="")
    rc = ours.client()
    dead_port = 1  # nothing listens there
    rc.execute_command("REPLICAOF", "127.0.0.1", dead_port)
    with ours.raw() as c:  # the text as sent: redis-py parses INFO into a dict
        text = c.call("INFO", "replication").decode()
    names = [line.split(":", 1)[0] for line in text.split("\r\n") if line and not line.startswith("#")]
    assert names[:len(REPLICA_INFO_FIELDS)] == REPLICA_INFO_FIELDS
    i = names.index("master_link_down_since_seconds")
    assert names[i + 1:i + 1 + len(TAIL_FIELDS)] == TAIL_FIELDS
    info = info_repl(rc)
    assert info["master_link_status"] == "down"
    assert info["master_last_io_seconds_ago"] == -1
    assert info["master_link_down_since_seconds"] == -1
    assert info["slave_priority"] == 100 and info["slave_read_only"] == 1
    role = rc.execute_command("ROLE")
    assert role[0] == b"slave" and role[1] == b"127.0.0.1" and role[2] == dead_port
    assert role[3] in (b"connect", b"connecting")
    assert role[4] == -1
    wait_until(lambda: "Error condition on socket for SYNC: Connection refused" in ours.log_text()
               or "Unable to connect to MASTER" in ours.log_text(), 10, "a refused connect logged")

    m = master()
    mc = m.client()
    mc.set("a", "1")
    rc.execute_command("REPLICAOF", "127.0.0.1", m.port)
    wait_synced(mc, rc)
    info = info_repl(rc)
    assert info["master_port"] == m.port
    assert info["master_sync_in_progress"] == 0
    assert "master_link_down_since_seconds" not in info
    assert 0 <= info["master_last_io_seconds_ago"] <= 2
    role = rc.execute_command("ROLE")
    assert role[:4] == [b"slave", b"127.0.0.1", m.port, b"connected"]
    assert role[4] == info_repl(mc)["master_repl_offset"]
    # the master sees our ACKs with our offset
    def our_ack_seen():
        moff = info_repl(mc)["master_repl_offset"]
        slaves = [v for k, v in info_repl(mc).items() if re.fullmatch(r"slave\d+", k)]
        return any(s.get("state") == "online" and s.get("offset") == moff for s in slaves)
    wait_until(our_ack_seen, 10, "our ACK on the master")
    rc.close()
    mc.close()
