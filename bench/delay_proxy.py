"""A loopback TCP proxy that delays each direction by a fixed time (a real link's round trips).

Every chunk read from one side is written to the other ``--delay-ms`` later (default
10 ms each way: 20 ms RTT), in order; bandwidth is not limited, so a bulk stream still
moves at loopback speed once its window is full, as on a fast long link.

    python bench/delay_proxy.py --to 127.0.0.1:2222            # prints "listening on PORT"
    python bench/delay_proxy.py --to 127.0.0.1:2222 --port 2020 --delay-ms 25

bench/ssh_sync.py starts it itself with ``--rtt-ms 20``.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import sys
import time


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Copy reader -> writer, each chunk ``delay`` seconds after it arrived."""
    queue: collections.deque[tuple[float, bytes]] = collections.deque()
    ready = asyncio.Event()
    done = False

    async def read() -> None:
        nonlocal done
        try:
            while data := await reader.read(1 << 16):
                queue.append((time.monotonic() + delay, data))
                ready.set()
        except (ConnectionError, OSError):
            pass
        finally:
            done = True
            ready.set()

    task = asyncio.create_task(read())
    try:
        while True:
            if not queue:
                if done:
                    break
                ready.clear()
                await ready.wait()
                continue
            due, data = queue[0]
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            queue.popleft()
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError):
        pass
    finally:
        task.cancel()


async def _handle(client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter,
                  host: str, port: int, delay: float) -> None:
    try:
        server_r, server_w = await asyncio.open_connection(host, port)
    except OSError:
        client_w.close()
        return
    await asyncio.gather(_pump(client_r, server_w, delay), _pump(server_r, client_w, delay))
    for w in (client_w, server_w):
        w.close()


async def serve(to_host: str, to_port: int, *, port: int = 0, delay_ms: float = 10.0) -> None:
    delay = delay_ms / 1000.0
    server = await asyncio.start_server(lambda r, w: _handle(r, w, to_host, to_port, delay),
                                        "127.0.0.1", port)
    print(f"listening on {server.sockets[0].getsockname()[1]}", flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--to", required=True, metavar="HOST:PORT", help="where to forward")
    parser.add_argument("--port", type=int, default=0, help="port to listen on, 127.0.0.1 (default: a free one)")
    parser.add_argument("--delay-ms", type=float, default=10.0, help="delay each direction by this (default 10)")
    args = parser.parse_args(argv)
    host, _, port = args.to.rpartition(":")
    try:
        asyncio.run(serve(host or "127.0.0.1", int(port), port=args.port, delay_ms=args.delay_ms))
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
