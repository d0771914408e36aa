"""MULTI / EXEC / DISCARD / WATCH / UNWATCH, atomic across shards."""

import threading
import time

import pytest
import redis

from conftest import keys_on_shard


def test_exec_runs_queued_commands_across_shards(r):
    a, b = keys_on_shard(0, 1, "ma")[0], keys_on_shard(1, 1, "mb")[0]
    r.mset({a: 100, b: 0})
    p = r.pipeline(transaction=True)
    p.decrby(a, 10).incrby(b, 10).mget(a, b).set("x", "1").rename("x", keys_on_shard(1, 1, "mz")[0]).ping()
    assert p.execute() == [90, 10, [b"90", b"10"], True, True, True]


def test_queued_replies_and_exec_without_multi(ringkv):
    with ringkv.raw() as c:
        assert c.call("MULTI") == "OK"
        c.send("SET", "k", "v")
        assert c.read_line() == b"+QUEUED"
        c.send("MULTI")
        assert c.read_line() == b"-ERR MULTI calls can not be nested"
        c.send("WATCH", "k")
        assert c.read_line() == b"-ERR WATCH inside MULTI is not allowed"
        assert c.call("EXEC") == ["OK"]
        c.send("EXEC")
        assert c.read_line() == b"-ERR EXEC without MULTI"
        c.send("DISCARD")
        assert c.read_line() == b"-ERR DISCARD without MULTI"


def test_queue_errors_abort_with_execabort(ringkv, r):
    with ringkv.raw() as c:
        assert c.call("MULTI") == "OK"
        c.send("SET", "k")
        assert c.read_line().startswith(b"-ERR wrong number of arguments for 'set' command")
        c.send("NOSUCHCMD")
        assert c.read_line().startswith(b"-ERR unknown command 'NOSUCHCMD'")
        c.send("INCR", "k")
        assert c.read_line() == b"+QUEUED"
        c.send("EXEC")
        assert c.read_line() == b"-EXECABORT Transaction discarded because of previous errors."
    assert r.get("k") is None


def test_runtime_errors_leave_other_commands_applied(r):
    r.set("str", "abc")
    p = r.pipeline(transaction=True)
    p.set("a", "1").incr("str").set("b", "2")
    res = p.execute(raise_on_error=False)
    assert res[0] is True and res[2] is True
    assert isinstance(res[1], redis.ResponseError)
    assert "not an integer" in str(res[1])
    assert r.mget("a", "b") == [b"1", b"2"]


def test_discard_drops_the_queue(ringkv, r):
    with ringkv.raw() as c:
        assert c.call("MULTI") == "OK"
        c.send("SET", "d", "1")
        assert c.read_line() == b"+QUEUED"
        assert c.call("DISCARD") == "OK"
        assert c.call("GET", "d") is None


def test_select_inside_multi(r):
    p = r.pipeline(transaction=True)
    p.execute_command("SELECT", 3)
    p.set("in3", "x")
    p.execute_command("SELECT", 0)
    p.execute()
    r3 = redis.Redis(port=r.connection_pool.connection_kwargs["port"], db=3)
    assert r3.get("in3") == b"x"
    assert r.get("in3") is None


def test_whole_server_commands_run_inside_exec(ringkv, r):
    keys = keys_on_shard(0, 2, "ws0") + keys_on_shard(1, 2, "ws1")
    sub = ringkv.client().pubsub()
    sub.subscribe("news")
    assert sub.get_message(timeout=2)["type"] == "subscribe"
    p = r.pipeline(transaction=True)
    p.mset({k: "1" for k in keys})
    p.dbsize()
    p.execute_command("KEYS", "ws*")
    p.publish("news", "hello")
    p.flushall()
    p.dbsize()
    p.set("after", "x")
    res = p.execute()
    assert res[0] is True and res[1] == 4
    assert sorted(res[2]) == sorted(k.encode() for k in keys)
    assert res[3] == 1
    assert res[4] is True and res[5] == 0 and res[6] is True
    assert r.keys("*") == [b"after"]
    msg = sub.get_message(timeout=2)
    assert msg["type"] == "message" and msg["data"] == b"hello"
    sub.close()


def test_whole_server_command_errors_inside_exec(ringkv, r):
    with ringkv.raw() as c:
        assert c.call("MULTI") == "OK"
        c.send("SET", "e", "1")
        assert c.read_line() == b"+QUEUED"
        c.send("FLUSHALL", "BOGUS")
        assert c.read_line() == b"+QUEUED"
        c.send("DBSIZE")
        assert c.read_line() == b"+QUEUED"
        c.send("EXEC")
        res = c.read()
        assert res[0] == "OK"
        assert str(res[1]) == "ERR syntax error"
        assert res[2] == 1


def test_watch_aborts_when_a_key_on_another_shard_changes(ringkv, r):
    a, b = keys_on_shard(0, 1, "wa")[0], keys_on_shard(1, 1, "wb")[0]
    r.mset({a: 1, b: 1})
    other = ringkv.client()
    for watched, changed in ((b, b), (a, a)):
        with r.pipeline() as p:
            p.watch(watched)
            other.incr(changed)
            p.multi()
            p.incr(a if watched == b else b)
            with pytest.raises(redis.WatchError):
                p.execute()
    with r.pipeline() as p:
        p.watch(a, b)
        p.multi()
        p.incr(a)
        assert p.execute() == [3]


def test_watch_is_touched_by_expiry_and_unwatch_clears(ringkv, r):
    r.set("w", "1", px=100)
    with r.pipeline() as p:
        p.watch("w")
        time.sleep(0.25)
        p.multi()
        p.set("after", "1")
        with pytest.raises(redis.WatchError):
            p.execute()
    with r.pipeline() as p:
        p.watch("w2")
        ringkv.client().set("w2", "x")
        p.unwatch()
        p.multi()
        p.set("after", "2")
        assert p.execute() == [True]


def test_transfers_between_shards_keep_a_constant_sum(ringkv, r):
    accounts = keys_on_shard(0, 4, "acc0") + keys_on_shard(1, 4, "acc1")
    r.mset({k: 1000 for k in accounts})
    errors = []

    def transfer(worker):
        c = ringkv.client(socket_timeout=20)
        try:
            for i in range(150):
                src = accounts[(worker + i) % len(accounts)]
                dst = accounts[(worker * 3 + i + 1) % len(accounts)]
                if src == dst:
                    continue
                p = c.pipeline(transaction=True)
                p.decrby(src, 7).incrby(dst, 7)
                p.execute()
        except Exception as e:
            errors.append(repr(e))

    def auditor():
        c = ringkv.client(socket_timeout=20)
        for _ in range(200):
            p = c.pipeline(transaction=True)
            p.mget(accounts)
            total = sum(int(v) for v in p.execute()[0])
            if total != 1000 * len(accounts):
                errors.append(f"sum {total}")
                return

    threads = [threading.Thread(target=transfer, args=(w,)) for w in range(6)] + \
              [threading.Thread(target=auditor) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    assert sum(int(v) for v in r.mget(accounts)) == 1000 * len(accounts)


def test_flushall_touches_watched_keys_that_exist(ringkv, r):
    k = keys_on_shard(1, 1, "wf")[0]
    r.set(k, "1")
    with r.pipeline() as p:
        p.watch(k)
        ringkv.client().flushall()
        p.multi()
        p.set("x", "1")
        with pytest.raises(redis.WatchError):
            p.execute()
    # A watched key that did not exist is not touched by FLUSHALL (as Redis).
    with r.pipeline() as p:
        p.watch("never-there")
        ringkv.client().flushall()
        p.multi()
        p.set("x", "2")
        assert p.execute() == [True]


def test_exec_routes_commands_with_thousands_of_keys(r):
    # More keys than any fixed routing buffer: every one must reach its shard.
    mapping = {"big:%d" % i: str(i) for i in range(6000)}
    p = r.pipeline(transaction=True)
    p.mset(mapping)
    p.mget(list(mapping))
    p.delete(*list(mapping)[:4500])
    res = p.execute()
    assert res[0] is True
    assert res[1] == [v.encode() for v in mapping.values()]
    assert res[2] == 4500
    assert r.dbsize() == 1500
