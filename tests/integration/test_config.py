"""Configuration: start-up errors in Redis's format, CONFIG GET/SET/REWRITE."""

import subprocess

import pytest

from conftest import server_bin

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
