"""Pub/Sub across shards: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE, PUBLISH,
SPUBLISH, PUBSUB subcommands, RESP2 subscribed mode, RESP3 pushes and the
pubsub output-buffer limit. Channels are chosen on both shards (a channel is
owned by the shard of its name's slot); subscriber connections land on both
shards because SO_REUSEPORT spreads them."""

import socket
import time

import pytest
import redis

from conftest import RespConn, keys_on_shard

SUBSCRIBED_MODE_ERR = ("Can't execute '%s': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / "
                       "QUIT / RESET are allowed in this context")


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.01)
    return predicate()


def read_n(conn, n):
    return [conn.read() for _ in range(n)]


def test_subscribe_unsubscribe_replies_resp2(ringkv):
    with ringkv.raw() as c:
        # Nothing subscribed yet: a null channel and the current count.
        assert c.call("UNSUBSCRIBE") == [b"unsubscribe", None, 0]
        assert c.call("PUNSUBSCRIBE") == [b"punsubscribe", None, 0]
        assert c.call("SUNSUBSCRIBE") == [b"sunsubscribe", None, 0]
        c.send("UNSUBSCRIBE", "a", "b")
        assert read_n(c, 2) == [[b"unsubscribe", b"a", 0], [b"unsubscribe", b"b", 0]]
        # Duplicates answer again with the unchanged count.
        c.send("SUBSCRIBE", "a", "b", "a")
        assert read_n(c, 3) == [[b"subscribe", b"a", 1], [b"subscribe", b"b", 2],
                                [b"subscribe", b"a", 2]]
        # Patterns count with channels; shard channels on their own.
        assert c.call("PSUBSCRIBE", "p*") == [b"psubscribe", b"p*", 3]
        assert c.call("SSUBSCRIBE", "x") == [b"ssubscribe", b"x", 1]
        assert c.call("UNSUBSCRIBE", "zz") == [b"unsubscribe", b"zz", 3]
        c.send("UNSUBSCRIBE")
        got = read_n(c, 2)
        assert sorted(g[1] for g in got) == [b"a", b"b"]
        assert [g[0] for g in got] == [b"unsubscribe"] * 2 and [g[2] for g in got] == [2, 1]
        assert c.call("PUNSUBSCRIBE") == [b"punsubscribe", b"p*", 0]
        assert c.call("SUNSUBSCRIBE") == [b"sunsubscribe", b"x", 0]
        # Out of subscribed mode: ordinary commands work again.
        assert c.call("GET", "nokey") is None


def test_subscribed_mode_restrictions_resp2(ringkv):
    with ringkv.raw() as c:
        c.call("SUBSCRIBE", "chan")
        c.send("GET", "x")
        assert str(c.read()) == "ERR " + SUBSCRIBED_MODE_ERR % "get"
        c.send("CLIENT", "LIST")
        assert str(c.read()) == "ERR " + SUBSCRIBED_MODE_ERR % "client|list"
        c.send("PUBLISH", "chan", "m")
        assert str(c.read()) == "ERR " + SUBSCRIBED_MODE_ERR % "publish"
        c.send("HELLO", "3")
        assert str(c.read()) == "ERR " + SUBSCRIBED_MODE_ERR % "hello"
        assert c.call("PING") == [b"pong", b""]
        assert c.call("PING", "hi") == [b"pong", b"hi"]
        # Allowed ones still work, including a shard subscription.
        assert c.call("SSUBSCRIBE", "s") == [b"ssubscribe", b"s", 1]
        assert c.call("UNSUBSCRIBE", "chan") == [b"unsubscribe", b"chan", 0]
        # Still subscribed (to a shard channel): still restricted.
        c.send("SET", "k", "v")
        assert str(c.read()) == "ERR " + SUBSCRIBED_MODE_ERR % "set"
        assert c.call("SUNSUBSCRIBE", "s") == [b"sunsubscribe", b"s", 0]
        assert c.call("SET", "k", "v") == "OK"
        assert c.call("PING") == "PONG"
        c.call("DEL", "k")


def test_arity_and_subcommand_errors(r):
    for args, name in ((("PUBLISH", "a"), "publish"), (("SPUBLISH", "a"), "spublish"),
                       (("SUBSCRIBE",), "subscribe"), (("PSUBSCRIBE",), "psubscribe"),
                       (("SSUBSCRIBE",), "ssubscribe"), (("PUBSUB",), "pubsub"),
                       (("PUBSUB", "NUMPAT", "x"), "pubsub|numpat"),
                       (("PUBSUB", "HELP", "x"), "pubsub|help")):
        with pytest.raises(redis.ResponseError) as e:
            r.execute_command(*args)
        assert str(e.value) == "wrong number of arguments for '%s' command" % name
    with pytest.raises(redis.ResponseError) as e:
        r.execute_command("PUBSUB", "foo")
    assert str(e.value) == "unknown subcommand 'foo'. Try PUBSUB HELP."
    for sub in ("CHANNELS", "SHARDCHANNELS"):
        with pytest.raises(redis.ResponseError) as e:
            r.execute_command("PUBSUB", sub, "a", "b")
        assert str(e.value) == ("unknown subcommand or wrong number of arguments for '%s'. "
                                "Try PUBSUB HELP." % sub)
    helptext = r.execute_command("PUBSUB", "HELP")
    assert helptext[0] == b"PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"
    assert b"SHARDNUMSUB [<shardchannel> ...]" in helptext and helptext[-1] == b"    Prints this help."


def test_publish_without_subscribers(r):
    assert r.publish("nobody", "x") == 0
    assert r.execute_command("SPUBLISH", "nobody", "x") == 0


def test_hundred_subscribers_receive_every_message_in_order(ringkv, r):
    # One channel owned by each shard; every subscriber listens to both.
    ch0 = keys_on_shard(0, 1, "fan")[0]
    ch1 = keys_on_shard(1, 1, "fan")[0]
    subs = [ringkv.raw() for _ in range(100)]
    try:
        for s in subs:
            s.send("SUBSCRIBE", ch0, ch1)
        for s in subs:
            assert read_n(s, 2) == [[b"subscribe", ch0.encode(), 1], [b"subscribe", ch1.encode(), 2]]
        assert r.execute_command("PUBSUB", "NUMSUB", ch0, ch1) == [ch0.encode(), 100, ch1.encode(), 100]
        sent = []
        for i in range(50):
            ch = ch0 if i % 2 == 0 else ch1
            payload = "msg-%d" % i
            assert r.publish(ch, payload) == 100
            sent.append([b"message", ch.encode(), payload.encode()])
        for s in subs:
            assert read_n(s, 50) == sent
    finally:
        for s in subs:
            s.close()


def test_pipelined_publishes_keep_order(ringkv, r):
    ch = keys_on_shard(1, 1, "pipe")[0]
    with ringkv.raw() as sub, ringkv.raw() as pub:
        sub.call("SUBSCRIBE", ch)
        pub.send_raw(b"".join(RespConn.encode("PUBLISH", ch, str(i)) for i in range(200)))
        assert read_n(pub, 200) == [1] * 200
        assert [m[2] for m in read_n(sub, 200)] == [str(i).encode() for i in range(200)]


def test_binary_and_empty_payloads(ringkv, r):
    ch = "bin\r\n\x00chan"
    with ringkv.raw() as sub:
        sub.call("SUBSCRIBE", ch)
        assert r.publish(ch, b"") == 1
        assert r.publish(ch, b"a\r\n\x00b") == 1
        assert read_n(sub, 2) == [[b"message", ch.encode(), b""],
                                  [b"message", ch.encode(), b"a\r\n\x00b"]]


def test_psubscribe_patterns_across_shards(ringkv, r):
    news0 = keys_on_shard(0, 1, "news")[0]
    news1 = keys_on_shard(1, 1, "news")[0]
    p = r.pubsub()
    p.psubscribe("news:*")
    assert p.get_message(timeout=2) == {"type": "psubscribe", "pattern": None,
                                        "channel": b"news:*", "data": 1}
    with ringkv.raw() as both:
        # A channel and a pattern matching it: two deliveries, both counted.
        both.send("SUBSCRIBE", news1)
        both.send("PSUBSCRIBE", "n*s:*")
        assert read_n(both, 2) == [[b"subscribe", news1.encode(), 1],
                                   [b"psubscribe", b"n*s:*", 2]]
        assert r.execute_command("PUBSUB", "NUMPAT") == 2
        assert r.publish(news0, "zero") == 2
        assert r.publish(news1, "one") == 3
        assert r.publish("other", "x") == 0
        assert p.get_message(timeout=2) == {"type": "pmessage", "pattern": b"news:*",
                                            "channel": news0.encode(), "data": b"zero"}
        assert p.get_message(timeout=2) == {"type": "pmessage", "pattern": b"news:*",
                                            "channel": news1.encode(), "data": b"one"}
        assert both.read() == [b"pmessage", b"n*s:*", news0.encode(), b"zero"]
        # The channel and the pattern delivery of one PUBLISH: either order.
        assert sorted(read_n(both, 2)) == sorted([[b"message", news1.encode(), b"one"],
                                                  [b"pmessage", b"n*s:*", news1.encode(), b"one"]])
        assert both.call("PUNSUBSCRIBE", "n*s:*") == [b"punsubscribe", b"n*s:*", 1]
        assert r.publish(news0, "p-only") == 1
    p.punsubscribe("news:*")
    assert p.get_message(timeout=2)["type"] == "pmessage"
    assert p.get_message(timeout=2)["type"] == "punsubscribe"
    assert wait_for(lambda: r.execute_command("PUBSUB", "NUMPAT") == 0)
    assert r.publish(news0, "late") == 0
    p.close()


def test_ssubscribe_spublish(ringkv, r):
    s0 = keys_on_shard(0, 1, "sch")[0]
    s1 = keys_on_shard(1, 1, "sch")[0]
    with ringkv.raw() as sub, ringkv.raw() as plain:
        sub.send("SSUBSCRIBE", s0, s1)
        assert read_n(sub, 2) == [[b"ssubscribe", s0.encode(), 1], [b"ssubscribe", s1.encode(), 2]]
        plain.send("SUBSCRIBE", s0)
        plain.send("PSUBSCRIBE", "*")
        read_n(plain, 2)
        # Shard channels and channels are separate namespaces.
        assert r.execute_command("SPUBLISH", s0, "a") == 1
        assert r.execute_command("SPUBLISH", s1, "b") == 1
        assert r.publish(s0, "c") == 2
        assert read_n(sub, 2) == [[b"smessage", s0.encode(), b"a"], [b"smessage", s1.encode(), b"b"]]
        assert sorted(read_n(plain, 2)) == sorted([[b"message", s0.encode(), b"c"],
                                                  [b"pmessage", b"*", s0.encode(), b"c"]])
        assert sorted(r.execute_command("PUBSUB", "SHARDCHANNELS")) == sorted([s0.encode(), s1.encode()])
        assert r.execute_command("PUBSUB", "SHARDCHANNELS", "*:0*") == \
            [c.encode() for c in (s0, s1) if c.split(":")[1].startswith("0")]
        assert r.execute_command("PUBSUB", "SHARDNUMSUB", s0, s1, "none") == \
            [s0.encode(), 1, s1.encode(), 1, b"none", 0]
        assert r.execute_command("PUBSUB", "NUMSUB", s0) == [s0.encode(), 1]
        assert sub.call("SUNSUBSCRIBE", s0) == [b"sunsubscribe", s0.encode(), 1]
        assert r.execute_command("SPUBLISH", s0, "gone") == 0
        assert r.execute_command("SPUBLISH", s1, "still") == 1
        assert sub.read() == [b"smessage", s1.encode(), b"still"]


def test_pubsub_channels_numsub_numpat(ringkv, r):
    chans = keys_on_shard(0, 2, "pc") + keys_on_shard(1, 2, "pc")
    assert r.execute_command("PUBSUB", "CHANNELS") == []
    assert r.execute_command("PUBSUB", "NUMSUB") == []
    assert r.execute_command("PUBSUB", "NUMPAT") == 0
    conns = [ringkv.raw() for _ in range(3)]
    try:
        conns[0].send("SUBSCRIBE", *chans)
        read_n(conns[0], 4)
        conns[1].send("SUBSCRIBE", chans[0], chans[3])
        read_n(conns[1], 2)
        conns[2].send("PSUBSCRIBE", "pc:*", "x*", "pc:*")
        read_n(conns[2], 3)
        conns[1].call("PSUBSCRIBE", "x*")
        assert sorted(r.execute_command("PUBSUB", "CHANNELS")) == sorted(c.encode() for c in chans)
        assert sorted(r.execute_command("PUBSUB", "CHANNELS", "*")) == sorted(c.encode() for c in chans)
        assert r.execute_command("PUBSUB", "CHANNELS", chans[2]) == [chans[2].encode()]
        assert r.execute_command("PUBSUB", "CHANNELS", "nomatch*") == []
        assert r.execute_command("PUBSUB", "NUMSUB", chans[0], chans[1], "zzz", chans[0]) == \
            [chans[0].encode(), 2, chans[1].encode(), 1, b"zzz", 0, chans[0].encode(), 2]
        # Unique patterns.
        assert r.execute_command("PUBSUB", "NUMPAT") == 2
        assert r.execute_command("PUBSUB", "SHARDCHANNELS") == []
        assert r.execute_command("PUBSUB", "SHARDNUMSUB") == []
        assert r.publish(chans[0], "m") == 2 + 1  # two channel subscribers, one pattern
    finally:
        for c in conns:
            c.close()
    assert wait_for(lambda: r.execute_command("PUBSUB", "CHANNELS") == [])
    assert wait_for(lambda: r.execute_command("PUBSUB", "NUMPAT") == 0)


def test_resp3_push_shapes(ringkv, r):
    ch = keys_on_shard(1, 1, "r3")[0]
    with ringkv.raw() as c:
        c.call("HELLO", "3")
        c.send("SUBSCRIBE", ch)
        assert c.read_line() == b">3"
        assert read_n(c, 3) == [b"subscribe", ch.encode(), 1]
        c.send("PSUBSCRIBE", "r3*")
        assert c.read_line() == b">3"
        assert read_n(c, 3) == [b"psubscribe", b"r3*", 2]
        # RESP3 clients are not restricted while subscribed.
        assert c.call("PING") == "PONG"
        assert c.call("GET", "nokey") is None
        assert r.publish(ch, "hello") == 2
        got = []
        for _ in range(2):
            line = c.read_line()
            got.append((line, read_n(c, int(line[1:]))))
        assert sorted(got) == sorted([(b">3", [b"message", ch.encode(), b"hello"]),
                                      (b">4", [b"pmessage", b"r3*", ch.encode(), b"hello"])])
        assert c.call("SSUBSCRIBE", ch) == [b"ssubscribe", ch.encode(), 1]
        assert r.execute_command("SPUBLISH", ch, "s") == 1
        assert c.read_line() == b">3"
        assert read_n(c, 3) == [b"smessage", ch.encode(), b"s"]
        c.send("UNSUBSCRIBE", "nothere")
        assert c.read_line() == b">3"
        assert read_n(c, 3) == [b"unsubscribe", b"nothere", 2]
        c.send("SUNSUBSCRIBE")
        assert c.read_line() == b">3"
        assert read_n(c, 3) == [b"sunsubscribe", ch.encode(), 0]
        c.send("UNSUBSCRIBE")
        assert c.read_line() == b">3"
        assert read_n(c, 3) == [b"unsubscribe", ch.encode(), 1]
        c.send("PUNSUBSCRIBE")
        assert c.read_line() == b">3"
        assert read_n(c, 3) == [b"punsubscribe", b"r3*", 0]
        c.send("UNSUBSCRIBE")
        assert c.read_line() == b">3"
        assert c.read_line() == b"$11"
        assert c.read_line() == b"unsubscribe"
        assert c.read_line() == b"_"
        assert c.read() == 0


def test_unsubscribe_stops_delivery(ringkv, r):
    ch = keys_on_shard(0, 1, "stop")[0]
    with ringkv.raw() as sub:
        sub.call("SUBSCRIBE", ch)
        assert r.publish(ch, "one") == 1
        assert sub.read() == [b"message", ch.encode(), b"one"]
        assert sub.call("UNSUBSCRIBE", ch) == [b"unsubscribe", ch.encode(), 0]
        assert r.publish(ch, "two") == 0
        assert sub.call("PING") == "PONG"   # nothing else queued before it


def test_disconnected_subscriber_stops_counting(ringkv, r):
    chans = keys_on_shard(0, 1, "dc") + keys_on_shard(1, 1, "dc")
    stay = ringkv.raw()
    leave = [ringkv.raw() for _ in range(6)]
    try:
        stay.send("SUBSCRIBE", *chans)
        read_n(stay, 2)
        for c in leave:
            c.send("SUBSCRIBE", *chans)
            c.send("PSUBSCRIBE", "dc:*")
            read_n(c, 3)
        assert r.publish(chans[0], "x") == 1 + 6 + 6
        for c in leave:
            c.close()
        for ch in chans:
            assert wait_for(lambda: r.publish(ch, "y") == 1)
        assert r.execute_command("PUBSUB", "NUMSUB", *chans) == [chans[0].encode(), 1, chans[1].encode(), 1]
        assert wait_for(lambda: r.execute_command("PUBSUB", "NUMPAT") == 0)
        # The remaining subscriber got everything, in order per channel.
        got = [m[2] for m in read_n(stay, 1)]
        assert got == [b"x"]
    finally:
        stay.close()


def test_subscriber_killed_by_client_kill(ringkv, r):
    ch = keys_on_shard(1, 1, "kill")[0]
    with ringkv.raw() as sub:
        cid = sub.call("CLIENT", "ID")
        sub.call("SUBSCRIBE", ch)
        assert r.execute_command("CLIENT", "KILL", "ID", cid) == 1
        assert wait_for(lambda: r.publish(ch, "x") == 0)


def test_client_list_shows_pubsub_flag(ringkv, r):
    with ringkv.raw() as sub:
        cid = sub.call("CLIENT", "ID")
        sub.call("SUBSCRIBE", "flagged")
        entry = [e for e in r.client_list() if int(e["id"]) == cid][0]
        assert "P" in entry["flags"]
        sub.call("UNSUBSCRIBE")
        entry = [e for e in r.client_list() if int(e["id"]) == cid][0]
        assert "P" not in entry["flags"]


def test_reset_drops_subscriptions(ringkv, r):
    ch = keys_on_shard(0, 1, "rst")[0]
    with ringkv.raw() as c:
        c.call("SUBSCRIBE", ch)
        c.call("PSUBSCRIBE", "rst*")
        c.call("SSUBSCRIBE", ch)
        assert c.call("RESET") == "RESET"
        assert c.call("GET", "nokey") is None
        assert r.publish(ch, "x") == 0
        assert r.execute_command("SPUBLISH", ch, "x") == 0
        assert r.execute_command("PUBSUB", "NUMPAT") == 0


def test_pubsub_output_buffer_limit_disconnects_slow_subscriber(start_server):
    server = start_server(client_output_buffer_limit=["pubsub", "64kb", "32kb", "60"])
    r = server.client()
    ch = keys_on_shard(1, 1, "slow")[0]
    # A subscriber that never reads, with a small receive window so the
    # server's output buffer has to grow.
    slow = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect((server.host, server.port))
    slow.sendall(RespConn.encode("CLIENT", "ID") + RespConn.encode("SUBSCRIBE", ch))
    slow.settimeout(5)
    data = b""
    while data.count(b"\r\n") < 5:
        data += slow.recv(4096)
    slow_id = int(data.split(b"\r\n")[0][1:])
    with server.raw() as fast:
        fast.call("SUBSCRIBE", ch)
        payload = "x" * 8000   # each message well under the 64kb hard limit
        receivers = None
        for _ in range(2000):
            receivers = r.publish(ch, payload)
            fast.read()
            if receivers == 1:
                break
        assert receivers == 1   # only the reading subscriber is left
    assert wait_for(lambda: slow_id not in {int(e["id"]) for e in r.client_list()})
    assert "overcoming of output buffer limits" in server.log_text()
    slow.close()
    r.close()
