"""Streams: the same expressions on unbounded input, with event-time windows (see docs/streaming.md)."""

from unistack.stream.executor import StreamingQuery
from unistack.stream.frame import StreamFrame, WindowedGroupBy, WindowedStream, read_stream
from unistack.stream.sinks import MemorySink
from unistack.stream.windows import WindowSpec, hop, session, tumble

__all__ = ["MemorySink", "StreamFrame", "StreamingQuery", "WindowSpec", "WindowedGroupBy", "WindowedStream",
           "hop", "read_stream", "session", "tumble"]
