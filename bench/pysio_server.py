"""Stock python-socketio server (aiohttp + socketio.AsyncServer) for the benchmark.

    python bench/pysio_server.py --port 5000 --serializer json|msgpack

Registers ``StockBenchNamespace``, whose handlers are those socketsvc runs, so the two
differ only in the server machinery. Uses uvloop when it is installed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import socketio
from aiohttp import web

from bench.handlers import StockBenchNamespace


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--serializer", choices=["json", "msgpack"], default="json")
    args = parser.parse_args()

    try:
        import uvloop  # type: ignore[import-not-found]

        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
        loop_name = "uvloop"
    except ImportError:
        loop_name = "asyncio"

    sio = socketio.AsyncServer(
        async_mode="aiohttp",
        serializer="msgpack" if args.serializer == "msgpack" else "default",
        logger=False,
        engineio_logger=False,
    )
    sio.register_namespace(StockBenchNamespace("/"))
    app = web.Application()
    sio.attach(app)
    print(
        f"pysio listening on {args.host}:{args.port} ({args.serializer}, {loop_name})",
        flush=True,
    )
    web.run_app(app, host=args.host, port=args.port, print=None, access_log=None, backlog=1024)


if __name__ == "__main__":
    main()
