"""AOF durability and atomicity under kill -9 (issue 5).

- appendfsync always: clients record every acknowledged write while the
  server is killed with SIGKILL at random moments (20 times, two shards);
  after every restart each acknowledged write is there.
- appendfsync everysec: what is missing after a kill was acknowledged in
  roughly the last two seconds only.
- MULTI/EXEC and MSET across shards: after a kill each transaction is
  there entirely or not at all, under both policies.

The writers run in threads; a write counts as acknowledged when its reply
arrived. A connection error ends a writer (the kill)."""
import random
import threading
import time

import pytest
import redis

from conftest import Server, keys_on_shard, stop_and_check

# Run once, in the io_uring stage (the marker is explained in pytest.ini).
pytestmark = pytest.mark.once

KILLS = 20


def aof_server(tmp_path, fsync, **directives):
    directives = dict({"appendonly": "yes", "appendfsync": fsync, "save": '""'}, **directives)
    return Server(tmp_path / "data", directives=directives)


class Writer(threading.Thread):
    """Writes until its connection fails. `acked` gets (key, value, t) for
    every acknowledged write; single keys, cross-shard MSETs and cross-shard
    MULTI/EXEC pairs, chosen at random."""

    def __init__(self, server, wid, round_no):
        super().__init__(daemon=True)
        self.c = server.client(socket_timeout=30)
        self.wid = wid
        self.round_no = round_no
        self.acked = []          # (key, value, ack time)
        self.pairs = []          # (key_a, key_b, value, ack time): written together
        self.attempted_pairs = []
        self.stop_flag = False
        self.rng = random.Random(wid * 1000 + round_no)

    def run(self):
        n = 0
        try:
            while not self.stop_flag:
                n += 1
                tag = "r%d:w%d:%d" % (self.round_no, self.wid, n)
                value = "v-" + tag
                kind = self.rng.random()
                if kind < 0.6:
                    key = "k:" + tag
                    self.c.set(key, value)
                    self.acked.append((key, value, time.monotonic()))
                else:
                    a = keys_on_shard(0, 1, prefix="a:" + tag + ":")[0]
                    b = keys_on_shard(1, 1, prefix="b:" + tag + ":")[0]
                    self.attempted_pairs.append((a, b, value))
                    if kind < 0.8:
                        self.c.mset({a: value, b: value})
                    else:
                        p = self.c.pipeline(transaction=True)
                        p.set(a, value)
                        p.set(b, value)
                        p.execute()
                    self.pairs.append((a, b, value, time.monotonic()))
        except (redis.ConnectionError, redis.TimeoutError, ConnectionError, OSError):
            pass


def run_round(server, round_no, writers=4, min_s=0.1, max_s=0.5):
    """Starts writers, kills the server at a random moment, returns the
    writers and the kill time."""
    ws = [Writer(server, i, round_no) for i in range(writers)]
    for w in ws:
        w.start()
    time.sleep(random.uniform(min_s, max_s))
    kill_t = time.monotonic()
    server.kill()
    for w in ws:
        w.stop_flag = True
        w.join(timeout=30)
        assert not w.is_alive(), "a writer hung after the kill"
    return ws, kill_t


def check_pairs_atomic(c, ws):
    """Every attempted cross-shard pair is present entirely or not at all."""
    for w in ws:
        pipe = c.pipeline(transaction=False)
        for a, b, _v in w.attempted_pairs:
            pipe.get(a)
            pipe.get(b)
        got = pipe.execute()
        for i, (a, b, v) in enumerate(w.attempted_pairs):
            va, vb = got[2 * i], got[2 * i + 1]
            assert (va is None) == (vb is None), \
                "transaction half applied: %s=%r %s=%r" % (a, va, b, vb)
            if va is not None:
                assert va == vb == v.encode()


def missing_acked(c, ws):
    """(ack time, what) of acknowledged writes that are not there."""
    missing = []
    for w in ws:
        pipe = c.pipeline(transaction=False)
        for key, _v, _t in w.acked:
            pipe.get(key)
        for a, _b, _v, _t in w.pairs:
            pipe.get(a)
        got = pipe.execute()
        n = len(w.acked)
        for (key, v, t), g in zip(w.acked, got[:n]):
            if g != v.encode():
                missing.append((t, key))
        for (a, _b, v, t), g in zip(w.pairs, got[n:]):
            if g != v.encode():
                missing.append((t, a))
    return missing


def test_always_keeps_every_acknowledged_write_across_kills(tmp_path):
    server = aof_server(tmp_path, "always")
    server.start()
    all_writers = []
    total_acked = 0
    try:
        for round_no in range(KILLS):
            ws, _ = run_round(server, round_no)
            all_writers += ws
            total_acked += sum(len(w.acked) + len(w.pairs) for w in ws)
            server.start()
            c = server.client()
            missing = missing_acked(c, all_writers)
            assert not missing, "round %d: %d acknowledged writes lost, e.g. %r" % (
                round_no, len(missing), missing[:5])
            check_pairs_atomic(c, all_writers)
        # every round wrote something on both shards
        assert total_acked > KILLS * 10
        log = server.log_text()
        assert "Bad file format" not in log
    finally:
        stop_and_check([server])


def test_everysec_loses_at_most_about_two_seconds(tmp_path):
    server = aof_server(tmp_path, "everysec")
    server.start()
    try:
        for round_no in range(2):
            # long enough that older writes must have reached an fsync
            ws, kill_t = run_round(server, round_no, min_s=3.5, max_s=4.5)
            server.start()
            c = server.client()
            missing = missing_acked(c, ws)
            old = [(kill_t - t, k) for t, k in missing if kill_t - t > 3.0]
            assert not old, "writes acknowledged more than 3 s before the kill are lost: %r" % old[:5]
            check_pairs_atomic(c, ws)
            assert sum(len(w.acked) for w in ws) > 100
    finally:
        stop_and_check([server])


@pytest.mark.parametrize("fsync", [pytest.param("always", marks=pytest.mark.smoke), "everysec", "no"])
def test_cross_shard_transfers_are_whole_after_kill(tmp_path, fsync):
    """Balances on both shards; MULTI/EXEC moves units between them. After
    each kill the total is unchanged and a counter bumped in the same
    transaction equals the number of transfers applied."""
    server = aof_server(tmp_path, fsync)
    server.start()
    a = keys_on_shard(0, 1, prefix="acct-a")[0]
    b = keys_on_shard(1, 1, prefix="acct-b")[0]
    na = keys_on_shard(1, 1, prefix="count")[0]
    try:
        c = server.client()
        c.mset({a: 100000, b: 100000, na: 0})
        c.execute_command("WAITAOF", 1, 0, 0)
        acked = [0]
        for round_no in range(5):
            stop = [False]

            def transfer(seed):
                rng = random.Random(seed)
                cc = server.client(socket_timeout=30)
                try:
                    while not stop[0]:
                        amount = rng.randint(1, 9)
                        src, dst = (a, b) if rng.random() < 0.5 else (b, a)
                        p = cc.pipeline(transaction=True)
                        p.decrby(src, amount)
                        p.incrby(dst, amount)
                        p.incr(na)
                        p.execute()
                        acked[0] += 1
                except (redis.ConnectionError, redis.TimeoutError, OSError):
                    pass

            ts = [threading.Thread(target=transfer, args=(round_no * 10 + i,), daemon=True)
                  for i in range(3)]
            for t in ts:
                t.start()
            time.sleep(random.uniform(0.3, 1.0))
            server.kill()
            stop[0] = True
            for t in ts:
                t.join(timeout=30)
            server.start()
            c = server.client()
            va, vb, count = int(c.get(a)), int(c.get(b)), int(c.get(na))
            assert va + vb == 200000, "round %d: transfer half applied (%d + %d)" % (round_no, va, vb)
            if fsync == "always":
                assert count >= acked[0], "round %d: %d transfers acknowledged, %d applied" % (
                    round_no, acked[0], count)
    finally:
        stop_and_check([server])
