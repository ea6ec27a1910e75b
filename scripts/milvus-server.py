"""Runs a Milvus 2.3 standalone server (PyPI `milvus`, installed by scripts/setup.sh) for the
tests and the browser test: gRPC on 127.0.0.1:PORT, everything it writes under DATA.

    python scripts/milvus-server.py --data DIR --port PORT [--auth]

Prints `ready PORT` once Milvus answers its health check, then runs until its standard input
closes (the test that started it ended, or let go of it) or it gets SIGTERM, and stops Milvus.
With --auth, user authentication is on (the default user root, password Milvus).
"""

import argparse
import signal
import socket
import sys

from milvus import MilvusServer, MilvusServerConfig


def try_bind_port(self, port):
    """The package's port probe, with SO_REUSEADDR as Milvus' own listeners have: without it a
    restart on the same port fails while the last run's connections are in TIME_WAIT."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(("127.0.0.1", port))
        sock.listen()
        return sock
    except OSError:
        sock.close()
        return None


MilvusServerConfig.try_bind_port = try_bind_port


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--auth", action="store_true")
    a = ap.parse_args()
    server = MilvusServer()
    server.set_base_dir(a.data)
    server.config.update(proxy_port=a.port)
    if a.auth:
        server.config.set("authorization_enabled", True)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        server.start()
        print(f"ready {a.port}", flush=True)
        sys.stdin.read()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
