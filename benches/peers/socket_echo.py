"""Echo peer for the byte-stream baselines: length-prefixed frames over a Unix stream socket or
TCP on 127.0.0.1, each sent straight back.

    python socket_echo.py unix PATH     # prints "READY PATH" once listening
    python socket_echo.py tcp           # prints "READY PORT" once listening

A frame is a 4-byte little-endian length followed by that many bytes. The peer serves one
connection and exits when the client closes it (or on SIGTERM, or when its parent dies).
"""

import ctypes
import os
import signal
import socket
import sys


def _die_with_parent() -> None:
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _read_exact(conn: socket.socket, view: memoryview) -> bool:
    got, want = 0, len(view)
    while got < want:
        n = conn.recv_into(view[got:])
        if n == 0:
            return False
        got += n
    return True


def main() -> int:
    _die_with_parent()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    kind = sys.argv[1]
    if kind == "unix":
        path = sys.argv[2]
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(path)
        address = path
    elif kind == "tcp":
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", 0))
        address = str(server.getsockname()[1])
    else:
        print(f"unknown socket kind {kind!r}", file=sys.stderr)
        return 2
    server.listen(1)
    print(f"READY {address}", flush=True)
    try:
        conn, _ = server.accept()
        if kind == "tcp":
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = bytearray(4 + (1 << 20))
        view = memoryview(buf)
        while True:
            if not _read_exact(conn, view[:4]):
                break
            n = int.from_bytes(view[:4], "little")
            if 4 + n > len(buf):
                buf = bytearray(4 + n)
                old, view = view, memoryview(buf)
                view[:4] = old[:4]
            if not _read_exact(conn, view[4 : 4 + n]):
                break
            conn.sendall(view[: 4 + n])
        conn.close()
    finally:
        server.close()
        if kind == "unix":
            try:
                os.unlink(address)
            except OSError:
                pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
