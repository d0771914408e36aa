"""RESP protocol handling: inline commands, RESP3 (HELLO 3), protocol errors
with Redis 7's exact messages (and the connection closed after them), input
and output limits, QUIT and RESET.

redis-py 4.3 speaks RESP2 only, so most tests use conftest.RespConn."""

import socket
import time

import pytest

from conftest import RespConn

HELLO_FIELDS = {"server", "version", "proto", "id", "mode", "role", "modules"}


def expect_protocol_error(conn, payload, message):
    """Send payload; the reply must be exactly -ERR Protocol error: <message>
    and the server must close the connection."""
    conn.send_raw(payload)
    line = conn.read_line()
    assert line == b"-ERR Protocol error: " + message.encode()
    assert conn.is_closed(), "connection left open after a protocol error"


# --- inline commands ---------------------------------------------------------

@pytest.mark.smoke
def test_inline_commands(ringkv, r):
    with ringkv.raw() as c:
        c.send_raw(b"PING\r\n")
        assert c.read() == "PONG"
        c.send_raw(b"SET foo bar\r\n")
        assert c.read() == "OK"
        c.send_raw(b"GET foo\r\n")
        assert c.read() == b"bar"
        c.send_raw(b"ping hello\r\n")
        assert c.read() == b"hello"


@pytest.mark.smoke
def test_inline_quoting_and_bare_newline(ringkv, r):
    with ringkv.raw() as c:
        c.send_raw(b'SET k "hello world\\x41\\n"\r\n')
        assert c.read() == "OK"
        c.send_raw(b"SET k2 'it\\'s'\n")       # bare LF ends an inline command too
        assert c.read() == "OK"
        c.send_raw(b"\r\n\r\nGET k\r\n")       # empty lines are ignored
        assert c.read() == b"hello worldA\n"
    assert r.get("k2") == b"it's"


@pytest.mark.smoke
def test_inline_and_multibulk_mixed_in_one_write(ringkv, r):
    with ringkv.raw() as c:
        c.send_raw(b"SET a 1\r\n*2\r\n$4\r\nINCR\r\n$1\r\na\r\nINCR a\r\n*2\r\n$3\r\nGET\r\n$1\r\na\r\n")
        assert [c.read() for _ in range(4)] == ["OK", 2, 3, b"3"]


@pytest.mark.smoke
def test_command_split_byte_by_byte(ringkv, r):
    payload = RespConn.encode("SET", "split", "x" * 100) + RespConn.encode("GET", "split")
    with ringkv.raw() as c:
        for i in range(len(payload)):
            c.send_raw(payload[i:i + 1])
        assert c.read() == "OK"
        assert c.read() == b"x" * 100


@pytest.mark.smoke
def test_empty_and_negative_multibulk_are_ignored(ringkv, r):
    with ringkv.raw() as c:
        c.send_raw(b"*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n")
        assert c.read() == "PONG"


@pytest.mark.smoke
def test_unknown_command_and_arity_errors(ringkv, r):
    with ringkv.raw() as c:
        c.send("NOSUCHCMD", "a", "b")
        assert c.read_line() == b"-ERR unknown command 'NOSUCHCMD', with args beginning with: 'a' 'b' "
        c.send("GET")
        assert c.read_line() == b"-ERR wrong number of arguments for 'get' command"
        c.send("PING")                         # errors do not close the connection
        assert c.read() == "PONG"


def test_binary_safe_bulk(ringkv, r):
    value = bytes(range(256)) * 4 + b"\r\n\x00"
    with ringkv.raw() as c:
        assert c.call("SET", b"bin\x00key", value) == "OK"
        assert c.call("GET", b"bin\x00key") == value


# --- RESP3 ---------------------------------------------------------------------

@pytest.mark.smoke
def test_hello3_map_and_resp3_types(ringkv, r):
    with ringkv.raw() as c:
        c.send_raw(b"*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n")
        assert c.buf == b""
        # The reply itself must be a RESP3 map.
        first = c.sock.recv(1, socket.MSG_PEEK)
        assert first == b"%"
        hello = c.read()
        assert set(hello) == HELLO_FIELDS
        assert hello["proto"] == 3
        assert isinstance(hello["id"], int) and hello["id"] > 0
        assert hello["mode"] == b"standalone"
        assert hello["role"] == b"master"
        assert hello["modules"] == []
        assert hello["version"] and hello["server"]

        c.send("GET", "nosuchkey")
        assert c.read_line() == b"_"               # RESP3 null
        c.send("CONFIG", "GET", "port")            # a map reply in RESP3
        assert c.sock.recv(1, socket.MSG_PEEK) == b"%"
        assert c.read() == {"port": str(ringkv.port).encode()}
        c.send("HELLO")                            # no argument: same map, same proto
        assert c.read()["proto"] == 3


def test_hello2_is_flat_array(ringkv, r):
    with ringkv.raw() as c:
        c.send("HELLO", "2")
        reply = c.read()
        assert isinstance(reply, list) and len(reply) == 14
        fields = dict(zip(reply[0::2], reply[1::2]))
        assert set(f.decode() for f in fields) == HELLO_FIELDS
        assert fields[b"proto"] == 2
        c.send("GET", "nosuchkey")
        assert c.read_line() == b"$-1"


def test_hello_bad_protocol_version(ringkv, r):
    with ringkv.raw() as c:
        c.send("HELLO", "4")
        assert c.read_line() == b"-NOPROTO unsupported protocol version"
        c.send("HELLO", "x")
        assert c.read_line() == b"-ERR Protocol version is not an integer or out of range"
        c.send("PING")
        assert c.read() == "PONG"


# --- protocol errors -------------------------------------------------------------

@pytest.mark.smoke
def test_invalid_multibulk_length(ringkv):
    with ringkv.raw() as c:
        expect_protocol_error(c, b"*abc\r\n", "invalid multibulk length")


@pytest.mark.smoke
def test_invalid_bulk_length(ringkv):
    with ringkv.raw() as c:
        expect_protocol_error(c, b"*1\r\n$abc\r\n", "invalid bulk length")
    with ringkv.raw() as c:
        expect_protocol_error(c, b"*1\r\n$-1\r\n", "invalid bulk length")


@pytest.mark.smoke
def test_expected_dollar(ringkv):
    with ringkv.raw() as c:
        expect_protocol_error(c, b"*1\r\n+PING\r\n", "expected '$', got '+'")
    with ringkv.raw() as c:
        expect_protocol_error(c, b"*2\r\n$3\r\nGET\r\nfoo\r\n", "expected '$', got 'f'")


@pytest.mark.smoke
def test_unbalanced_quotes(ringkv):
    with ringkv.raw() as c:
        expect_protocol_error(c, b'SET k "unterminated\r\n', "unbalanced quotes in request")


def test_replies_before_protocol_error_are_delivered(ringkv):
    with ringkv.raw() as c:
        c.send_raw(b"*1\r\n$4\r\nPING\r\nPING\r\n*x\r\n*1\r\n$4\r\nPING\r\n")
        assert c.read() == "PONG"
        assert c.read() == "PONG"
        assert c.read_line() == b"-ERR Protocol error: invalid multibulk length"
        assert c.is_closed()


def test_too_big_inline_request(ringkv):
    with ringkv.raw() as c:
        expect_protocol_error(c, b"A" * (64 * 1024 + 100), "too big inline request")


def test_bulk_over_proto_max_bulk_len_refused_early(start_server):
    server = start_server(proto_max_bulk_len="1mb")
    with server.raw() as c:
        # Only the header is sent: the refusal must not wait for the 2 MB body.
        expect_protocol_error(c, b"*1\r\n$2000000\r\n", "invalid bulk length")
    with server.raw() as c:                 # a bulk under the limit is fine
        assert c.call("SET", "k", b"v" * 1000000) == "OK"


def test_query_buffer_limit_closes_connection(start_server):
    server = start_server(client_query_buffer_limit="1mb")
    with server.raw() as c:
        # A 4 MB argument whose body arrives slowly piles up past 1 MB.
        c.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$4000000\r\n")
        chunk = b"x" * 65536
        closed = False
        try:
            for _ in range(40):                    # 2.5 MB, well past the limit
                c.send_raw(chunk)
        except (BrokenPipeError, ConnectionResetError):
            closed = True
        assert closed or c.is_closed(timeout=3.0)
    with server.raw() as c:                 # the server itself is fine
        assert c.call("PING") == "PONG"
        assert c.call("EXISTS", "k") == 0
    deadline = time.monotonic() + 2.0
    while "query buffer" not in server.log_text().lower() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert "query buffer" in server.log_text().lower()


def test_output_buffer_limit_disconnects_slow_reader(start_server):
    server = start_server(client_output_buffer_limit="normal 1mb 512kb 10")
    value = b"v" * (1024 * 1024)
    with server.client() as admin:
        admin.set("big", value)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.settimeout(10)
    sock.connect((server.host, server.port))
    requests = 40
    try:
        # Ask for 40 MB and do not read: the reply cannot leave the server.
        sock.sendall(RespConn.encode("GET", "big") * requests)
        time.sleep(0.3)
        received = 0
        while True:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            received += len(chunk)
    except ConnectionResetError:
        received = 0
    finally:
        sock.close()
    assert received < requests * len(value), "slow reader was never disconnected"
    with server.client() as admin:           # others are unaffected
        assert admin.strlen("big") == len(value)


# --- QUIT and RESET --------------------------------------------------------------

@pytest.mark.smoke
def test_quit_replies_ok_then_closes(ringkv):
    with ringkv.raw() as c:
        c.send_raw(RespConn.encode("QUIT") + RespConn.encode("PING"))
        assert c.read() == "OK"
        assert c.is_closed()
        assert c.buf == b"", "a command after QUIT was executed"


@pytest.mark.smoke
def test_reset_restores_connection_state(ringkv, r):
    r.execute_command("SELECT", 0)
    r.set("in0", "x")
    with ringkv.raw() as c:
        assert c.call("HELLO", "3")["proto"] == 3
        assert c.call("SELECT", "1") == "OK"
        assert c.call("CLIENT", "SETNAME", "before") == "OK"
        c.send("RESET")
        assert c.read_line() == b"+RESET"
        c.send("GET", "nosuch")                   # back to RESP2
        assert c.read_line() == b"$-1"
        assert c.call("GET", "in0") == b"x"       # back on db 0
        assert c.call("CLIENT", "GETNAME") is None
