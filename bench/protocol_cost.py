"""Microseconds of Python per fast-path answer, in process: the protocol driven without sockets.

Seeds a subdir (see seed.py), starts the application on it in this process (lifespan
included), makes one ``BoundedHttpToolsProtocol`` connection on a fake transport that
keeps what is written, and feeds it the same request bytes over and over: a GET of the
shard index, its 304, and the 304 of ``repodata.json.zst``. Each is timed for ``--count``
requests, then profiled with cProfile (``--profile``). No kernel, no client: what is left
is the cost the server's own Python adds to each answer — uvicorn's parser callbacks,
the head meter, the fast path, the metrics, the write. Measures the code this checkout
imports (the venv's editable install).

    .venv/bin/python bench/protocol_cost.py --records 10000 --count 100000 --profile
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import re
import time
from pathlib import Path
from typing import Any

import seed


class Transport(asyncio.Transport):
    """Takes writes and drops them, keeping the last; a loopback peer for the protocol."""

    def __init__(self) -> None:
        super().__init__()
        self.last = b""
        self.writes = 0

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 8000), "peername": ("127.0.0.1", 50000)}.get(name, default)

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.writes += 1
        self.last = bytes(data)

    def is_closing(self) -> bool:
        return False

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass

    def close(self) -> None:
        pass


async def measure(count: int, profile: bool) -> list[tuple[str, float, int]]:
    from uvicorn.lifespan.on import LifespanOn
    from uvicorn.server import ServerState

    from taipan.settings import load_settings
    from taipan.web.app import create_app
    from taipan.web.server import BoundedHttpToolsProtocol, ServerConfig, head_limits

    settings = load_settings()
    config = ServerConfig(
        create_app(settings), limits=head_limits(settings), access_log=False, proxy_headers=False, log_level="warning"
    )
    config.load()
    lifespan = LifespanOn(config)
    await lifespan.startup()
    protocol = BoundedHttpToolsProtocol(config, ServerState(), lifespan.state)
    transport = Transport()
    protocol.connection_made(transport)
    base = f"/{seed.CHANNEL}/{seed.SUBDIR}"
    results = []
    try:
        for name, path, conditional in [
            ("shard index 200", f"{base}/repodata_shards.msgpack.zst", False),
            ("shard index 304", f"{base}/repodata_shards.msgpack.zst", True),
            (".zst 304", f"{base}/repodata.json.zst", True),
        ]:
            request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: bench\r\n\r\n".encode()
            for _ in range(3):  # the first goes through the application (state read, file built)
                protocol.data_received(request)
                await asyncio.sleep(0.05)
            if conditional:  # (a HEAD's answer is one write: the ETag is in it)
                protocol.data_received(b"HEAD" + request[3:])
                await asyncio.sleep(0.05)
                found = re.search(rb"\r\netag: (\S+)\r\n", transport.last)
                assert found is not None, transport.last[:300]
                request = request[:-2] + b"If-None-Match: " + found.group(1) + b"\r\n\r\n"
            protocol.data_received(request)
            status = int(transport.last.split(b" ", 2)[1])
            before = transport.writes
            started = time.perf_counter()
            for _ in range(count):
                protocol.data_received(request)
            elapsed = time.perf_counter() - started
            assert transport.writes - before == count, "an answer went through the application (not written at once)"
            results.append((name, elapsed / count * 1e6, status))
            if profile:
                profiler = cProfile.Profile()
                profiler.enable()
                for _ in range(count):
                    protocol.data_received(request)
                profiler.disable()
                print(f"--- cProfile, {name} ({count} requests; times inflated by the profiler)")
                pstats.Stats(profiler).sort_stats("tottime").print_stats(20)
    finally:
        await lifespan.shutdown()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=10000)
    parser.add_argument("--count", type=int, default=100000)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    with seed.temp_dir("taipan-bench-protocol-") as tmp:
        data_dir = Path(tmp) / "data"
        seed.seeded_data_dir(seed.snapshot("worktree"), args.records, data_dir)
        os.environ.update(
            {k: v for k, v in seed.taipan_env(seed.snapshot("worktree"), data_dir).items() if k.startswith("TAIPAN_")}
        )
        results = asyncio.run(measure(args.count, args.profile))
    print(seed.machine())
    print(f"\n| answer ({args.records}-record subdir) | status | µs of Python per answer |")
    print("|---|---|---|")
    for name, micros, status in results:
        print(f"| {name} | {status} | {micros:.2f} |")


if __name__ == "__main__":
    main()
