"""A replication chain and a promotion (issue 6, PSYNC2): a ringkv master M
with two ringkv replicas R1 and R2 and a third, R3, chained behind R1. After
writes every offset and DEBUG DIGEST agrees (R1 forwards M's bytes
unchanged, so R3's offset is M's). Then R1 is promoted (REPLICAOF NO ONE):
it keeps M's replid as master_replid2 with second_repl_offset = its offset
+ 1; R2 and the old master M are re-pointed at it and continue with a
partial sync, R3 stays behind R1 without a full sync; more writes on R1, and
every digest agrees again.

The nodes have different shard counts (2, 2, 1, 3): the stream of a
2-shard master applies on any shard count, and a promoted replica's own
stream comes from its own shards. Full syncs here are disk-based
(repl-diskless-sync no); the interop tests use the diskless default.

RINGKV_REPL_SELFTEST=redis runs it with redis-server everywhere.
"""

import pytest

from conftest import (mixed_writes, repl_info, repl_stats, replicaof, wait_converged,
                      wait_link_up)

# The replication logic is backend-independent past the loop's socket
# hand-over, which test_repl_master.py and the loop's unit tests cover on epoll.
pytestmark = pytest.mark.once

# No PING from a master during the test: a PING on M after R1 was promoted
# would put M and R2 one PING past R1's second_repl_offset, and Redis (right)
# answers their PSYNC with a full sync. repl-timeout is raised to match, so an
# idle link is not dropped for want of those PINGs.
QUIET = dict(repl_ping_replica_period=3600, repl_timeout=7200,
             repl_backlog_size="16mb", repl_diskless_sync="no")


@pytest.mark.slow
def test_chain_promote_and_repoint(repl_node):
    m = repl_node("ringkv", shards=2, **QUIET)
    r1 = repl_node("ringkv", shards=2, **QUIET)
    r2 = repl_node("ringkv", shards=1, **QUIET)
    r3 = repl_node("ringkv", shards=3, **QUIET)

    mixed_writes(m, 3000, seed=11, prefix="pre")
    replicaof(r1, "127.0.0.1", m.port)
    replicaof(r2, "127.0.0.1", m.port)
    wait_link_up(r1)
    wait_link_up(r2)
    replicaof(r3, "127.0.0.1", r1.port)
    wait_link_up(r3)

    mixed_writes(m, 20_000, seed=12)
    offset, _ = wait_converged(m, [r1, r2, r3])
    old_replid = repl_info(m)["master_replid"]
    for node in (r1, r2, r3):
        info = repl_info(node)
        assert info["master_replid"] == old_replid, (node, info)
        assert info["master_repl_offset"] == offset, (node, info)
    assert repl_info(r1)["connected_slaves"] == 1
    assert repl_info(m)["connected_slaves"] == 2
    full0, ok0, err0 = repl_stats(r1)

    # promote R1
    assert replicaof(r1, None) in (b"OK", "OK", True)
    info = repl_info(r1)
    assert info["role"] == "master", info
    assert info["master_replid"] != old_replid, info
    assert info["master_replid2"] == old_replid, info
    assert info["second_repl_offset"] == offset + 1, info
    assert info["master_repl_offset"] == offset, info

    # re-point the others at it; R3 stays where it is
    replicaof(r2, "127.0.0.1", r1.port)
    replicaof(m, "127.0.0.1", r1.port)
    for node in (r2, m, r3):
        wait_link_up(node)
    assert repl_info(r3)["master_port"] == r1.port

    mixed_writes(r1, 20_000, seed=13, prefix="after")
    wait_converged(r1, [m, r2, r3])
    new_replid = repl_info(r1)["master_replid"]
    for node in (m, r2, r3):
        info = repl_info(node)
        assert info["role"] == "slave" and info["master_port"] == r1.port, (node, info)
        assert info["master_replid"] == new_replid, (node, info)
    full1, ok1, err1 = repl_stats(r1)
    assert full1 == full0, "a full sync against the promoted replica: sync_full %d -> %d" % (full0, full1)
    # M and R2 continued partially; R3 too when the promotion dropped its link
    # (Redis 7.0 drops its replicas then, so they learn the new replid)
    assert ok1 - ok0 >= 2, "sync_partial_ok %d -> %d" % (ok0, ok1)
    assert err1 == err0, "sync_partial_err %d -> %d" % (err0, err1)
    assert repl_info(r1)["connected_slaves"] == 3
