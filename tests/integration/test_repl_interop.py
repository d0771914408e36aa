"""Replication interop with Debian's redis-server 7.0 (issue 6, "Interop and
faults"): redis-server as a replica of ringkv (2 shards), and ringkv as a
replica of redis-server, each through a TCP proxy (tcpproxy.py): a full sync
of data over every type and three databases, 100k mixed writes streamed,
offsets and DEBUG DIGEST equal; then the link is cut, more writes, the link
restored: the replica continues with a partial sync (the master's INFO stats
count sync_partial_ok, not sync_full) and ends equal. And, found by the
stream tests: a TTL that passed before a lagging ringkv replica applies it
must not delete the key there; after a partial resync the stream goes on in
the database its last SELECT chose.

RINGKV_REPL_SELFTEST=redis runs every scenario with redis-server in ringkv's
place (conftest.py, "replication helpers"): that proves the test's own logic.
Skipped where redis-server is not installed.
"""

import time

import pytest

from conftest import (link_up, log_size, mixed_writes, repl_info, repl_stats, replicaof,
                      wait_converged, wait_link_up, wait_log, wait_until)
from tcpproxy import TcpProxy

# The replication logic is backend-independent past the loop's socket
# hand-over, which test_repl_master.py and the loop's unit tests cover on epoll.
pytestmark = pytest.mark.once

# Redis 7.0.15's log lines (replication.c); ringkv logs the same ones.
LOG_PARTIAL_ACCEPTED = r"MASTER <-> REPLICA sync: Master accepted a Partial Resynchronization"
LOG_FULL_DONE = r"MASTER <-> REPLICA sync: Finished with success"
LOG_MASTER_LOST = r"Connection with master lost"

# The backlog must hold what is written while the link is cut.
BACKLOG = "64mb"
STREAM_WRITES = 100_000
CUT_WRITES = 10_000


def role(node):
    c = node.client()
    try:
        return c.execute_command("ROLE")
    finally:
        c.close()


def as_str(x):
    return x.decode() if isinstance(x, bytes) else x


def roles_agree(master, replica, proxy_port):
    """ROLE on both sides, when they agree: the replica is connected to the
    proxy's port at the master's offset, and the master lists one replica
    that acknowledged that offset. The master's PINGs move its offset while
    idle, and ACKs come every second: callers poll."""
    m, r = role(master), role(replica)
    assert as_str(m[0]) == "master", m
    assert [as_str(x) for x in r[:4]] == ["slave", "127.0.0.1", proxy_port, "connected"], r
    if len(m[2]) != 1 or int(m[2][0][2]) != m[1] or r[4] != m[1]:
        return None
    return m[1]


def check_roles(master, replica, proxy_port):
    offset = wait_until(lambda: roles_agree(master, replica, proxy_port), 30,
                        lambda: "ROLE agrees: master %r, replica %r" % (role(master), role(replica)))
    info = repl_info(master)
    assert info["role"] == "master" and info["connected_slaves"] == 1, info
    assert info["slave0"]["state"] == "online", info
    assert info["slave0"]["offset"] <= info["master_repl_offset"], info
    assert info["master_repl_offset"] >= offset, info


@pytest.mark.slow
@pytest.mark.parametrize("master_kind,replica_kind",
                         [("ringkv", "redis"), ("redis", "ringkv")],
                         ids=["redis-replica-of-ringkv", "ringkv-replica-of-redis"])
def test_full_stream_cut_partial(repl_node, master_kind, replica_kind):
    master = repl_node(master_kind, repl_backlog_size=BACKLOG)
    replica = repl_node(replica_kind)

    # data the full sync carries: every type, three databases, a few TTLs
    # short enough to expire on the master after the sync (their DEL follows)
    mixed_writes(master, 5000, seed=1, prefix="pre")
    full0, ok0, _ = repl_stats(master)

    with TcpProxy(master.port) as proxy:
        replicaof(replica, "127.0.0.1", proxy.port)
        wait_link_up(replica)
        wait_log(replica, LOG_FULL_DONE)
        assert repl_stats(master)[:2] == (full0 + 1, ok0)
        wait_converged(master, [replica])

        # the stream: 100k writes over every type, shard and database
        assert mixed_writes(master, STREAM_WRITES, seed=2) == STREAM_WRITES
        wait_converged(master, [replica])
        check_roles(master, replica, proxy.port)
        assert repl_stats(master)[:2] == (full0 + 1, ok0)

        # cut the link: both ends notice, the master keeps writing into its backlog
        mark = log_size(replica)
        proxy.cut()
        wait_until(lambda: not link_up(replica), 30,
                   lambda: "the replica saw the link drop: %r" % repl_info(replica))
        wait_log(replica, LOG_MASTER_LOST, start=mark)
        wait_until(lambda: repl_info(master)["connected_slaves"] == 0, 30,
                   lambda: "the master dropped the replica: %r" % repl_info(master))
        mixed_writes(master, CUT_WRITES, seed=3)
        # the replica still serves its data while the link is down
        c = replica.client()
        assert c.ping() is True
        assert c.dbsize() > 0
        c.close()

        proxy.restore()
        wait_link_up(replica)
        wait_converged(master, [replica])
        wait_log(replica, LOG_PARTIAL_ACCEPTED, start=mark)
        full1, ok1, _ = repl_stats(master)
        assert (full1, ok1) == (full0 + 1, ok0 + 1), \
            "the reconnection was not one partial sync: sync_full %d -> %d, sync_partial_ok %d -> %d" \
            % (full0, full1, ok0, ok1)

        # and the stream goes on after the partial sync
        mixed_writes(master, 2000, seed=4)
        wait_converged(master, [replica])
        check_roles(master, replica, proxy.port)


@pytest.mark.slow
def test_ttl_passed_before_the_replica_applies(repl_node):
    """A TTL the master set that has passed by the time the replica applies
    it (the replica lags) does not delete the key there: Redis's replica
    keeps it (checkAlreadyExpired is false on a replica) until the master's
    DEL; a later PEXPIRE/PERSIST from the master finds it. The replica is
    made to lag by DEBUG SLEEP on its only shard."""
    import threading

    master = repl_node("redis")
    replica = repl_node("ringkv", shards=1)
    replicaof(replica, "127.0.0.1", master.port)
    wait_link_up(replica)
    cm = master.client()
    cm.set("a", "1")
    cm.hset("h", "f", "1")
    cm.sadd("s", "x")
    wait_converged(master, [replica])

    sleeper = threading.Thread(
        target=lambda: replica.client(socket_timeout=10).execute_command("DEBUG", "SLEEP", "0.6"))
    sleeper.start()
    time.sleep(0.1)
    # applied by the replica after its sleep, when these 200 ms TTLs have passed
    cm.set("k", "v", px=200)            # propagated as SET k v PXAT <t>
    cm.pexpire("a", 200)                # as PEXPIREAT a <t>
    cm.pexpire("h", 200)
    cm.pexpire("s", 200)
    # before the master expires them: a long TTL again, or none
    cm.pexpire("k", 10**9)
    cm.pexpire("a", 10**9)
    cm.persist("h")
    cm.pexpire("s", 10**9)
    sleeper.join(10)
    wait_converged(master, [replica], timeout=30)
    cr = replica.client()
    for key in ("k", "a", "h", "s"):
        assert cr.type(key) == cm.type(key) != b"none", key
    cm.close()
    cr.close()


@pytest.mark.slow
@pytest.mark.parametrize("master_kind", ["redis", "ringkv"])
def test_partial_resync_keeps_the_selected_db(repl_node, master_kind):
    """After +CONTINUE the stream goes on in the database its last SELECT
    chose (a master emits SELECT only when the database changes, and Redis's
    replica keeps its cached master client, db included): writes in db 3
    before, during and after a cut link all land in db 3 on the replica."""
    master = repl_node(master_kind, repl_diskless_sync_delay=0)
    replica = repl_node("ringkv")
    with TcpProxy(master.port) as proxy:
        replicaof(replica, "127.0.0.1", proxy.port)
        wait_link_up(replica)
        c3 = master.client(db=3)
        c3.set("before", "1")
        wait_converged(master, [replica])
        full0, ok0, _ = repl_stats(master)

        proxy.cut()
        wait_until(lambda: not link_up(replica), 30, lambda: "link down: %r" % repl_info(replica))
        c3.set("during", "1")
        proxy.restore()
        wait_link_up(replica)
        c3.set("after", "1")
        wait_converged(master, [replica], timeout=30)
        assert repl_stats(master)[:2] == (full0, ok0 + 1)
        r3, r0 = replica.client(db=3), replica.client(db=0)
        assert sorted(r3.keys()) == [b"after", b"before", b"during"]
        assert r0.dbsize() == 0
        for c in (c3, r3, r0):
            c.close()
