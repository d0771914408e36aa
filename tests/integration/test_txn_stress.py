"""Ordered multi-shard transactions under contention: many clients run
multi-shard commands over overlapping keys at once. Nothing may hang
(deadlock), every reader sees each MSET whole, and the retry path of the
scheduler is exercised."""

import threading

from conftest import keys_on_shard

WRITERS = 6
ROUNDS = 150


def test_overlapping_multi_shard_writers_stay_atomic_and_live(ringkv, r):
    keys = keys_on_shard(0, 5, "ts0") + keys_on_shard(1, 5, "ts1")
    r.mset({k: "init" for k in keys})
    errors = []
    stop = threading.Event()

    def writer(w):
        c = ringkv.client(socket_timeout=20)
        try:
            for i in range(ROUNDS):
                # Each writer names the keys in its own order.
                order = keys[w % len(keys):] + keys[:w % len(keys)]
                c.mset({k: f"w{w}-{i}" for k in order})
                c.execute_command("DEL", f"tmp{{{w}}}", keys[0] + "x")
        except Exception as e:  # surfaced below
            errors.append(repr(e))

    def reader():
        c = ringkv.client(socket_timeout=20)
        try:
            while not stop.is_set():
                vals = c.mget(keys)
                if len(set(vals)) != 1:
                    errors.append(f"partial MSET seen: {vals}")
                    return
        except Exception as e:
            errors.append(repr(e))

    readers = [threading.Thread(target=reader) for _ in range(2)]
    writers = [threading.Thread(target=writer, args=(w,)) for w in range(WRITERS)]
    for t in readers + writers:
        t.start()
    for t in writers:
        t.join(60)
    stop.set()
    for t in readers:
        t.join(10)
    assert not any(t.is_alive() for t in writers + readers), "transactions hung"
    assert errors == []
    final = r.mget(keys)
    assert len(set(final)) == 1 and final[0].startswith(b"w")
    stats = r.info("stats")
    assert stats["txn_started"] >= WRITERS * ROUNDS


def test_cross_shard_rename_chain_keeps_every_value(ringkv, r):
    # Values move around a ring of keys on both shards; none may be lost or duplicated.
    ring = keys_on_shard(0, 3, "rr0") + keys_on_shard(1, 3, "rr1")
    for i, k in enumerate(ring[:-1]):
        r.set(k, f"v{i}")
    hole = ring[-1]
    for step in range(60):
        src = ring[(ring.index(hole) - 1) % len(ring)]
        assert r.rename(src, hole)
        hole = src
    values = sorted(v for v in r.mget(ring) if v is not None)
    assert values == sorted(f"v{i}".encode() for i in range(len(ring) - 1))
    assert r.exists(hole) == 0
