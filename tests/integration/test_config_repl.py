"""The replication directives: from a config file and the command line,
CONFIG GET (names, aliases, value formats), CONFIG SET of the mutable ones,
Redis's errors for bad values and for replicaof, CONFIG REWRITE round trip.
Where Debian's redis-server 7.0 is installed, every answer is compared with
its answer to the same command."""

import subprocess

import pytest
import redis

from conftest import RealRedis, free_port, server_bin

# The replication logic is backend-independent past the loop's socket
# hand-over, which test_repl_master.py and the loop's unit tests cover on epoll.
pytestmark = pytest.mark.once

FATAL = "*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***"

# name -> Redis 7.0's default as CONFIG GET shows it
DEFAULTS = {
    "replicaof": "",
    "slaveof": "",
    "masterauth": "",
    "masteruser": "",
    "repl-backlog-size": "1048576",
    "repl-backlog-ttl": "3600",
    "repl-diskless-sync": "yes",
    "repl-diskless-sync-delay": "5",
    "repl-diskless-sync-max-replicas": "0",
    "repl-diskless-load": "disabled",
    "repl-ping-replica-period": "10",
    "repl-ping-slave-period": "10",
    "repl-timeout": "60",
    "repl-disable-tcp-nodelay": "no",
    "min-replicas-to-write": "0",
    "min-slaves-to-write": "0",
    "min-replicas-max-lag": "10",
    "min-slaves-max-lag": "10",
    "replica-read-only": "yes",
    "slave-read-only": "yes",
    "replica-serve-stale-data": "yes",
    "slave-serve-stale-data": "yes",
    "replica-priority": "100",
    "slave-priority": "100",
    "replica-announce-ip": "",
    "slave-announce-ip": "",
    "replica-announce-port": "0",
    "slave-announce-port": "0",
    "replica-announced": "yes",
    "replica-lazy-flush": "no",
    "slave-lazy-flush": "no",
}

# CONFIG SET name value -> what CONFIG GET name shows afterwards
SETS = [
    ("masterauth", "s3cret", "s3cret"),
    ("masteruser", "alice", "alice"),
    ("repl-backlog-size", "2mb", "2097152"),
    ("repl-backlog-size", "100", "16384"),  # raised to Redis's minimum
    ("repl-backlog-ttl", "0", "0"),
    ("repl-diskless-sync", "no", "no"),
    ("repl-diskless-sync-delay", "0", "0"),
    ("repl-diskless-sync-max-replicas", "2", "2"),
    ("repl-diskless-load", "swapdb", "swapdb"),
    ("repl-diskless-load", "ON-EMPTY-DB", "on-empty-db"),
    ("repl-ping-replica-period", "3", "3"),
    ("repl-ping-slave-period", "4", "4"),
    ("repl-timeout", "30", "30"),
    ("repl-disable-tcp-nodelay", "yes", "yes"),
    ("min-replicas-to-write", "2", "2"),
    ("min-slaves-max-lag", "7", "7"),
    ("replica-read-only", "no", "no"),
    ("slave-serve-stale-data", "no", "no"),
    ("replica-priority", "0", "0"),
    ("replica-announce-ip", "10.1.2.3", "10.1.2.3"),
    ("slave-announce-port", "6390", "6390"),
    ("replica-announced", "no", "no"),
    ("slave-lazy-flush", "yes", "yes"),
    ("masterauth", "", ""),
    ("replica-announce-ip", "", ""),
]

BAD = [
    ("repl-backlog-size", "0", "argument must be between 1 and 9223372036854775807 inclusive"),
    ("repl-backlog-size", "abc", "argument must be a memory value"),
    ("repl-backlog-size", "-1", "argument must be a memory value"),
    ("repl-backlog-ttl", "-1", "argument must be between 0 and 9223372036854775807 inclusive"),
    ("repl-backlog-ttl", "x", "argument couldn't be parsed into an integer"),
    ("repl-timeout", "0", "argument must be between 1 and 2147483647 inclusive"),
    ("repl-ping-replica-period", "0", "argument must be between 1 and 2147483647 inclusive"),
    ("repl-diskless-load", "foo",
     "argument(s) must be one of the following: disabled, on-empty-db, swapdb"),
    ("repl-diskless-sync", "maybe", "argument must be 'yes' or 'no'"),
    ("replica-announce-port", "70000", "argument must be between 0 and 65535 inclusive"),
    ("min-replicas-to-write", "-1", "argument must be between 0 and 2147483647 inclusive"),
    ("min-slaves-max-lag", "-1", "argument must be between 0 and 2147483647 inclusive"),
    ("replica-priority", "-1", "argument must be between 0 and 2147483647 inclusive"),
    ("repl-diskless-sync-delay", "-1", "argument must be between 0 and 2147483647 inclusive"),
    ("repl-diskless-sync-max-replicas", "-1", "argument must be between 0 and 2147483647 inclusive"),
    ("replicaof", "127.0.0.1 6379", "can't set immutable config"),
    ("slaveof", "no one", "can't set immutable config"),
]


@pytest.fixture
def real_redis(tmp_path):
    """Debian's redis-server 7.0, or None when it is not installed."""
    try:
        server = RealRedis(tmp_path / "redis")
    except pytest.skip.Exception:
        yield None
        return
    yield server
    server.stop()


def get1(r, name):
    got = r.config_get(name)
    assert list(got) == [name], got
    return got[name]


def set_error(r, name, value):
    with pytest.raises(redis.ResponseError) as e:
        r.config_set(name, value)
    return str(e.value)


def test_defaults_and_aliases(start_server, real_redis):
    r = start_server().client(decode_responses=True)
    for name, want in DEFAULTS.items():
        assert get1(r, name) == want, name
    # A glob lists the aliases too, as Redis 7.0 does.
    slave = r.config_get("*slave*")
    assert slave["slave-read-only"] == "yes" and slave["slaveof"] == ""
    assert "replica-read-only" not in slave
    assert set(r.config_get("min-*")) == {"min-replicas-to-write", "min-slaves-to-write",
                                          "min-replicas-max-lag", "min-slaves-max-lag"}
    if real_redis:
        rr = real_redis.client(decode_responses=True)
        for name in DEFAULTS:
            assert rr.config_get(name) == r.config_get(name), name
        assert rr.config_get("min-*") == r.config_get("min-*")


def test_from_file_and_command_line(start_server):
    master_port = free_port()  # nothing listens there: the replica keeps retrying
    conf = ("slaveof 10.0.0.1 6000\n"
            "masterauth \"pass word\"\n"
            "masteruser bob\n"
            "repl-backlog-size 4mb\n"
            "repl-backlog-ttl 120\n"
            "repl-diskless-sync no\n"
            "repl-diskless-load on-empty-db\n"
            "repl-ping-slave-period 2\n"
            "min-slaves-to-write 1\n"
            "slave-read-only no\n"
            "slave-announce-ip 192.168.1.9\n")
    server = start_server("--replicaof", "127.0.0.1", str(master_port),  # the command line wins
                          "--repl-timeout", "9", "--replica-priority", "7",
                          "--repl-backlog-size", "100",  # the file's value is kept as given
                          config_file=conf)
    r = server.client(decode_responses=True)
    want = {
        "replicaof": "127.0.0.1 %d" % master_port,
        "slaveof": "127.0.0.1 %d" % master_port,
        "masterauth": "pass word",
        "masteruser": "bob",
        "repl-backlog-size": "100",
        "repl-backlog-ttl": "120",
        "repl-diskless-sync": "no",
        "repl-diskless-load": "on-empty-db",
        "repl-ping-replica-period": "2",
        "min-replicas-to-write": "1",
        "replica-read-only": "no",
        "replica-announce-ip": "192.168.1.9",
        "repl-timeout": "9",
        "replica-priority": "7",
    }
    for name, value in want.items():
        assert get1(r, name) == value, name


def test_config_set_mutable_ones(start_server, real_redis):
    r = start_server().client(decode_responses=True)
    rr = real_redis.client(decode_responses=True) if real_redis else None
    for name, value, shown in SETS:
        assert r.config_set(name, value) is True, name
        assert get1(r, name) == shown, (name, value)
        if rr:
            rr.config_set(name, value)
            assert rr.config_get(name) == r.config_get(name), (name, value)
    # Several at once, through aliases.
    assert r.execute_command("CONFIG", "SET", "slave-priority", "5", "repl-timeout", "11") == "OK"
    assert get1(r, "replica-priority") == "5" and get1(r, "repl-timeout") == "11"


def test_bad_values_refused_with_redis_errors(start_server, real_redis):
    r = start_server().client(decode_responses=True)
    rr = real_redis.client(decode_responses=True) if real_redis else None
    before = {name: get1(r, name) for name in DEFAULTS}
    for name, value, why in BAD:
        msg = set_error(r, name, value)
        assert msg == "CONFIG SET failed (possibly related to argument '%s') - %s" % (name, why), msg
        if rr:
            assert set_error(rr, name, value) == msg, (name, value)
    assert {name: get1(r, name) for name in DEFAULTS} == before  # nothing changed
    # One bad pair fails the whole CONFIG SET.
    with pytest.raises(redis.ResponseError):
        r.execute_command("CONFIG", "SET", "repl-timeout", "5", "repl-diskless-load", "x")
    assert get1(r, "repl-timeout") == "60"


def run_binary(*args, cwd):
    binary = server_bin()
    try:
        res = subprocess.run([str(binary)] + [str(a) for a in args], cwd=str(cwd),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail("server started despite a bad configuration", pytrace=False)
    return res.returncode, res.stdout.decode(errors="replace") + res.stderr.decode(errors="replace")


@pytest.mark.parametrize("args,line,why", [
    (["--replicaof", "127.0.0.1", "abc"], "replicaof \"127.0.0.1\" \"abc\"", "Invalid master port"),
    (["--replicaof", "127.0.0.1"], "replicaof \"127.0.0.1\"", "wrong number of arguments"),
    (["--repl-backlog-size", "0"], "repl-backlog-size \"0\"",
     "argument must be between 1 and 9223372036854775807 inclusive"),
    (["--repl-diskless-load", "x"], "repl-diskless-load \"x\"",
     "argument(s) must be one of the following: disabled, on-empty-db, swapdb"),
])
def test_bad_start_up_values(tmp_path, args, line, why):
    conf = tmp_path / "ok.conf"
    conf.write_text("port 0\n")
    rc, out = run_binary(conf, *args, cwd=tmp_path)
    assert rc != 0
    assert FATAL in out
    assert "at line 3\n>>> '%s'\n%s" % (line, why) in out, out


def test_rewrite_round_trip(start_server, tmp_path):
    master_port = free_port()
    path = tmp_path / "repl.conf"
    path.write_text("# replication\nslaveof 127.0.0.1 %d\nslave-read-only yes\nrepl-timeout 60\n"
                    % master_port)
    server = start_server(config_file=str(path))
    r = server.client(decode_responses=True)
    changes = {
        "masterauth": "a \"quoted\" pass",
        "repl-backlog-size": "64mb",
        "repl-diskless-load": "swapdb",
        "min-slaves-to-write": "2",
        "replica-read-only": "no",
        "repl-timeout": "61",
        "replica-announce-port": "7000",
    }
    for name, value in changes.items():
        assert r.config_set(name, value) is True
    assert r.config_rewrite() in (True, "OK")
    text = path.read_text()
    lines = text.splitlines()
    # In place: replicaof for the old slaveof line, replica-read-only for slave-read-only.
    assert lines[:4] == ["# replication", "replicaof 127.0.0.1 %d" % master_port,
                         "replica-read-only no", "repl-timeout 61"], text
    assert 'masterauth "a \\"quoted\\" pass"' in lines, text
    assert "repl-backlog-size 64mb" in lines, text
    assert "repl-diskless-load swapdb" in lines, text
    assert "min-replicas-to-write 2" in lines, text
    assert "replica-announce-port 7000" in lines, text
    assert "slave" not in text, text
    assert "repl-ping-replica-period" not in text, text  # defaults are not written
    shown = {name: get1(r, name) for name in DEFAULTS}

    server.stop()
    server.start()
    r = server.client(decode_responses=True)
    assert {name: get1(r, name) for name in DEFAULTS} == shown
    assert get1(r, "repl-backlog-size") == str(64 << 20)
    assert r.config_rewrite() in (True, "OK")
    assert path.read_text() == text  # stable
