"""Protocol client: op records and memo requests to the coordinator, or a JSON trace file.

Frames are a 4-byte big-endian length followed by a msgpack map (plain maps only).
"""

from __future__ import annotations

import io
import json
import os
import socket
import struct
import threading

import msgpack

_FLUSH_EVERY = 256


class ProtocolError(RuntimeError):
    pass


def encode_frame(msg: dict) -> bytes:
    body = msgpack.packb(msg, use_bin_type=True)
    return struct.pack(">I", len(body)) + body


class Client:
    """One connection per script process. Synchronous: the script waits on memo replies."""

    def __init__(self, socket_path: str, script_id: str):
        self.script_id = script_id
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(socket_path)
        self.pending: list[dict] = []
        self.next_id = 1
        self._buf = b""
        self._lock = threading.Lock()  # records may come from a script's threads: frames must not interleave
        self._request_lock = threading.Lock()
        self.send({"t": "hello", "script": script_id, "pid": os.getpid()})

    def send(self, msg: dict) -> None:
        frame = encode_frame(msg)
        with self._lock:
            self.sock.sendall(frame)

    def record(self, rec: dict) -> None:
        self.pending.append(rec)
        if len(self.pending) >= _FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        with self._lock:
            recs, self.pending = self.pending, []
            if recs:
                self.sock.sendall(encode_frame({"t": "ops", "records": recs}))

    def request(self, msg: dict) -> dict:
        """Send a request and block until its reply (the coordinator may hold it: single-flight).
        One request at a time: kernels are also asked for from a script's threads (a forest's
        trees), and a reply must reach the thread that waits for it."""
        with self._request_lock:
            self.flush()
            rid = self.next_id
            self.next_id += 1
            msg["id"] = rid
            self.send(msg)
            while True:
                reply = self._recv()
                if reply.get("id") == rid:
                    if reply.get("t") == "error":
                        raise ProtocolError(reply.get("message", "coordinator error"))
                    return reply

    def _recv(self) -> dict:
        while True:
            if len(self._buf) >= 4:
                (n,) = struct.unpack(">I", self._buf[:4])
                if len(self._buf) >= 4 + n:
                    body, self._buf = self._buf[4 : 4 + n], self._buf[4 + n :]
                    return msgpack.unpackb(body, raw=False)
            chunk = self.sock.recv(1 << 16)
            if not chunk:
                raise ProtocolError("coordinator closed the connection")
            self._buf += chunk

    def close(self) -> None:
        try:
            self.flush()
            self.send({"t": "bye"})
        finally:
            self.sock.close()


class TraceFile:
    """Standalone mode with STRATUM_TRACE=path: one JSON record per line."""

    def __init__(self, path: str, script_id: str):
        self.script_id = script_id
        self.f = io.open(path, "a", encoding="utf-8")  # io.open: builtins.open may be patched

    def record(self, rec: dict) -> None:
        self.f.write(json.dumps(rec, default=str) + "\n")

    def flush(self) -> None:
        self.f.flush()

    def close(self) -> None:
        self.f.close()
