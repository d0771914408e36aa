"""Configuration: start-up errors in Redis's format, CONFIG GET/SET/REWRITE."""

import shutil
import subprocess
import time

import pytest
import redis

from conftest import free_port, server_bin

FATAL = "*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***"


def run_binary(*args, cwd):
    """Runs the server expecting it to refuse to start; returns (rc, output)."""
    binary = server_bin()
    if not binary.exists():
        pytest.fail("server binary %s does not exist" % binary, pytrace=False)
    try:
        res = subprocess.run([str(binary)] + [str(a) for a in args], cwd=str(cwd),
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail("server started despite a bad configuration", pytrace=False)
    return res.returncode, res.stdout.decode(errors="replace") + res.stderr.decode(errors="replace")


def test_bad_value_in_file_names_line_and_directive(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("# a comment\nport 99999\n")
    rc, out = run_binary(conf, cwd=tmp_path)
    assert rc != 0
    assert FATAL in out
    assert f"Reading the configuration file {conf.resolve()}, at line 2\n>>> 'port 99999'\n" \
           "argument must be between 0 and 65535 inclusive" in out


def test_unknown_directive_in_file(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("port 0\n\nnot-a-directive yes\n")
    rc, out = run_binary(conf, cwd=tmp_path)
    assert rc != 0
    assert "at line 3\n>>> 'not-a-directive yes'\nBad directive or wrong number of arguments" in out


def test_bad_argument_reports_synthesized_line(tmp_path):
    conf = tmp_path / "ok.conf"
    conf.write_text("port 0\n")
    # as Redis: file lines, one newline, then the arguments as lines
    rc, out = run_binary(conf, "--hz", "abc", cwd=tmp_path)
    assert rc != 0
    assert "at line 3\n>>> 'hz \"abc\"'\nargument couldn't be parsed into an integer" in out


def test_unbalanced_quotes(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text('requirepass "abc\n')
    rc, out = run_binary(conf, cwd=tmp_path)
    assert rc != 0
    assert "at line 1\n>>> 'requirepass \"abc'\nUnbalanced quotes in configuration line" in out


def test_missing_dir_refused(tmp_path):
    rc, out = run_binary("--port", "0", "--dir", tmp_path / "nope", cwd=tmp_path)
    assert rc != 0
    assert FATAL in out
    assert "No such file or directory" in out


CONF = """# ringkv test configuration
# keep this comment
hz 20

maxclients 500
slowlog-max-len 64
"""


@pytest.fixture
def conf_server(start_server, tmp_path):
    path = tmp_path / "ringkv.conf"
    path.write_text(CONF)
    server = start_server(config_file=str(path))
    return server, path


def test_config_get_values_from_file_and_args(conf_server):
    server, _ = conf_server
    r = server.client(decode_responses=True)
    assert r.config_get("hz") == {"hz": "20"}
    assert r.config_get("maxclients") == {"maxclients": "500"}
    assert r.config_get("bind") == {"bind": "127.0.0.1"}
    assert r.config_get("port") == {"port": str(server.port)}
    assert r.config_get("slowlog-*") == {"slowlog-max-len": "64", "slowlog-log-slower-than": "10000"}
    assert r.config_get("PROTO-MAX-BULK-LEN") == {"proto-max-bulk-len": "536870912"}
    assert r.config_get("client-output-buffer-limit") == {
        "client-output-buffer-limit":
            "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"}
    assert r.config_get("no-such-thing") == {}


def test_config_set_round_trip_and_errors(conf_server):
    server, _ = conf_server
    with server.raw() as c:
        assert c.call("CONFIG", "SET", "hz", "1000") == "OK"
        assert c.call("CONFIG", "GET", "hz") == [b"hz", b"500"]  # clamped as Redis
        assert c.call("CONFIG", "SET", "maxclients", "123") == "OK"
        assert c.call("CONFIG", "GET", "maxclients") == [b"maxclients", b"123"]
        assert c.call("CONFIG", "SET", "proto-max-bulk-len", "2mb") == "OK"
        assert c.call("CONFIG", "GET", "proto-max-bulk-len") == [b"proto-max-bulk-len", b"2097152"]
        assert c.call("CONFIG", "SET", "client-output-buffer-limit", "normal 1mb 2mb 3") == "OK"
        assert c.call("CONFIG", "GET", "client-output-buffer-limit")[1] == \
            b"normal 1048576 2097152 3 slave 268435456 67108864 60 pubsub 33554432 8388608 60"

        c.send("CONFIG", "SET", "hz", "abc")
        assert str(c.read()) == ("ERR CONFIG SET failed (possibly related to argument 'hz') - "
                                 "argument couldn't be parsed into an integer")
        c.send("CONFIG", "SET", "foo", "1")
        assert str(c.read()) == "ERR Unknown option or number of arguments for CONFIG SET - 'foo'"
        c.send("CONFIG", "SET", "port", "1234")
        assert str(c.read()) == ("ERR CONFIG SET failed (possibly related to argument 'port') - "
                                 "can't set immutable config")
        c.send("CONFIG", "SET", "daemonize", "yes")
        assert str(c.read()) == ("ERR CONFIG SET failed (possibly related to argument 'daemonize') - "
                                 "can't set immutable config")
        c.send("CONFIG", "SET", "protected-mode", "maybe")
        assert str(c.read()) == ("ERR CONFIG SET failed (possibly related to argument 'protected-mode') - "
                                 "argument must be 'yes' or 'no'")
        c.send("CONFIG", "SET", "maxclients", "0")
        assert str(c.read()) == ("ERR CONFIG SET failed (possibly related to argument 'maxclients') - "
                                 "argument must be between 1 and 4294967295 inclusive")
        # a failed SET changes nothing
        assert c.call("CONFIG", "GET", "maxclients") == [b"maxclients", b"123"]


def test_config_rewrite_keeps_comments_and_survives_restart(conf_server):
    server, path = conf_server
    with server.raw() as c:
        assert c.call("CONFIG", "SET", "hz", "33") == "OK"
        assert c.call("CONFIG", "SET", "timeout", "7") == "OK"
        assert c.call("CONFIG", "SET", "slowlog-max-len", "128") == "OK"  # back to default
        assert c.call("CONFIG", "REWRITE") == "OK"
    text = path.read_text()
    lines = text.splitlines()
    assert lines[0] == "# ringkv test configuration"
    assert lines[1] == "# keep this comment"
    assert lines[2] == "hz 33"                 # replaced in place
    assert "maxclients 500" in lines
    assert "slowlog-max-len 128" in lines      # in the file: kept, with its default value
    assert "# Generated by CONFIG REWRITE" in lines
    generated = lines[lines.index("# Generated by CONFIG REWRITE") + 1:]
    assert "timeout 7" in generated
    assert not any(l.startswith("databases") for l in lines)  # defaults are not added

    server.restart()
    r = server.client(decode_responses=True)
    assert r.config_get("hz") == {"hz": "33"}
    assert r.config_get("timeout") == {"timeout": "7"}
    assert r.config_get("maxclients") == {"maxclients": "500"}


def test_config_rewrite_without_file(r):
    with pytest.raises(Exception) as e:
        r.config_rewrite()
    assert "The server is running without a config file" in str(e.value)


# ---- RDB directives: save, dbfilename, rdbcompression, rdbchecksum,
# stop-writes-on-bgsave-error ----

def test_rdb_directive_defaults(start_server):
    r = start_server().client(decode_responses=True)
    assert r.config_get("save") == {"save": "3600 1 300 100 60 10000"}
    assert r.config_get("dbfilename") == {"dbfilename": "dump.rdb"}
    assert r.config_get("rdb*") == {"rdbcompression": "yes", "rdbchecksum": "yes"}
    assert r.config_get("stop-writes-on-bgsave-error") == {"stop-writes-on-bgsave-error": "yes"}


def test_save_lines_from_file_then_command_line(start_server):
    # Redis 7: the first save line replaces the defaults, later lines (and
    # --save arguments, which come after the file) append.
    conf = "save 900 1\nsave 300 10\ndbfilename snap.rdb\nrdbcompression no\nrdbchecksum no\n" \
           "stop-writes-on-bgsave-error no\n"
    r = start_server("--save", "60", "5", config_file=conf).client(decode_responses=True)
    assert r.config_get("save") == {"save": "900 1 300 10 60 5"}
    assert r.config_get("dbfilename") == {"dbfilename": "snap.rdb"}
    assert r.config_get("rdb*") == {"rdbcompression": "no", "rdbchecksum": "no"}
    assert r.config_get("stop-writes-on-bgsave-error") == {"stop-writes-on-bgsave-error": "no"}


def test_save_empty_clears_everything_before_it(start_server):
    r = start_server("--save", "", config_file="save 900 1\n").client(decode_responses=True)
    assert r.config_get("save") == {"save": ""}
    r2 = start_server("--save", "10 0 20 1").client(decode_responses=True)  # one argument, split
    assert r2.config_get("save") == {"save": "10 0 20 1"}


@pytest.mark.parametrize("args,line,reason", [
    (["--save", "5"], "save \"5\"", "Invalid save parameters"),
    (["--save", "0", "1"], "save \"0\" \"1\"", "Invalid save parameters"),
    (["--save", "10", "-1"], "save \"10\" \"-1\"", "Invalid save parameters"),
    (["--dbfilename", "a/b.rdb"], "dbfilename \"a/b.rdb\"", "dbfilename can't be a path, just a filename"),
    (["--rdbcompression", "maybe"], "rdbcompression \"maybe\"", "argument must be 'yes' or 'no'"),
])
def test_bad_rdb_directive_refused_at_start(tmp_path, args, line, reason):
    rc, out = run_binary("--port", "0", *args, cwd=tmp_path)
    assert rc != 0
    assert FATAL in out
    # as Redis: no file, so an empty line 1, then "port 0" and ours on line 3
    assert "Reading the configuration file (command line), at line 3\n>>> '%s'\n%s" % (line, reason) in out


def test_bad_save_line_in_file_names_it(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("port 0\nsave 900 1\nsave 300\n")
    rc, out = run_binary(conf, cwd=tmp_path)
    assert rc != 0
    assert f"Reading the configuration file {conf.resolve()}, at line 3\n>>> 'save 300'\n" \
           "Invalid save parameters" in out


def test_rdb_directives_config_set(start_server):
    server = start_server()
    with server.raw() as c:
        assert c.call("CONFIG", "SET", "save", "900 1 300 10") == "OK"
        assert c.call("CONFIG", "GET", "save") == [b"save", b"900 1 300 10"]
        assert c.call("CONFIG", "SET", "save", "10 0") == "OK"  # replaces, never appends
        assert c.call("CONFIG", "GET", "save") == [b"save", b"10 0"]
        for bad in ("10", "0 1", "10 -1", "x 1", "10  1", "10 1 "):
            c.send("CONFIG", "SET", "save", bad)
            assert str(c.read()) == ("ERR CONFIG SET failed (possibly related to argument 'save') - "
                                     "Invalid save parameters"), bad
        assert c.call("CONFIG", "GET", "save") == [b"save", b"10 0"]  # unchanged
        assert c.call("CONFIG", "SET", "save", "") == "OK"
        assert c.call("CONFIG", "GET", "save") == [b"save", b""]

        c.send("CONFIG", "SET", "dbfilename", "other.rdb")
        assert str(c.read()) == ("ERR CONFIG SET failed (possibly related to argument 'dbfilename') - "
                                 "can't set protected config")
        c.send("CONFIG", "SET", "rdbchecksum", "no")
        assert str(c.read()) == ("ERR CONFIG SET failed (possibly related to argument 'rdbchecksum') - "
                                 "can't set immutable config")
        assert c.call("CONFIG", "SET", "rdbcompression", "no") == "OK"
        assert c.call("CONFIG", "SET", "stop-writes-on-bgsave-error", "no") == "OK"
        assert c.call("CONFIG", "GET", "rdbcompression") == [b"rdbcompression", b"no"]
        assert c.call("CONFIG", "GET", "stop-writes-on-bgsave-error") == [b"stop-writes-on-bgsave-error", b"no"]
        # several at once, as Redis 7: all or nothing
        c.send("CONFIG", "SET", "rdbcompression", "yes", "save", "7")
        assert "Invalid save parameters" in str(c.read())
        assert c.call("CONFIG", "GET", "rdbcompression") == [b"rdbcompression", b"no"]


def test_save_config_rewrite_and_restart(start_server):
    server = start_server(config_file="# persistence\nsave 900 1\nsave 300 10\nsave 60 100\n")
    path = server.config_file
    with server.raw() as c:
        assert c.call("CONFIG", "SET", "save", "10 1 20 2") == "OK"
        assert c.call("CONFIG", "SET", "rdbcompression", "no") == "OK"
        assert c.call("CONFIG", "REWRITE") == "OK"
    lines = path.read_text().splitlines()
    # as Redis 7.0: one line per save point, in place of the old ones
    assert lines[:3] == ["# persistence", "save 10 1", "save 20 2"]
    assert sum(1 for l in lines if l.startswith("save")) == 2
    assert "rdbcompression no" in lines
    assert not any(l.startswith(("dbfilename", "rdbchecksum", "stop-writes")) for l in lines)
    server.restart()
    r = server.client(decode_responses=True)
    assert r.config_get("save") == {"save": "10 1 20 2"}
    assert r.config_get("rdbcompression") == {"rdbcompression": "no"}

    # No save points: written as save "" so the defaults do not come back.
    assert r.config_set("save", "") is True
    assert r.execute_command("CONFIG", "REWRITE") == "OK"
    lines = path.read_text().splitlines()
    assert lines[1] == 'save ""'
    assert sum(1 for l in lines if l.startswith("save")) == 1
    server.restart()
    assert server.client(decode_responses=True).config_get("save") == {"save": ""}


def test_default_save_points_are_rewritten(start_server):
    server = start_server(config_file="# nothing about save\n")
    assert server.client().execute_command("CONFIG", "REWRITE") == b"OK"
    lines = server.config_file.read_text().splitlines()
    assert [l for l in lines if l.startswith("save")] == ["save 3600 1", "save 300 100", "save 60 10000"]


def _reply(client, *args):
    try:
        return client.execute_command(*args)
    except redis.ResponseError as e:
        return "error: %s" % e


def test_rdb_directives_match_redis_server(start_server, tmp_path):
    """The same CONFIG SET/GET sequence against Debian's redis-server 7.0
    and ringkv gives the same replies."""
    exe = shutil.which("redis-server")
    if not exe:
        pytest.skip("redis-server not installed")
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path),
                             "--save", "900 1", "--save", "300 10"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        real = redis.Redis(host="127.0.0.1", port=port, socket_timeout=10, decode_responses=True)
        deadline = time.monotonic() + 10
        while True:
            try:
                real.ping()
                break
            except redis.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        ours = start_server("--save", "900 1", "--save", "300 10").client(decode_responses=True)
        script = [
            ("CONFIG", "GET", "save"),
            ("CONFIG", "SET", "save", "10 1 20 2 30 3"),
            ("CONFIG", "GET", "save"),
            ("CONFIG", "SET", "save", "+5 0"),
            ("CONFIG", "GET", "save"),
            ("CONFIG", "SET", "save", "5"),
            ("CONFIG", "SET", "save", "0 5"),
            ("CONFIG", "SET", "save", "5 -5"),
            ("CONFIG", "SET", "save", "5 5x"),
            ("CONFIG", "SET", "save", " 5 5"),
            ("CONFIG", "GET", "save"),
            ("CONFIG", "SET", "save", ""),
            ("CONFIG", "GET", "save"),
            ("CONFIG", "GET", "dbfilename"),
            ("CONFIG", "SET", "dbfilename", "x.rdb"),
            ("CONFIG", "SET", "rdbchecksum", "no"),
            ("CONFIG", "SET", "rdbcompression", "no"),
            ("CONFIG", "SET", "rdbcompression", "perhaps"),
            ("CONFIG", "GET", "rdbcompression"),
            ("CONFIG", "SET", "stop-writes-on-bgsave-error", "no"),
            ("CONFIG", "GET", "stop-writes-on-bgsave-error"),
            ("CONFIG", "GET", "rdbchecksum"),
        ]
        for cmd in script:
            assert _reply(ours, *cmd) == _reply(real, *cmd), cmd
    finally:
        proc.terminate()
        proc.wait(timeout=10)
