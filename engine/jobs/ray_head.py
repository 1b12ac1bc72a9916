"""Joining a Ray cluster someone else started, so that a stock head just works and a
wrong address fails in seconds with one line instead of hanging:

- the address answers at all (a TCP connection within CONNECT_TIMEOUT_S), and speaks
  gRPC as Ray's GCS does (it answers HTTP/2's preface with a SETTINGS frame; a web
  server on the port answers with HTML, a silent listener not at all: Ray's own
  client would wait on either for minutes);
- a head started by `ray start --head` (Ray >= 2.60) asks for its token: when the
  machine has one (RAY_AUTH_TOKEN, RAY_AUTH_TOKEN_PATH or ~/.ray/auth_token, where
  Ray keeps it) and RAY_AUTH_MODE is not set, token mode is switched on, as a user
  would by hand; a refusal still left is said with its fix."""
from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from engine.config import ConfigError

CONNECT_TIMEOUT_S = 3.0  # an unreachable --ray-address fails after this, not after Ray's minute of retries
HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"  # + empty SETTINGS
SETTINGS = 0x04


def resolve_address(address: str | None) -> str | None:
    """host:port of the cluster to join, checked to be a Ray head within CONNECT_TIMEOUT_S;
    None: start a local Ray. "auto": $RAY_ADDRESS, else the cluster `ray start` left on
    this machine."""
    if address is None:
        return None
    if address == "auto":
        found = os.environ.get("RAY_ADDRESS")
        if not found:
            try:
                found = Path("/tmp/ray/ray_current_cluster").read_text().strip()
            except OSError:
                found = None
        if not found:
            raise ConfigError("ray_address", "auto", "no running Ray cluster found on this machine (no $RAY_ADDRESS, "
                                                     "no `ray start`): start one with `ray start --head`, or leave "
                                                     "--ray-address out to start a local Ray per job")
        address = found
    host, _, port = address.rpartition(":")
    try:
        answer = _preface_answer(host, int(port))
    except (OSError, ValueError) as e:
        raise ConfigError("ray_address", address, f"no Ray head answers there within {CONNECT_TIMEOUT_S:.0f} s "
                                                   f"({e.__class__.__name__}): start it with `ray start --head` on "
                                                   f"that machine, or check the address it printed") from None
    if answer is None:
        raise ConfigError("ray_address", address, f"no answer from it within {CONNECT_TIMEOUT_S:.0f} s: something "
                                                   "listens there but is not a Ray head; check the port `ray start "
                                                   "--head` printed (6379 by default)")
    if len(answer) < 4 or answer[3] != SETTINGS:
        raise ConfigError("ray_address", address, f"not a Ray head: what listens there answered {answer[:20]!r}; "
                                                   "check the port `ray start --head` printed (6379 by default)")
    return address


def _preface_answer(host: str, port: int) -> bytes | None:
    """The first bytes the server sends back to HTTP/2's preface (None: nothing in time)."""
    with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S) as s:
        s.settimeout(CONNECT_TIMEOUT_S)
        s.sendall(HTTP2_PREFACE)
        try:
            return s.recv(9)
        except socket.timeout:
            return None


def token_known() -> bool:
    """Whether this machine holds a Ray token where Ray looks for one."""
    if os.environ.get("RAY_AUTH_TOKEN"):
        return True
    path = os.environ.get("RAY_AUTH_TOKEN_PATH")
    return Path(path).is_file() if path else (Path.home() / ".ray" / "auth_token").is_file()


def ray_module():
    """`import ray`, token mode switched on first when this machine holds a token and
    RAY_AUTH_MODE is unset: Ray reads the mode once, when it is imported, so every import
    of ray in the engine goes through here."""
    if "ray" not in sys.modules and "RAY_AUTH_MODE" not in os.environ and token_known():
        os.environ["RAY_AUTH_MODE"] = "token"  # what `ray start --head` asks of its clients; workers inherit it
    import ray
    return ray


def join(address: str, **kwargs) -> None:
    """ray.init(address=...) on a checked address (token auth as ray_module sets it); a
    refusal becomes one line with its fix (ConfigError)."""
    ray = ray_module()
    try:
        ray.init(address=address, **kwargs)
    except ConnectionError as e:
        raise ConfigError("ray_address", address, f"the Ray head there refused this driver ({e}): if it asks for a "
                                                   "token, set RAY_AUTH_MODE=token and RAY_AUTH_TOKEN_PATH to its file "
                                                   "(`ray start --head` writes ~/.ray/auth_token on the head)") from None
