"""redis-cli (Debian's redis-tools, Redis 7.0) against ringkv: the everyday
commands, --scan, RESP3 with -3, INFO, and --pipe mass insertion."""

import shutil

import pytest

from conftest import RespConn, cli_bin

pytestmark = pytest.mark.skipif(shutil.which(cli_bin()) is None, reason="redis-cli not installed")


@pytest.mark.smoke
def test_cli_ping(ringkv, r):
    assert ringkv.cli("PING") == "PONG\n"


@pytest.mark.smoke
def test_cli_set_get(ringkv, r):
    assert ringkv.cli("SET", "greeting", "hello world") == "OK\n"
    assert ringkv.cli("GET", "greeting") == "hello world\n"
    assert ringkv.cli("GET", "missing") == "\n"           # nil prints nothing when not a tty
    assert ringkv.cli("INCR", "n") == "1\n"
    assert r.get("greeting") == b"hello world"


def test_cli_error_output(ringkv, r):
    r.set("s", "x")
    out = ringkv.cli("INCR", "s")
    assert out.strip() == "ERR value is not an integer or out of range"


def test_cli_stdin_last_arg(ringkv, r):
    assert ringkv.cli("-x", "SET", "fromstdin", input=b"line1\nline2\n") == "OK\n"
    assert r.get("fromstdin") == b"line1\nline2\n"


def test_cli_select_db(ringkv, r):
    assert ringkv.cli("-n", "3", "SET", "indb3", "v") == "OK\n"
    assert r.get("indb3") is None
    assert ringkv.cli("-n", "3", "GET", "indb3") == "v\n"
    ringkv.cli("-n", "3", "FLUSHDB")


def test_cli_scan_all_keys(ringkv, r):
    expected = set()
    pipe = r.pipeline(transaction=False)
    for i in range(300):
        key = "user:%d" % i if i % 2 else "item:%d" % i
        pipe.set(key, i)
        expected.add(key)
    pipe.execute()
    out = ringkv.cli("--scan")
    keys = out.split()
    assert len(keys) == len(set(keys)) == 300          # no duplicates across shards
    assert set(keys) == expected
    users = ringkv.cli("--scan", "--pattern", "user:*").split()
    assert set(users) == {k for k in expected if k.startswith("user:")}


def test_cli_resp3_hello(ringkv, r):
    # not a tty: redis-cli prints a map as "key value" lines
    lines = ringkv.cli("-3", "HELLO", "3").splitlines()
    assert "proto 3" in lines
    assert "mode standalone" in lines
    assert "role master" in lines
    assert any(line.startswith("id ") and line[3:].isdigit() for line in lines)
    assert ringkv.cli("-3", "CONFIG", "GET", "port").splitlines() == ["port %d" % ringkv.port]
    assert ringkv.cli("-3", "GET", "missing") == "\n"


def test_cli_info_server(ringkv, r):
    out = ringkv.cli("INFO", "server")
    assert out.startswith("# Server")
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    assert "redis_version" in fields
    assert fields["tcp_port"].strip() == str(ringkv.port)
    assert "process_id" in fields and fields["process_id"].strip().isdigit()
    assert "# Keyspace" not in out


def test_cli_pipe_mass_insert(ringkv, r):
    n = 20000
    payload = b"".join(RespConn.encode("SET", "mass:%d" % i, "value-%d" % i) for i in range(n))
    payload += b"".join(RespConn.encode("INCR", "masscounter") for _ in range(100))
    out = ringkv.cli("--pipe", input=payload, timeout=60)
    assert "errors: 0, replies: %d" % (n + 100) in out, out
    assert r.dbsize() == n + 1
    assert r.get("mass:12345") == b"value-12345"
    assert r.get("masscounter") == b"100"


def test_cli_pipe_counts_errors(ringkv, r):
    payload = (RespConn.encode("SET", "a", "x") + RespConn.encode("INCR", "a")
               + RespConn.encode("NOSUCH"))
    out = ringkv.cli("--pipe", input=payload, timeout=30)
    assert "errors: 2, replies: 3" in out, out
