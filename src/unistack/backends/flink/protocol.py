"""Framing of the messages between unistack and its Flink worker (standard library only).

The worker runs under another Python (the Flink environment), so this module must not import anything
outside the standard library; the worker loads it by file path. A message is::

    4 bytes   big-endian length of the JSON header
    n bytes   UTF-8 JSON header (a dict; ``"payloads"`` lists the byte sizes of what follows)
    ...       the payloads, back to back (Arrow IPC streams)

Both sides read with a ``read_exact(n)`` callable, so the main process can enforce timeouts while the
worker simply reads its stdin.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Callable, Sequence
from typing import Any, BinaryIO

PROTOCOL_VERSION = 1
MAX_HEADER = 64 * 1024 * 1024
_LEN = struct.Struct("!I")


class ProtocolError(Exception):
    """The other side sent something that is not a message, or closed the stream."""


def encode(header: dict[str, Any], payloads: Sequence[bytes] = ()) -> bytes:
    """One message as bytes.

    Examples
    --------
    >>> raw = encode({"op": "ping"}, [b"xy"])
    >>> decode_from(iter_reader(raw))
    ({'op': 'ping', 'payloads': [2]}, [b'xy'])
    """
    head = dict(header)
    head["payloads"] = [len(p) for p in payloads]
    body = json.dumps(head, separators=(",", ":")).encode("utf-8")
    return b"".join([_LEN.pack(len(body)), body, *payloads])


def send(stream: BinaryIO, header: dict[str, Any], payloads: Sequence[bytes] = ()) -> None:
    """Write one message to ``stream`` and flush it."""
    stream.write(encode(header, payloads))
    stream.flush()


def decode_from(read_exact: Callable[[int], bytes]) -> tuple[dict[str, Any], list[bytes]]:
    """Read one message with ``read_exact(n)`` (which returns exactly ``n`` bytes or raises)."""
    (size,) = _LEN.unpack(read_exact(_LEN.size))
    if size > MAX_HEADER:
        raise ProtocolError(f"message header of {size} bytes is too large (not a unistack message?)")
    try:
        header = json.loads(read_exact(size).decode("utf-8"))
    except ValueError as e:
        raise ProtocolError(f"message header is not JSON: {e}") from e
    if not isinstance(header, dict):
        raise ProtocolError("message header is not a JSON object")
    payloads = [read_exact(int(n)) for n in header.get("payloads", [])]
    return header, payloads


def stream_reader(stream: BinaryIO) -> Callable[[int], bytes]:
    """A ``read_exact`` over a blocking binary stream; raises :class:`ProtocolError` at end of stream."""

    def read_exact(n: int) -> bytes:
        chunks = []
        left = n
        while left:
            chunk = stream.read(left)
            if not chunk:
                raise ProtocolError("stream closed")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    return read_exact


def iter_reader(data: bytes) -> Callable[[int], bytes]:
    """A ``read_exact`` over bytes in memory (for tests and examples)."""
    pos = 0

    def read_exact(n: int) -> bytes:
        nonlocal pos
        if pos + n > len(data):
            raise ProtocolError("stream closed")
        out = data[pos:pos + n]
        pos += n
        return out

    return read_exact
