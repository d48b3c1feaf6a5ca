"""Servers in child processes (the embedded CSMS for `fleet demo`, tests and benchmarks): start
one, learn its URL from its first line, stop it however the block ends."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator, Mapping

from fleet.errors import FleetError


@contextlib.contextmanager
def server_process(command: list[str], env: Mapping[str, str] | None = None) -> Iterator[str]:
    """Run ``command``, a server that prints "... listening on <url>" as its first line; yield
    the URL; terminate the server on exit (kill it if it does not go within 10 s)."""
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if "listening on " not in line:
            raise FleetError(f"{' '.join(command[:4])} exited before it was ready: {line!r}")
        yield line.split("listening on ", 1)[1].split()[0]
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


def embedded_csms(
    *args: str, env: Mapping[str, str] | None = None
) -> contextlib.AbstractContextManager[str]:
    """`fleet csms --port 0 ARGS` in a child process; yields its ws:// URL."""
    return server_process([sys.executable, "-m", "fleet", "csms", "--port", "0", *args], env)
