"""`csst-zoo demo` served on a free local port in a subprocess, for demo_screenshot.py (and the
browser test that drives it) and demo_load.py."""
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import NamedTuple


class DemoServer(NamedTuple):
    url: str
    pid: int  # the server's process, for its memory


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve(model: str, *options: str, timeout: float = 180):
    """``csst-zoo demo MODEL OPTIONS`` on a free local port in a subprocess; yields its
    :class:`DemoServer` once it answers. Its output goes to a file: the timelines' progress bars
    would fill a pipe nobody reads and stop it."""
    port = free_port()
    log = tempfile.TemporaryFile()
    env = dict(os.environ, GRADIO_ANALYTICS_ENABLED='False')
    server = subprocess.Popen([sys.executable, '-m', 'csst_zoo', 'demo', model, '--port', str(port), *options],
                              stdout=log, stderr=subprocess.STDOUT, env=env)
    url = f'http://127.0.0.1:{port}/'
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(url, timeout=5).close()
                break
            except OSError:
                log.seek(0)
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f'csst-zoo demo did not come up at {url}:\n{log.read().decode()[-3000:]}')
                time.sleep(0.5)
        yield DemoServer(url, server.pid)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
