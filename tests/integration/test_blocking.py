"""Blocking pops across shards: wake-ups, FIFO order per key, exactly-once
delivery, timeouts, MULTI, and clients that leave while blocked."""

import threading
import time
import pytest

from conftest import keys_on_shard


def blocked_count(r, name="blpop"):
    return sum(1 for c in r.client_list() if c.get("cmd") == name)


def wait_blocked(r, n, name="blpop", timeout=5):
    deadline = time.monotonic() + timeout
    while blocked_count(r, name) < n:
        assert time.monotonic() < deadline, f"only {blocked_count(r, name)} of {n} blocked"
        time.sleep(0.01)


def test_blpop_woken_by_push_from_other_connections_on_every_shard(ringkv, r):
    for shard in (0, 1):
        key = keys_on_shard(shard, 1, f"bw{shard}")[0]
        results = []
        waiters = [ringkv.client(socket_timeout=10) for _ in range(4)]  # homes on both shards
        threads = [threading.Thread(target=lambda c=c: results.append(c.blpop(key, 5))) for c in waiters]
        for t in threads:
            t.start()
        wait_blocked(r, 4)
        pusher = ringkv.client()
        for i in range(4):
            pusher.rpush(key, f"v{i}")
        for t in threads:
            t.join(10)
        assert sorted(results) == [(key.encode(), f"v{i}".encode()) for i in range(4)]
        assert r.llen(key) == 0


def test_100_blocked_clients_are_served_fifo(ringkv, r):
    key = keys_on_shard(1, 1, "fifo")[0]
    got = [None] * 100
    clients = [ringkv.client(socket_timeout=20) for _ in range(100)]

    def wait(i):
        got[i] = clients[i].blpop(key, 15)

    threads = []
    for i in range(100):
        t = threading.Thread(target=wait, args=(i,))
        t.start()
        threads.append(t)
        wait_blocked(r, i + 1)  # registration order is the order they block in
    pusher = ringkv.client()
    for i in range(100):
        pusher.rpush(key, i)
    for t in threads:
        t.join(20)
    assert got == [(key.encode(), str(i).encode()) for i in range(100)]


def test_each_element_is_delivered_exactly_once(ringkv, r):
    key = keys_on_shard(0, 1, "once")[0]
    got = []
    lock = threading.Lock()
    clients = [ringkv.client(socket_timeout=10) for _ in range(20)]

    def wait(c):
        v = c.blpop(key, 2)
        with lock:
            got.append(v)

    threads = [threading.Thread(target=wait, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    wait_blocked(r, 20)
    r.rpush(key, *range(10))
    for t in threads:
        t.join(10)
    served = sorted(int(v[1]) for v in got if v is not None)
    assert served == list(range(10))
    assert sum(1 for v in got if v is None) == 10  # the rest timed out
    assert r.llen(key) == 0


def test_timeout_fractional_and_zero_means_forever(ringkv, r):
    c = ringkv.client(socket_timeout=10)
    start = time.monotonic()
    assert c.blpop("nothing-here", 0.2) is None
    assert 0.15 <= time.monotonic() - start < 2
    with ringkv.raw() as raw:
        raw.send("BLPOP", "k", "-1")
        assert raw.read_line() == b"-ERR timeout is negative"
        raw.send("BLPOP", "k", "abc")
        assert raw.read_line() == b"-ERR timeout is not a float or out of range"
    result = []
    t = threading.Thread(target=lambda: result.append(c.blpop("forever", 0)))
    t.start()
    wait_blocked(r, 1)
    time.sleep(0.3)
    assert t.is_alive()
    r.lpush("forever", "x")
    t.join(5)
    assert result == [(b"forever", b"x")]


def test_blocking_pop_inside_multi_does_not_block(r):
    p = r.pipeline(transaction=True)
    p.blpop("empty-list", 0)
    p.set("after", "1")
    assert p.execute() == [None, True]


def test_blmove_across_shards_when_woken(ringkv, r):
    src, dst = keys_on_shard(0, 1, "src")[0], keys_on_shard(1, 1, "dst")[0]
    out = []
    c = ringkv.client(socket_timeout=10)
    t = threading.Thread(target=lambda: out.append(c.blmove(src, dst, 5, "LEFT", "RIGHT")))
    t.start()
    wait_blocked(r, 1, "blmove")
    r.rpush(src, "moved")
    t.join(10)
    assert out == [b"moved"]
    assert r.lrange(dst, 0, -1) == [b"moved"] and r.exists(src) == 0


def test_client_that_leaves_while_blocked_consumes_nothing(ringkv, r):
    key = keys_on_shard(1, 1, "gone")[0]
    with ringkv.raw() as raw:
        raw.send("BLPOP", key, "0")
        wait_blocked(r, 1)
    deadline = time.monotonic() + 5
    while blocked_count(r) and time.monotonic() < deadline:
        time.sleep(0.01)
    r.rpush(key, "kept")
    time.sleep(0.1)
    assert r.lrange(key, 0, -1) == [b"kept"]


@pytest.mark.parametrize("cmd", ["BRPOPLPUSH", "BLMOVE"])
def test_blocked_move_waits_on_its_source_only(ringkv, r, cmd):
    # A destination that holds data must not wake the client: it waits on
    # the source alone (a wake-up per re-run used to spin a shard forever).
    for same_shard in (True, False):
        src, dst = keys_on_shard(1, 2, "mv") if same_shard else (keys_on_shard(0, 1, "mv")[0],
                                                                 keys_on_shard(1, 1, "mv")[0])
        r.delete(src, dst)
        r.rpush(dst, "there")
        args = [cmd, src, dst] + (["LEFT", "RIGHT"] if cmd == "BLMOVE" else []) + ["0.05"]
        start = time.monotonic()
        assert r.execute_command(*args) is None
        assert time.monotonic() - start < 2
        assert r.ping()
        assert r.lrange(dst, 0, -1) == [b"there"]
