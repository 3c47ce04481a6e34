#!/usr/bin/env python3
"""Queues every action of a gocachefs store for upload, as if its puts had
never been sent: the backlog the upload benchmarks send.

    queue_all_uploads.py STORE_DIR
"""
import sqlite3
import sys

db = sqlite3.connect(f"{sys.argv[1]}/index.sqlite")
db.execute("insert or replace into uploads (action_id, not_before_ns) select action_id, 0 from actions")
db.commit()
