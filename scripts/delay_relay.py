#!/usr/bin/env python3
"""A TCP relay in front of a cache server, for scripts/bench_network.sh.

It counts what crossed it (connections, bytes each way, HTTP requests) and,
on kernels without tc netem, adds the link's delay: each chunk is forwarded
ONE_WAY_MS after it was read, in each direction, and a new connection's first
request waits one extra round trip, as the TCP handshake would on a real
link. Bytes keep their order.

    delay_relay.py LISTEN_HOST:PORT TARGET_HOST:PORT ONE_WAY_MS STATS_FILE

STATS_FILE is rewritten whenever a connection closes and once a second while
any is open: "connections N requests N bytes_up N bytes_down N".
"""
import asyncio
import os
import re
import sys
import time

listen_host, listen_port = sys.argv[1].rsplit(":", 1)
target_host, target_port = sys.argv[2].rsplit(":", 1)
delay = float(sys.argv[3]) / 1000
stats_file = sys.argv[4]
stats = {"connections": 0, "requests": 0, "bytes_up": 0, "bytes_down": 0}

# An HTTP/1.x request line; every client measured speaks HTTP/1.1 in clear.
REQUEST_LINE = re.compile(rb"(?:GET|HEAD|PUT|POST|DELETE) [^ \r\n]+ HTTP/1\.[01]\r\n")
# Kept from the previous chunk so a request line split across reads counts.
CARRY = 2048


def save_stats():
    with open(stats_file + ".tmp", "w") as f:
        f.write(" ".join(f"{k} {v}" for k, v in stats.items()) + "\n")
    # Atomic, so a reader never sees half a line.
    os.replace(stats_file + ".tmp", stats_file)


async def pump(reader, writer, counter, first_due):
    queue = asyncio.Queue()

    async def deliver():
        while True:
            due, chunk = await queue.get()
            if chunk is None:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(chunk)
            await writer.drain()
        try:
            writer.write_eof()
        except (OSError, RuntimeError):
            pass

    delivery = asyncio.ensure_future(deliver())
    carry = b""
    try:
        while True:
            chunk = await reader.read(1 << 16)
            if not chunk:
                break
            stats[counter] += len(chunk)
            if counter == "bytes_up":
                window = carry + chunk
                stats["requests"] += sum(1 for m in REQUEST_LINE.finditer(window) if m.end() > len(carry))
                carry = window[-CARRY:]
            queue.put_nowait((max(time.monotonic(), first_due) + delay, chunk))
    except (ConnectionError, OSError):
        pass
    queue.put_nowait((0, None))
    try:
        await delivery
    except (ConnectionError, OSError):
        pass


async def handle(client_reader, client_writer):
    stats["connections"] += 1
    # The handshake's round trip: SYN out, SYN-ACK back.
    handshake_done = time.monotonic() + 2 * delay
    try:
        server_reader, server_writer = await asyncio.open_connection(target_host, int(target_port))
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(
        pump(client_reader, server_writer, "bytes_up", handshake_done),
        pump(server_reader, client_writer, "bytes_down", 0),
    )
    for w in (client_writer, server_writer):
        w.close()
    save_stats()


async def save_periodically():
    while True:
        await asyncio.sleep(1)
        save_stats()


async def main():
    server = await asyncio.start_server(handle, listen_host, int(listen_port), backlog=512)
    save_stats()
    asyncio.ensure_future(save_periodically())
    async with server:
        await server.serve_forever()


asyncio.run(main())
