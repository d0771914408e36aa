"""Start-up and shutdown behaviour of the real binary."""

import subprocess
import time

import pytest
import redis

from conftest import free_port, server_bin


def test_port_in_use_refuses_to_start(ringkv):
    # SO_REUSEPORT must not let a second server join the first one's port.
    proc = subprocess.run([str(server_bin()), "--port", str(ringkv.port), "--bind", "127.0.0.1",
                           "--dir", str(ringkv.dir)], capture_output=True, text=True, timeout=10)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "Address already in use" in out
    assert f"Failed listening on port {ringkv.port} (tcp), aborting." in out
    assert ringkv.client().ping()


def test_shutdown_stops_the_process(start_server):
    srv = start_server()
    srv.expect_exit = True
    c = srv.client()
    try:
        c.execute_command("SHUTDOWN", "NOSAVE")
    except Exception:
        pass  # the connection closes without a reply, as with Redis
    assert srv.proc.wait(timeout=10) == 0
    assert "ready to exit" in srv.log_text()


def test_sigterm_logs_and_exits_cleanly(start_server):
    srv = start_server()
    srv.expect_exit = True
    srv.proc.terminate()
    assert srv.proc.wait(timeout=10) == 0
    log = srv.log_text()
    assert "Received SIGTERM scheduling shutdown" in log


def _no_uring_tool():
    tool = server_bin().parent / "rk-no-uring"
    if not tool.exists():
        pytest.fail(f"{tool} missing: build the rk-no-uring target", pytrace=False)
    return tool


def _run_blocked(tmp_path, *args, timeout=10):
    """Starts the server with io_uring_setup refused by seccomp."""
    port = free_port()
    proc = subprocess.Popen([str(_no_uring_tool()), str(server_bin()), "--port", str(port),
                             "--bind", "127.0.0.1", "--dir", str(tmp_path), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    return proc, port


def test_auto_backend_falls_back_to_epoll_under_seccomp(tmp_path):
    proc, port = _run_blocked(tmp_path, "--shards", "2")
    try:
        deadline = time.monotonic() + 10
        c = redis.Redis(port=port, socket_timeout=5)
        while True:
            try:
                assert c.ping()
                break
            except redis.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
        assert c.info("server")["multiplexing_api"] == "epoll"
        c.mset({"a": 1, "b": 2, "c": 3})
        assert c.mget("a", "b", "c") == [b"1", b"2", b"3"]
        # The RDB sink falls back to plain syscalls too.
        assert c.save()
        check = subprocess.run(["redis-check-rdb", str(tmp_path / "dump.rdb")], capture_output=True, text=True)
        assert "RDB looks OK" in check.stdout and "3 keys read" in check.stdout, check.stdout
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "running on epoll" in out
    assert "io_uring unavailable" in out and "Operation not permitted" in out


def test_forced_io_uring_refuses_to_start_when_blocked(tmp_path):
    proc, _ = _run_blocked(tmp_path, "--io-backend", "io_uring")
    out, _ = proc.communicate(timeout=10)
    assert proc.returncode != 0
    assert "Operation not permitted" in out
