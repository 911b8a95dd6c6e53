"""Clients cannot hold the server's connections for ever: a stalled body is refused, an idle connection
is closed, a request head sent a byte at a time is cut off (the deadlines are settings, small here)."""

from __future__ import annotations

import socket
import time
from urllib.parse import urlsplit

import pytest

from lookoutvision_emulator import EmulatorProcess


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory):
    env = {"LOOKOUTVISION_EMULATOR_BODY_TIMEOUT": "0.5", "LOOKOUTVISION_EMULATOR_KEEP_ALIVE_TIMEOUT": "1",
           "LOOKOUTVISION_EMULATOR_HEADER_TIMEOUT": "1.5"}  # fmt: skip
    with EmulatorProcess(tmp_path_factory.mktemp("strict"), env=env) as emulator:
        yield urlsplit(emulator.url)


def connect(url) -> socket.socket:
    return socket.create_connection((url.hostname, url.port), timeout=10)


def read_answer(connection: socket.socket) -> bytes:
    """One whole answer: its head, then as many body bytes as its Content-Length says (the body may come
    in a later packet than the head)."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = connection.recv(65536)
        if not chunk:
            return answer
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                   if line.lower().startswith(b"content-length:")), 0)  # fmt: skip
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


@pytest.mark.parametrize(
    "path", ["/2020-11-20/projects", "/_emulator/delays", "/_emulator/projects/p/models"]
)
def test_a_stalled_body_is_refused(strict_server, path):
    with connect(strict_server) as connection:
        connection.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            "Content-Length: 100\r\n\r\n".encode()
            + b'{"Proj'  # then nothing more
        )
        started = time.monotonic()
        answer = read_answer(connection)
        waited = time.monotonic() - started
    head = answer.split(b"\r\n\r\n")[0].lower()
    assert head.startswith(b"http/1.1 408"), answer
    assert b"x-amzn-errortype: requesttimeoutexception" in head
    assert waited < 5  # the 0.5 s deadline, not the default 60 s


def test_an_idle_connection_is_closed(strict_server):
    with connect(strict_server) as connection:
        connection.sendall(b"GET /_emulator/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_answer(connection).startswith(b"HTTP/1.1 200")
        connection.settimeout(5)
        started = time.monotonic()
        assert connection.recv(1024) == b""  # closed by the server after its keep-alive timeout
        assert time.monotonic() - started < 4


@pytest.mark.parametrize("after_a_request", [False, True])
def test_a_slowly_sent_request_head_is_cut_off(strict_server, after_a_request):
    """A "slowloris": a header line every 0.3 s, which keeps the connection busy but never finishes the
    head. The server hangs up once the head has taken the header deadline (1.5 s here), also on a
    connection that already served a request."""
    with connect(strict_server) as connection:
        if after_a_request:
            connection.sendall(b"GET /_emulator/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert read_answer(connection).startswith(b"HTTP/1.1 200")
        connection.sendall(b"GET /_emulator/health HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        started = time.monotonic()
        closed = False
        for index in range(40):  # 12 s of trickling at most
            try:
                connection.sendall(b"X-Slow-%d: a\r\n" % index)
            except OSError:  # reset by the server: cut off
                closed = True
                break
            connection.settimeout(0.3)
            try:
                if connection.recv(1024) == b"":
                    closed = True
                    break
            except ConnectionResetError:  # closed, and a header line sent after it answered by a reset
                closed = True
                break
            except TimeoutError:
                pass
        assert closed
        assert time.monotonic() - started < 5  # well before the 12 s the client would have gone on for
