"""Pipelining and concurrency across shards: replies come back in request
order whichever shard owns each key, many connections at once, and
multi-shard writes (MSET) are never seen half done."""

import resource
import threading

import pytest

from conftest import RespConn, keys_on_shard, shard_of


def raise_nofile(wanted):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))


@pytest.mark.smoke
def test_1000_command_pipeline_in_order(r):
    keys = ["pipe:%d" % i for i in range(100)]
    assert {shard_of(k) for k in keys} == {0, 1}
    pipe = r.pipeline(transaction=False)
    expected = []
    counters = {}
    for i in range(1000):
        key = keys[i % len(keys)]
        op = i % 3
        if op == 0:
            pipe.set(key + ":s", "v%d" % i)
            expected.append(True)
        elif op == 1:
            pipe.get(key + ":s")
            # the last SET to this :s key happened earlier in this pipeline, if any
            last = None
            for j in range(i - 1, -1, -1):
                if j % 3 == 0 and keys[j % len(keys)] == key:
                    last = b"v%d" % j
                    break
            expected.append(last)
        else:
            pipe.incr(key + ":n")
            counters[key] = counters.get(key, 0) + 1
            expected.append(counters[key])
    replies = pipe.execute()
    assert len(replies) == 1000
    for i, (got, want) in enumerate(zip(replies, expected)):
        assert got == want, "reply %d out of order or wrong" % i


@pytest.mark.smoke
def test_raw_pipeline_single_write(ringkv, r):
    n = 1000
    payload = b"".join(RespConn.encode("INCR", "rawpipe:%d" % (i % 37)) for i in range(n))
    seen = {}
    with ringkv.raw() as c:
        c.send_raw(payload)
        for i in range(n):
            key = i % 37
            seen[key] = seen.get(key, 0) + 1
            assert c.read() == seen[key]


@pytest.mark.smoke
def test_pipeline_mixing_local_and_remote_keys(ringkv, r):
    a0, b0 = keys_on_shard(0, 2, "mix")
    a1, b1 = keys_on_shard(1, 2, "mix")
    # Every connection lands on some shard: for one of them shard 0 is local,
    # for another shard 1; several connections cover both cases.
    for _ in range(4):
        with ringkv.client() as c:
            c.flushall()
            pipe = c.pipeline(transaction=False)
            pipe.set(a0, "x0")
            pipe.set(a1, "x1")
            pipe.get(a0)
            pipe.mset({b0: "y0", b1: "y1"})        # spans both shards
            pipe.get(a1)
            pipe.mget(a0, a1, b0, b1)
            pipe.incr(b0 + ":n")
            pipe.delete(a0, a1, "mix:none")
            pipe.exists(a0, a1, b0, b1)
            pipe.get(b1)
            pipe.echo("end")
            assert pipe.execute() == [
                True, True, b"x0", True, b"x1", [b"x0", b"x1", b"y0", b"y1"],
                1, 2, 2, b"y1", b"end"]


def test_pipeline_of_multi_shard_commands(ringkv, r):
    keys = ["mk:%d" % i for i in range(20)]
    assert {shard_of(k) for k in keys} == {0, 1}
    pipe = r.pipeline(transaction=False)
    for i in range(200):
        pipe.mset({k: i for k in keys})
        pipe.mget(keys)
    replies = pipe.execute()
    for i in range(200):
        assert replies[2 * i] is True
        assert replies[2 * i + 1] == [str(i).encode()] * len(keys)


def test_500_concurrent_connections(ringkv, r):
    n = 500
    raise_nofile(n + 256)
    conns = []
    try:
        for _ in range(n):
            conns.append(ringkv.raw())
        for i, c in enumerate(conns):
            c.send_raw(RespConn.encode("SET", "conn:%d" % i, i)
                       + RespConn.encode("INCR", "conn:total")
                       + RespConn.encode("GET", "conn:%d" % i))
        totals = []
        for i, c in enumerate(conns):
            assert c.read() == "OK"
            totals.append(c.read())
            assert c.read() == str(i).encode()
        assert sorted(totals) == list(range(1, n + 1))
        # all are still usable, in reverse order this time
        for c in reversed(conns):
            c.send("PING")
        for c in reversed(conns):
            assert c.read() == "PONG"
    finally:
        for c in conns:
            c.close()
    assert r.get("conn:total") == str(n).encode()
    assert r.dbsize() == n + 1


def test_concurrent_readers_never_see_partial_mset(ringkv, r):
    keys = keys_on_shard(0, 10, "atom") + keys_on_shard(1, 10, "atom")
    r.mset({k: 0 for k in keys})
    writes = 1000
    stop = threading.Event()
    errors = []
    reads = [0]

    def writer():
        try:
            with ringkv.client() as c:
                for i in range(1, writes + 1):
                    c.mset({k: i for k in keys})
        except Exception as e:  # reported by the main thread
            errors.append("writer: %r" % e)
        finally:
            stop.set()

    def reader():
        try:
            with ringkv.client() as c:
                while not stop.is_set():
                    values = c.mget(keys)
                    reads[0] += 1
                    if len(set(values)) != 1:
                        errors.append("partial MSET seen: %r" % values)
                        return
        except Exception as e:
            errors.append("reader: %r" % e)

    threads = [threading.Thread(target=writer)] + [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads), "threads hung"
    assert not errors, errors[:3]
    assert reads[0] > 0
    assert r.mget(keys) == [str(writes).encode()] * len(keys)
