"""Key expiry against a 2-shard server: EXPIRE/PEXPIRE/EXPIREAT/PEXPIREAT
with NX XX GT LT, TTL/PTTL/EXPIRETIME/PEXPIRETIME, PERSIST, lazy and active
expiry. Sleeps total well under 1.5 s."""

import time


from conftest import keys_on_shard
from conftest import err


def cmd(r, *args):
    return r.execute_command(*args)


def test_ttl_of_missing_and_persistent_keys(r):
    assert r.ttl("missing") == -2
    assert r.pttl("missing") == -2
    assert cmd(r, "EXPIRETIME", "missing") == -2
    assert cmd(r, "PEXPIRETIME", "missing") == -2
    r.set("k", "v")
    assert r.ttl("k") == -1
    assert r.pttl("k") == -1
    assert cmd(r, "EXPIRETIME", "k") == -1
    assert cmd(r, "PEXPIRETIME", "k") == -1


def test_expire_and_ttl(r):
    r.set("k", "v")
    assert cmd(r, "EXPIRE", "k", 100) == 1
    assert 99 <= r.ttl("k") <= 100
    assert 99000 <= r.pttl("k") <= 100000
    assert cmd(r, "PEXPIRE", "k", 5500) == 1
    # TTL rounds to the nearest second.
    assert r.ttl("k") in (5, 6)
    assert cmd(r, "EXPIRE", "missing", 100) == 0
    assert cmd(r, "PEXPIRE", "missing", 100) == 0


def test_expireat_and_expiretime(r):
    r.set("k", "v")
    at = int(time.time()) + 1000
    assert cmd(r, "EXPIREAT", "k", at) == 1
    assert cmd(r, "EXPIRETIME", "k") == at
    assert cmd(r, "PEXPIRETIME", "k") == at * 1000
    assert cmd(r, "PEXPIREAT", "k", at * 1000 + 1234) == 1
    assert cmd(r, "PEXPIRETIME", "k") == at * 1000 + 1234
    assert cmd(r, "EXPIRETIME", "k") == at + 1  # rounded


def test_time_in_the_past_deletes(r):
    a, b = keys_on_shard(0, 1, "p")[0], keys_on_shard(1, 1, "p")[0]
    for k in (a, b):
        r.set(k, "v")
    assert cmd(r, "EXPIRE", a, -5) == 1
    assert cmd(r, "PEXPIREAT", b, 1) == 1
    assert r.exists(a, b) == 0
    r.set(a, "v")
    assert cmd(r, "EXPIRE", a, 0) == 1
    assert r.exists(a) == 0


def test_key_disappears_after_pexpire(r):
    a, b = keys_on_shard(0, 1, "e")[0], keys_on_shard(1, 1, "e")[0]
    for k in (a, b):
        r.set(k, "v")
        assert cmd(r, "PEXPIRE", k, 100) == 1
    assert r.exists(a, b) == 2
    time.sleep(0.3)
    assert r.get(a) is None
    assert r.exists(a, b) == 0
    assert r.ttl(b) == -2
    assert r.keys("*") == []


def test_active_expiry_removes_keys_without_access(r):
    keys = keys_on_shard(0, 50, "ae") + keys_on_shard(1, 50, "ae")
    pipe = r.pipeline(transaction=False)
    for k in keys:
        pipe.set(k, "v")
        pipe.pexpire(k, 50)
    pipe.execute()
    r.set("persistent", "v")
    # DBSIZE counts keys not yet expired away, so only active expiry lowers it.
    deadline = time.time() + 1.0
    while r.dbsize() > 1 and time.time() < deadline:
        time.sleep(0.05)
    assert r.dbsize() == 1
    assert r.get("persistent") == b"v"


def test_expire_options_nx_xx(r):
    r.set("k", "v")
    assert cmd(r, "EXPIRE", "k", 100, "XX") == 0
    assert r.ttl("k") == -1
    assert cmd(r, "EXPIRE", "k", 100, "NX") == 1
    assert cmd(r, "EXPIRE", "k", 200, "NX") == 0
    assert 99 <= r.ttl("k") <= 100
    assert cmd(r, "EXPIRE", "k", 200, "xx") == 1
    assert 199 <= r.ttl("k") <= 200


def test_expire_options_gt_lt(r):
    r.set("k", "v")
    # No TTL counts as infinite: GT fails, LT succeeds.
    assert cmd(r, "EXPIRE", "k", 100, "GT") == 0
    assert r.ttl("k") == -1
    assert cmd(r, "EXPIRE", "k", 100, "LT") == 1
    assert cmd(r, "EXPIRE", "k", 200, "LT") == 0
    assert cmd(r, "EXPIRE", "k", 50, "LT") == 1
    assert cmd(r, "EXPIRE", "k", 40, "GT") == 0
    assert cmd(r, "EXPIRE", "k", 300, "GT") == 1
    assert 299 <= r.ttl("k") <= 300
    assert cmd(r, "EXPIRE", "k", 400, "XX", "GT") == 1
    assert cmd(r, "PEXPIRE", "k", 1000, "XX", "LT") == 1
    assert r.pttl("k") <= 1000


def test_expire_option_errors(r):
    r.set("k", "v")
    msg = "NX and XX, GT or LT options at the same time are not compatible"
    assert err(r, "EXPIRE", "k", 10, "NX", "XX") == msg
    assert err(r, "EXPIRE", "k", 10, "NX", "GT") == msg
    assert err(r, "PEXPIRE", "k", 10, "LT", "NX") == msg
    assert err(r, "EXPIRE", "k", 10, "GT", "LT") == \
        "GT and LT options at the same time are not compatible"
    assert err(r, "EXPIRE", "k", 10, "FOO") == "Unsupported option FOO"
    assert err(r, "EXPIRE", "k", "x") == "value is not an integer or out of range"
    assert err(r, "EXPIRE", "k", "1.5") == "value is not an integer or out of range"
    assert r.ttl("k") == -1


def test_invalid_expire_time(r):
    r.set("k", "v")
    assert err(r, "EXPIRE", "k", 9223372036854775807) == \
        "invalid expire time in 'expire' command"
    assert err(r, "PEXPIRE", "k", 9223372036854775807) == \
        "invalid expire time in 'pexpire' command"
    assert err(r, "EXPIREAT", "k", 9223372036854775807) == \
        "invalid expire time in 'expireat' command"
    # The largest absolute time is accepted.
    assert cmd(r, "PEXPIREAT", "k", 9223372036854775807) == 1
    assert r.ttl("k") > 0
    assert r.exists("k") == 1


def test_persist(r):
    r.set("k", "v")
    assert r.persist("k") == 0
    assert r.persist("missing") == 0
    r.expire("k", 100)
    assert r.persist("k") == 1
    assert r.ttl("k") == -1
    assert r.persist("k") == 0


def test_set_clears_ttl(r):
    r.set("k", "v")
    r.expire("k", 100)
    r.set("k", "w")
    assert r.ttl("k") == -1


def test_expired_keys_hidden_from_scan_keys_and_dbsize_eventually(r):
    keys = keys_on_shard(0, 5, "h") + keys_on_shard(1, 5, "h")
    for k in keys:
        r.set(k, "v")
        r.pexpire(k, 30)
    r.set("stay", "v")
    time.sleep(0.1)
    assert r.keys("*") == [b"stay"]
    seen, cursor = [], 0
    while True:
        cursor, page = r.scan(cursor)
        seen += page
        if cursor == 0:
            break
    assert seen == [b"stay"]
    assert r.randomkey() == b"stay"


def test_expire_across_dbs_is_independent(r, ringkv):
    r1 = ringkv.client(db=1)
    r.set("k", "v0")
    r1.set("k", "v1")
    r.expire("k", 100)
    assert r1.ttl("k") == -1
    assert cmd(r, "MOVE", "k", 2) == 1
    r2 = ringkv.client(db=2)
    assert 0 < r2.ttl("k") <= 100
