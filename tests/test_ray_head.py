"""Joining a Ray cluster (issue 25, cases 1-2): an address where a web server or a
silent listener sits fails in seconds with one line; a machine holding Ray's token
switches token mode on before ray is imported (Ray reads it once, at import)."""
import http.server
import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from engine.config import ConfigError
from engine.jobs import ray_head
from engine.jobs.ray_head import resolve_address

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_web_server_is_not_a_ray_head():
    server = http.server.HTTPServer(("127.0.0.1", _free_port()), http.server.SimpleHTTPRequestHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        start = time.monotonic()
        with pytest.raises(ConfigError, match="not a Ray head"):
            resolve_address(f"127.0.0.1:{server.server_address[1]}")
        assert time.monotonic() - start < 2 * ray_head.CONNECT_TIMEOUT_S
    finally:
        server.shutdown()


def test_a_silent_listener_is_no_answer_within_the_bound():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        start = time.monotonic()
        with pytest.raises(ConfigError, match="no answer from it within"):
            resolve_address(f"127.0.0.1:{s.getsockname()[1]}")
        assert time.monotonic() - start < 3 * ray_head.CONNECT_TIMEOUT_S


def test_nothing_there_is_said_in_one_line():
    with pytest.raises(ConfigError, match="no Ray head answers there"):
        resolve_address(f"127.0.0.1:{_free_port()}")


@pytest.mark.parametrize("setup, expected", [
    ({"token_file": True}, "token"),                      # `ray start --head` left ~/.ray/auth_token
    ({"RAY_AUTH_TOKEN": "abc"}, "token"),
    ({"token_file": True, "RAY_AUTH_MODE": "disabled"}, "disabled"),  # the user's own choice stands
    ({}, "unset"),                                        # no token: nothing changes
])
def test_token_mode_is_switched_on_before_ray_is_imported(tmp_path, setup, expected):
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    env["HOME"] = str(tmp_path)
    if setup.pop("token_file", False):
        (tmp_path / ".ray").mkdir()
        (tmp_path / ".ray" / "auth_token").write_text("x" * 64)
    env.update(setup)
    code = ("import os, sys; from engine.jobs.ray_head import ray_module; ray_module(); "
            "print(os.environ.get('RAY_AUTH_MODE', 'unset'), 'ray' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == [expected, "True"], out.stderr
