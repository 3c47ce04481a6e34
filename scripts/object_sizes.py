#!/usr/bin/env python3
"""How a store's actions split by object size: the measurement behind the
inline limit of action records (store/action_record.h). Objects up to the
limit cost one round trip on a remote hit; larger ones cost two. Inline
objects travel zstd-compressed and base64-encoded (4/3 of the compressed
size), cas objects zstd-compressed.

    scripts/object_sizes.py STORE_DIR
"""
import sqlite3
import sys

db = sqlite3.connect(f"file:{sys.argv[1]}/index.sqlite?mode=ro", uri=True)
sizes = [row[0] for row in db.execute("select size from actions")]
if not sizes:
    sys.exit("no actions in this store")
total = sum(sizes)
print(f"{len(sizes)} actions, {total / 2**20:.1f} MiB of objects")
print(f"{'limit':>9} {'inline':>8} {'2 round trips':>14} {'inline MiB':>11} {'of bytes':>9}")
for limit in (1 << 10, 4 << 10, 16 << 10, 64 << 10, 256 << 10, 1 << 20):
    small = [s for s in sizes if s <= limit]
    print(f"{limit // 1024:>5} KiB {100 * len(small) / len(sizes):>7.1f}% {len(sizes) - len(small):>14}"
          f" {sum(small) / 2**20:>11.2f} {100 * sum(small) / total:>8.1f}%")
