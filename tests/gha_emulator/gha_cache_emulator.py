#!/usr/bin/env python3
"""An emulator of the GitHub Actions cache service v2, on loopback, for tests.

    gha_cache_emulator.py PORT DATA_DIR [--uploads-per-minute N (200)]
        [--repo-limit-bytes N (10 GiB)] [--max-entry-bytes N (10 GiB)]
        [--url-ttl-seconds N (3600)] [--token-file FILE] [--verbose]

It accepts one runtime token: the contents of --token-file, else the
environment variable ACTIONS_RUNTIME_TOKEN. Its base URL (ACTIONS_RESULTS_URL)
is http://127.0.0.1:PORT; the signed blob URLs it hands out are on the host
the client called (its Host header: a relay in front of it works). Entries live under DATA_DIR (meta.sqlite3 for the
metadata, blobs/ and staging/ for the bytes), so a restart keeps them.

What the real service does and this models
-------------------------------------------
Twirp JSON API, as @actions/cache >= 4 and tonistiigi/go-actions-cache call it:
  POST /twirp/github.actions.results.api.v1.CacheService/<Method>,
  Content-Type: application/json, Authorization: Bearer <runtime token>.
  Errors are Twirp errors {"code", "msg"} with Twirp's HTTP statuses:
  unauthenticated 401, invalid_argument 400, malformed 400, bad_route 404,
  not_found 404, already_exists 409, resource_exhausted 429, internal 500.
  int64 fields may come as JSON numbers or, as protobuf JSON writes them,
  decimal strings; entry_id is answered as a string.
- CreateCacheEntry {key, version} -> {ok, signed_upload_url}. Entries are
  immutable: key+version names one entry, and a second create of a finalized
  or still-reserved entry is already_exists. Keys are at most 512 characters
  and have no comma (invalid_argument).
- Upload rate limit: at most --uploads-per-minute CreateCacheEntry calls in
  any sliding 60 s window; more is resource_exhausted (429), with no
  Retry-After header. Every admitted call counts, whatever it answers;
  refused (429) calls do not.
- The upload URL is an Azure block blob SAS URL: Put Block, Put Block List
  (<Latest>, <Uncommitted>, <Committed>; commits in that order and discards
  the other uncommitted blocks) and Put Blob, answered 201 with Azure's
  headers. Signed URLs expire (--url-ttl-seconds) and carry permissions
  (upload "cw", download "r"): a wrong signature or an expired URL is 403
  AuthenticationFailed, the wrong permission 403
  AuthorizationPermissionMismatch, in Azure's XML error format. A client
  Content-MD5 is checked (400 Md5Mismatch). Once the entry is finalized its
  blob no longer changes (409).
- FinalizeCacheEntryUpload {key, version, size_bytes} -> {ok, entry_id}:
  not_found without a reservation or without a committed blob,
  already_exists when already finalized, invalid_argument when size_bytes is
  not the committed blob's size or exceeds --max-entry-bytes (that
  reservation is then dropped).
- Repository limit: after a finalize leaves the repository over
  --repo-limit-bytes, the least recently accessed finalized entries (never
  the one just saved) are evicted until it is under, as GitHub does.
- GetCacheEntryDownloadURL {key, restore_keys, version} -> {ok,
  signed_download_url, matched_key}: an exact match of key first, then each
  restore key in order as a prefix, newest created first; finalized entries
  of the same version only. A hit updates the entry's last access time. No
  hit is {ok: false, signed_download_url: "", matched_key: ""}.
- The download URL answers GET and HEAD (Get Blob, Get Blob Properties) with
  Range or x-ms-range (bytes=A-B or bytes=A-; 206, 416 past the end),
  If-Match / If-None-Match on the ETag, and Azure's headers.

Not modelled: scopes (branches) and their read rules, the 7-day eviction of
unused entries, the protobuf encoding, expiry of abandoned reservations,
CRC64 checksums, usage quotas, and the other Twirp methods (bad_route).

For tests only, without authentication:
  GET  /_emulator/stats       counters (reset when the emulator starts):
       create_calls, finalize_calls, lookup_calls, rate_limited,
       blob_put_requests, blob_get_requests (GET and HEAD), bytes_uploaded,
       bytes_downloaded, unauthenticated, evicted; entries and total_bytes
       (finalized entries), reserved (not yet finalized)
  POST /_emulator/reset-rate  empties the rate limit window
  POST /_emulator/fail-twirp?count=N  the next N Twirp calls fail with 500
                              internal, as the real service does at times
"""
import argparse
import base64
import binascii
import collections
import datetime
import email.utils
import hashlib
import hmac
import json
import os
import re
import secrets
import shutil
import sqlite3
import sys
import threading
import traceback
import time
import uuid
import xml.etree.ElementTree as ElementTree
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, urlsplit

TWIRP_PREFIX = "/twirp/github.actions.results.api.v1.CacheService/"
AZURE_VERSION = "2024-11-04"  # what azblob v1.5.0 sends as x-ms-version
MAX_KEY_LENGTH = 512
MAX_JSON_BODY = 1 << 20
DRAIN_LIMIT = 16 << 20  # an unread request body up to this is read before an error answer, else the connection closes
COPY_CHUNK = 1 << 20
TWIRP_STATUS = {"unauthenticated": 401, "invalid_argument": 400, "malformed": 400, "bad_route": 404,
                "not_found": 404, "already_exists": 409, "resource_exhausted": 429, "internal": 500}


class TwirpError(Exception):
    def __init__(self, code, msg):
        super().__init__(msg)
        self.code, self.msg = code, msg


class AzureError(Exception):
    def __init__(self, status, code, msg, extra_headers=None):
        super().__init__(msg)
        self.status, self.code, self.msg = status, code, msg
        self.extra_headers = extra_headers or {}


class BodyError(Exception):
    """The request body could not be read (a broken chunked encoding)."""


def http_date(t):
    return email.utils.formatdate(t, usegmt=True)


def iso8601(t):
    return datetime.datetime.fromtimestamp(int(t), datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def etag_of(modified):
    return '"0x%X"' % int(modified * 10_000_000)


class Emulator:
    """The service's state: entries in sqlite, their bytes in files."""

    def __init__(self, args, token):
        self.args = args
        self.token = token
        self.port = args.port
        self.data = os.path.abspath(args.data_dir)
        self.blobs = os.path.join(self.data, "blobs")
        self.staging = os.path.join(self.data, "staging")
        os.makedirs(self.blobs, exist_ok=True)
        os.makedirs(self.staging, exist_ok=True)
        secret_path = os.path.join(self.data, "url-secret")
        if not os.path.exists(secret_path):
            with open(secret_path + ".tmp", "w") as f:
                f.write(secrets.token_hex(32))
            os.replace(secret_path + ".tmp", secret_path)
        with open(secret_path) as f:
            self.secret = bytes.fromhex(f.read().strip())
        self.db = sqlite3.connect(os.path.join(self.data, "meta.sqlite3"), check_same_thread=False,
                                  isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("""CREATE TABLE IF NOT EXISTS entries (
            id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: old URLs never reach a new entry
            key TEXT NOT NULL, version TEXT NOT NULL,
            finalized INTEGER NOT NULL DEFAULT 0,
            size INTEGER,      -- of the committed blob; NULL before one is committed
            md5 TEXT,          -- base64 Content-MD5 of a blob made by Put Blob
            blocks TEXT,       -- JSON [[block id, size], ...] of a blob made by Put Block List
            modified REAL, created REAL NOT NULL, accessed REAL NOT NULL,
            UNIQUE (key, version))""")
        self.lock = threading.Lock()  # the database, the counters, the rate window
        self.entry_locks = collections.defaultdict(threading.Lock)  # one writer of an entry's blob at a time
        self.rate_window = collections.deque()
        self.stats = dict.fromkeys(["create_calls", "finalize_calls", "lookup_calls", "rate_limited",
                                    "blob_put_requests", "blob_get_requests", "bytes_uploaded",
                                    "bytes_downloaded", "unauthenticated", "evicted"], 0)
        self._clean_leftovers()

    def _clean_leftovers(self):
        """Files that a crash left without a row, and temporary files."""
        ids = {str(row[0]) for row in self.db.execute("SELECT id FROM entries")}
        for name in os.listdir(self.blobs):
            if name.split(".")[0] not in ids or ".tmp" in name:
                os.unlink(os.path.join(self.blobs, name))
        for name in os.listdir(self.staging):
            if name not in ids:
                shutil.rmtree(os.path.join(self.staging, name), ignore_errors=True)

    def count(self, name, n=1):
        with self.lock:
            self.stats[name] += n

    def entry(self, entry_id):
        with self.lock:
            return self._row(self.db.execute("SELECT * FROM entries WHERE id = ?", (entry_id,)))

    @staticmethod
    def _row(cursor):
        row = cursor.fetchone()
        return None if row is None else dict(zip([c[0] for c in cursor.description], row))

    def blob_path(self, entry_id):
        return os.path.join(self.blobs, str(entry_id))

    def staging_dir(self, entry_id):
        return os.path.join(self.staging, str(entry_id))

    def _delete_files(self, entry_id):
        try:
            os.unlink(self.blob_path(entry_id))
        except FileNotFoundError:
            pass
        shutil.rmtree(self.staging_dir(entry_id), ignore_errors=True)

    # Signed URLs ------------------------------------------------------------

    def _signature(self, permissions, entry_id, expiry):
        message = f"{permissions}\n{entry_id}\n{expiry}".encode()
        return base64.b64encode(hmac.new(self.secret, message, hashlib.sha256).digest()).decode()

    def signed_url(self, entry_id, permissions, host):
        """On the host the client called (a relay in front of us, in the network benchmark)."""
        expiry = iso8601(time.time() + self.args.url_ttl_seconds)
        sig = self._signature(permissions, entry_id, expiry)
        host = host or f"127.0.0.1:{self.port}"
        return (f"http://{host}/blob/{entry_id}?sv={AZURE_VERSION}&sr=b&sp={permissions}"
                f"&se={quote(expiry, safe='')}&sig={quote(sig, safe='')}")

    def check_signature(self, entry_id, query, need):
        """Raises the AzureError that Azure answers to a bad SAS URL."""
        get = lambda name: (query.get(name) or [""])[0]
        permissions, expiry, sig = get("sp"), get("se"), get("sig")
        if not sig or not hmac.compare_digest(sig, self._signature(permissions, entry_id, expiry)):
            raise AzureError(403, "AuthenticationFailed",
                             "Server failed to authenticate the request. Make sure the value of Authorization "
                             "header is formed correctly including the signature.")
        try:
            expires = datetime.datetime.strptime(expiry, "%Y-%m-%dT%H:%M:%SZ").replace(
                tzinfo=datetime.timezone.utc).timestamp()
        except ValueError:
            expires = 0
        if time.time() >= expires:
            raise AzureError(403, "AuthenticationFailed",
                             "Server failed to authenticate the request. Signed expiry time [%s] must be after "
                             "the current time." % expiry)
        if need not in permissions:
            raise AzureError(403, "AuthorizationPermissionMismatch",
                             "This request is not authorized to perform this operation using this permission.")

    # Twirp methods ----------------------------------------------------------

    def create_cache_entry(self, request, host):
        with self.lock:
            self.stats["create_calls"] += 1
            now = time.monotonic()
            while self.rate_window and self.rate_window[0] <= now - 60:
                self.rate_window.popleft()
            if len(self.rate_window) >= self.args.uploads_per_minute:
                self.stats["rate_limited"] += 1
                raise TwirpError("resource_exhausted",
                                 "cache upload rate limit exceeded: more than %d cache entries created in a "
                                 "minute" % self.args.uploads_per_minute)
            self.rate_window.append(now)
        key, version = check_key(request, "key"), required_string(request, "version")
        with self.lock:
            if self.db.execute("SELECT 1 FROM entries WHERE key = ? AND version = ?", (key, version)).fetchone():
                raise TwirpError("already_exists", "cache entry with the same key, version, and scope already exists")
            now = time.time()
            entry_id = self.db.execute("INSERT INTO entries (key, version, created, accessed) VALUES (?, ?, ?, ?)",
                                       (key, version, now, now)).lastrowid
        return {"ok": True, "signed_upload_url": self.signed_url(entry_id, "cw", host)}

    def finalize_cache_entry_upload(self, request, host):
        self.count("finalize_calls")
        key, version = check_key(request, "key"), required_string(request, "version")
        size = int64_field(request, "size_bytes")
        with self.lock:
            row = self._row(self.db.execute("SELECT * FROM entries WHERE key = ? AND version = ?", (key, version)))
        if row is None:
            raise TwirpError("not_found", "no cache entry reservation for this key and version")
        with self.entry_locks[row["id"]], self.lock:  # no upload to it commits meanwhile
            row = self._row(self.db.execute("SELECT * FROM entries WHERE id = ?", (row["id"],)))
            if row is None:
                raise TwirpError("not_found", "no cache entry reservation for this key and version")
            if row["finalized"]:
                raise TwirpError("already_exists", "cache entry with the same key, version, and scope is "
                                 "already finalized")
            if size > self.args.max_entry_bytes:
                self.db.execute("DELETE FROM entries WHERE id = ?", (row["id"],))
                self._delete_files(row["id"])
                raise TwirpError("invalid_argument", "cache entry of %d bytes exceeds the limit of %d bytes"
                                 % (size, self.args.max_entry_bytes))
            if row["size"] is None:
                raise TwirpError("not_found", "no blob was uploaded for this cache entry")
            if row["size"] != size:
                raise TwirpError("invalid_argument", "size_bytes %d does not match the uploaded blob's %d bytes"
                                 % (size, row["size"]))
            now = time.time()
            self.db.execute("UPDATE entries SET finalized = 1, accessed = ? WHERE id = ?", (now, row["id"]))
            shutil.rmtree(self.staging_dir(row["id"]), ignore_errors=True)
            self._evict(keep=row["id"])
        return {"ok": True, "entry_id": str(row["id"])}

    def _evict(self, keep):
        """Least recently accessed first, until the repository is under its limit (lock held)."""
        total = self.db.execute("SELECT COALESCE(SUM(size), 0) FROM entries WHERE finalized = 1").fetchone()[0]
        while total > self.args.repo_limit_bytes:
            victim = self.db.execute("SELECT id, size FROM entries WHERE finalized = 1 AND id != ? "
                                     "ORDER BY accessed, id LIMIT 1", (keep,)).fetchone()
            if victim is None:
                break
            self.db.execute("DELETE FROM entries WHERE id = ?", (victim[0],))
            self._delete_files(victim[0])
            self.stats["evicted"] += 1
            total -= victim[1]

    def get_cache_entry_download_url(self, request, host):
        self.count("lookup_calls")
        key, version = check_key(request, "key"), required_string(request, "version")
        restore_keys = request.get("restore_keys") or []
        if not isinstance(restore_keys, list) or not all(isinstance(k, str) for k in restore_keys):
            raise TwirpError("invalid_argument", "restore_keys must be a list of strings")
        for prefix in restore_keys:
            check_key({"restore_keys": prefix}, "restore_keys")
        with self.lock:
            row = self._row(self.db.execute("SELECT id, key FROM entries WHERE key = ? AND version = ? "
                                            "AND finalized = 1", (key, version)))
            for prefix in restore_keys:
                if row is not None:
                    break
                row = self._row(self.db.execute(
                    "SELECT id, key FROM entries WHERE version = ? AND finalized = 1 AND substr(key, 1, ?) = ? "
                    "ORDER BY created DESC, id DESC LIMIT 1", (version, len(prefix), prefix)))
            if row is None:
                return {"ok": False, "signed_download_url": "", "matched_key": ""}
            self.db.execute("UPDATE entries SET accessed = ? WHERE id = ?", (time.time(), row["id"]))
        return {"ok": True, "signed_download_url": self.signed_url(row["id"], "r", host), "matched_key": row["key"]}

    METHODS = {"CreateCacheEntry": create_cache_entry,
               "FinalizeCacheEntryUpload": finalize_cache_entry_upload,
               "GetCacheEntryDownloadURL": get_cache_entry_download_url}

    def stats_snapshot(self):
        with self.lock:
            out = dict(self.stats)
            out["entries"], out["total_bytes"] = self.db.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM entries WHERE finalized = 1").fetchone()
            out["reserved"] = self.db.execute("SELECT COUNT(*) FROM entries WHERE finalized = 0").fetchone()[0]
        return out

    def reset_rate(self):
        with self.lock:
            self.rate_window.clear()

    def fail_twirp(self, count):
        with self.lock:
            self.twirp_failures_left = count

    def take_twirp_failure(self):
        with self.lock:
            if getattr(self, "twirp_failures_left", 0) <= 0:
                return False
            self.twirp_failures_left -= 1
            return True

    # Azure blob writes ------------------------------------------------------

    def writable_entry(self, entry_id):
        row = self.entry(entry_id)
        if row is None:
            raise AzureError(404, "BlobNotFound", "The specified blob does not exist.")
        if row["finalized"]:
            raise AzureError(409, "BlobAlreadyExists", "The cache entry is finalized: its blob cannot change.")
        return row

    def commit_blob(self, entry_id, make_blob):
        """Runs make_blob(row, temporary path) -> (size, md5, blocks) and installs its file as the blob."""
        with self.entry_locks[entry_id]:
            row = self.writable_entry(entry_id)
            temporary = f"{self.blob_path(entry_id)}.tmp-{uuid.uuid4().hex}"
            try:
                size, md5, blocks = make_blob(row, temporary)
                os.replace(temporary, self.blob_path(entry_id))
            finally:
                if os.path.exists(temporary):
                    os.unlink(temporary)
            modified = time.time()
            with self.lock:
                self.db.execute("UPDATE entries SET size = ?, md5 = ?, blocks = ?, modified = ? WHERE id = ?",
                                (size, md5, json.dumps(blocks) if blocks is not None else None, modified, entry_id))
            shutil.rmtree(self.staging_dir(entry_id), ignore_errors=True)  # uncommitted blocks are discarded
        return modified, md5


def required_string(request, name):
    value = request.get(name)
    if not isinstance(value, str) or not value:
        raise TwirpError("invalid_argument", f"{name} is required")
    return value


def check_key(request, name):
    key = required_string(request, name)
    if len(key) > MAX_KEY_LENGTH:
        raise TwirpError("invalid_argument", f"{name} is longer than {MAX_KEY_LENGTH} characters")
    if "," in key:
        raise TwirpError("invalid_argument", f"{name} cannot contain commas")
    return key


def int64_field(request, name):
    value = request.get(name, 0)  # protobuf JSON leaves out zero values
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise TwirpError("invalid_argument", f"{name} must be an integer")
    try:
        value = int(value)
    except ValueError:
        raise TwirpError("invalid_argument", f"{name} must be an integer") from None
    if value < 0:
        raise TwirpError("invalid_argument", f"{name} must not be negative")
    return value


def block_name(block_id):
    """The staging file of a base64 block id; AzureError when it is not one."""
    try:
        raw = base64.b64decode(block_id, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if not raw or len(raw) > 64:
        raise AzureError(400, "InvalidQueryParameterValue", "Value for one of the query parameters specified in "
                         "the request URI is invalid (blockid).")
    return raw.hex()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "gha-cache-emulator"
    timeout = 300
    emulator = None  # set in main

    # Plumbing ---------------------------------------------------------------

    def log_message(self, fmt, *args):
        if self.emulator.args.verbose:
            sys.stderr.write("gha-emulator: %s\n" % (fmt % args))

    def _begin(self):
        self.url = urlsplit(self.path)
        self.query = parse_qs(self.url.query, keep_blank_values=True)
        self.request_id = str(uuid.uuid4())
        self.chunked = "chunked" in self.headers.get("Transfer-Encoding", "").lower()
        self.body_left = 0 if self.chunked else int(self.headers.get("Content-Length") or 0)
        self.body_pending = self.chunked or self.body_left > 0

    def body_chunks(self):
        """The request body, in pieces, Content-Length or chunked."""
        if self.chunked:
            while True:
                line = self.rfile.readline(1024)
                try:
                    size = int(line.split(b";")[0].strip(), 16)
                except ValueError:
                    raise BodyError("bad chunked encoding") from None
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                for data in self._read_exactly(size):
                    yield data
                self.rfile.readline(1024)
        else:
            while self.body_left > 0:
                data = next(self._read_exactly(min(self.body_left, COPY_CHUNK)))
                self.body_left -= len(data)
                yield data
        self.body_pending = False

    def _read_exactly(self, n):
        while n > 0:
            data = self.rfile.read(min(n, COPY_CHUNK))
            if not data:
                raise BodyError("the request body ended early")
            n -= len(data)
            yield data

    def read_body(self, limit):
        parts, size = [], 0
        for part in self.body_chunks():
            size += len(part)
            if size > limit:
                raise TwirpError("malformed", "request body too large")
            parts.append(part)
        return b"".join(parts)

    def send(self, status, headers, body=b""):
        if self.body_pending and not self.chunked and self.body_left <= DRAIN_LIMIT:
            for _ in self.body_chunks():  # so that the client, still sending, reads this answer
                pass
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        if "Content-Length" not in headers:
            self.send_header("Content-Length", str(len(body)))
        if self.body_pending:  # an unread body cannot be skipped on a kept-alive connection
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    def send_json(self, status, value):
        self.send(status, {"Content-Type": "application/json"}, json.dumps(value).encode())

    def send_twirp_error(self, error):
        self.send_json(TWIRP_STATUS[error.code], {"code": error.code, "msg": error.msg})

    def azure_headers(self, extra=None):
        headers = {"x-ms-request-id": self.request_id, "x-ms-version": AZURE_VERSION}
        if "x-ms-client-request-id" in self.headers:
            headers["x-ms-client-request-id"] = self.headers["x-ms-client-request-id"]
        headers.update(extra or {})
        return headers

    def send_azure_error(self, error):
        message = "%s\nRequestId:%s\nTime:%s" % (error.msg, self.request_id, iso8601(time.time()))
        body = ('<?xml version="1.0" encoding="utf-8"?><Error><Code>%s</Code><Message>%s</Message></Error>'
                % (error.code, xml_escape(message))).encode()
        headers = self.azure_headers({"Content-Type": "application/xml", "x-ms-error-code": error.code})
        headers.update(error.extra_headers)
        self.send(error.status, headers, body)

    def guarded(self, action):
        try:
            action()
        except TwirpError as e:
            self.send_twirp_error(e)
        except AzureError as e:
            self.send_azure_error(e)
        except (BodyError, ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception:  # a bug of the emulator: say so, and answer 500
            traceback.print_exc()
            self.close_connection = True
            try:
                if self.url.path.startswith(TWIRP_PREFIX):
                    self.send_twirp_error(TwirpError("internal", "emulator error (see its stderr)"))
                else:
                    self.send_azure_error(AzureError(500, "InternalError", "emulator error (see its stderr)"))
            except Exception:
                pass

    # Routes -----------------------------------------------------------------

    def do_POST(self):
        self._begin()
        if self.url.path.startswith(TWIRP_PREFIX):
            self.guarded(self.twirp)
        elif self.url.path == "/_emulator/fail-twirp":
            self.emulator.fail_twirp(int((self.query.get("count") or ["1"])[0]))
            self.send_json(200, {"ok": True})
        elif self.url.path == "/_emulator/reset-rate":
            self.emulator.reset_rate()
            self.send_json(200, {"ok": True})
        else:
            self.send_json(404, {"code": "bad_route", "msg": "no such route: POST " + self.url.path})

    def do_PUT(self):
        self._begin()
        self.guarded(self.blob_put)

    def do_GET(self):
        self._begin()
        if self.url.path == "/_emulator/stats":
            self.send_json(200, self.emulator.stats_snapshot())
        else:
            self.guarded(self.blob_get)

    def do_HEAD(self):
        self._begin()
        self.guarded(self.blob_get)

    def twirp(self):
        if self.headers.get("Authorization", "") != "Bearer " + self.emulator.token:
            self.emulator.count("unauthenticated")
            raise TwirpError("unauthenticated", "invalid or missing runtime token (Authorization: Bearer ...)")
        if self.emulator.take_twirp_failure():
            raise TwirpError("internal", "injected failure (/_emulator/fail-twirp)")
        method = Emulator.METHODS.get(self.url.path[len(TWIRP_PREFIX):])
        if method is None:
            raise TwirpError("bad_route", "no such method: " + self.url.path)
        content_type = self.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if content_type != "application/json":
            raise TwirpError("bad_route", f"unexpected Content-Type: {content_type!r} (only application/json)")
        try:
            request = json.loads(self.read_body(MAX_JSON_BODY) or b"{}")
        except ValueError:
            raise TwirpError("malformed", "the request body is not JSON") from None
        if not isinstance(request, dict):
            raise TwirpError("malformed", "the request body is not a JSON object")
        self.send_json(200, method(self.emulator, request, self.headers.get("Host", "")))

    def blob_entry_id(self):
        m = re.fullmatch(r"/blob/(\d+)", self.url.path)
        if m is None:
            raise AzureError(400, "InvalidUri", "The requested URI does not represent any resource on the server.")
        return int(m.group(1))

    # Azure: Put Block, Put Block List, Put Blob -----------------------------

    def blob_put(self):
        self.emulator.count("blob_put_requests")
        entry_id = self.blob_entry_id()
        self.emulator.check_signature(entry_id, self.query, "w")
        self.emulator.writable_entry(entry_id)  # fail before reading a body that cannot be used
        comp = (self.query.get("comp") or [""])[0]
        if comp == "block":
            self.put_block(entry_id)
        elif comp == "blocklist":
            self.put_block_list(entry_id)
        elif comp == "":
            if self.headers.get("x-ms-blob-type") != "BlockBlob":
                raise AzureError(400, "MissingRequiredHeader" if "x-ms-blob-type" not in self.headers
                                 else "InvalidHeaderValue",
                                 "x-ms-blob-type must be BlockBlob.")
            self.put_blob(entry_id)
        else:
            raise AzureError(400, "InvalidQueryParameterValue", f"comp={comp} is not supported here.")

    def receive(self, path):
        """The body into a new file at path; its size and base64 MD5. Checks a client Content-MD5."""
        md5, size = hashlib.md5(), 0
        try:
            with open(path, "wb") as f:
                for part in self.body_chunks():
                    f.write(part)
                    md5.update(part)
                    size += len(part)
                    self.emulator.count("bytes_uploaded", len(part))
            digest = base64.b64encode(md5.digest()).decode()
            if "Content-MD5" in self.headers and self.headers["Content-MD5"] != digest:
                raise AzureError(400, "Md5Mismatch", "The MD5 value specified in the request did not match "
                                 "with the MD5 value calculated by the server.")
        except BaseException:
            os.unlink(path)
            raise
        return size, digest

    def put_block(self, entry_id):
        name = block_name((self.query.get("blockid") or [""])[0])
        staging = self.emulator.staging_dir(entry_id)
        os.makedirs(staging, exist_ok=True)
        temporary = os.path.join(staging, f".tmp-{uuid.uuid4().hex}")
        _, digest = self.receive(temporary)
        os.replace(temporary, os.path.join(staging, name))
        self.send(201, self.azure_headers({"Content-MD5": digest, "x-ms-request-server-encrypted": "true"}))

    def put_blob(self, entry_id):
        received = f"{self.emulator.blob_path(entry_id)}.tmp-{uuid.uuid4().hex}"
        size, digest = self.receive(received)

        def make_blob(row, temporary):
            os.replace(received, temporary)
            return size, digest, None

        try:
            modified, _ = self.emulator.commit_blob(entry_id, make_blob)
        finally:
            if os.path.exists(received):
                os.unlink(received)
        self.send(201, self.azure_headers({"ETag": etag_of(modified), "Last-Modified": http_date(modified),
                                           "Content-MD5": digest, "x-ms-request-server-encrypted": "true"}))

    def put_block_list(self, entry_id):
        body = b"".join(self.body_chunks())
        try:
            root = ElementTree.fromstring(body)
        except ElementTree.ParseError:
            root = None
        if root is None or root.tag != "BlockList":
            raise AzureError(400, "InvalidXmlDocument", "XML specified is not syntactically valid.")
        wanted = [(child.tag, (child.text or "").strip()) for child in root]
        staging = self.emulator.staging_dir(entry_id)

        def make_blob(row, temporary):
            committed, offset = {}, 0  # block id -> (offset, size) in the current blob
            for block_id, size in json.loads(row["blocks"] or "[]"):
                committed[block_id] = (offset, size)
                offset += size
            sources = []  # (file, offset, size, block id)
            for kind, block_id in wanted:
                staged = os.path.join(staging, block_name(block_id))
                if kind in ("Latest", "Uncommitted") and os.path.exists(staged):
                    sources.append((staged, 0, os.path.getsize(staged), block_id))
                elif kind in ("Latest", "Committed") and block_id in committed:
                    sources.append((self.emulator.blob_path(entry_id), *committed[block_id], block_id))
                else:
                    raise AzureError(400, "InvalidBlockList", "The specified block list is invalid.")
            total = 0
            with open(temporary, "wb") as out:
                for path, start, size, _ in sources:
                    with open(path, "rb") as f:
                        f.seek(start)
                        left = size
                        while left:
                            data = f.read(min(left, COPY_CHUNK))
                            if not data:
                                raise AzureError(500, "InternalError", "a block's data is missing")
                            out.write(data)
                            left -= len(data)
                    total += size
            return total, None, [[block_id, size] for _, _, size, block_id in sources]

        modified, _ = self.emulator.commit_blob(entry_id, make_blob)
        digest = base64.b64encode(hashlib.md5(body).digest()).decode()
        self.send(201, self.azure_headers({"ETag": etag_of(modified), "Last-Modified": http_date(modified),
                                           "Content-MD5": digest, "x-ms-request-server-encrypted": "true"}))

    # Azure: Get Blob, Get Blob Properties -----------------------------------

    def blob_get(self):
        self.emulator.count("blob_get_requests")
        entry_id = self.blob_entry_id()
        self.emulator.check_signature(entry_id, self.query, "r")
        row = self.emulator.entry(entry_id)
        if row is None or not row["finalized"]:
            raise AzureError(404, "BlobNotFound", "The specified blob does not exist.")
        try:
            f = open(self.emulator.blob_path(entry_id), "rb")  # an eviction now does not cut this download
        except FileNotFoundError:
            raise AzureError(404, "BlobNotFound", "The specified blob does not exist.") from None
        with f:
            size = os.fstat(f.fileno()).st_size
            etag = etag_of(row["modified"])
            headers = self.azure_headers({
                "Content-Type": "application/octet-stream", "ETag": etag,
                "Last-Modified": http_date(row["modified"]), "Accept-Ranges": "bytes",
                "x-ms-blob-type": "BlockBlob", "x-ms-creation-time": http_date(row["created"]),
                "x-ms-lease-status": "unlocked", "x-ms-lease-state": "available",
                "x-ms-server-encrypted": "true"})
            if_match, if_none_match = self.headers.get("If-Match"), self.headers.get("If-None-Match")
            if if_match and if_match not in ("*", etag):
                raise AzureError(412, "ConditionNotMet", "The condition specified using HTTP conditional "
                                 "header(s) is not met.")
            if if_none_match and if_none_match in ("*", etag):
                self.send(304, self.azure_headers({"ETag": etag}))
                return
            start, end, status = 0, size - 1, 200
            header = self.headers.get("x-ms-range") or self.headers.get("Range")
            if header:
                m = re.fullmatch(r"bytes=(\d+)-(\d*)", header.strip())
                if m is None or (m.group(2) and int(m.group(2)) < int(m.group(1))):
                    raise AzureError(400, "InvalidHeaderValue", "The value for one of the HTTP headers is not in "
                                     "the correct format (range).")
                start = int(m.group(1))
                if start >= size:
                    raise AzureError(416, "InvalidRange", "The range specified is invalid for the current size "
                                     "of the resource.", {"Content-Range": f"bytes */{size}"})
                end = min(int(m.group(2)), size - 1) if m.group(2) else size - 1
                status = 206
                headers["Content-Range"] = f"bytes {start}-{end}/{size}"
            elif row["md5"]:
                headers["Content-MD5"] = row["md5"]
            headers["Content-Length"] = str(end - start + 1)
            self.send(status, headers)
            if self.command == "HEAD" or end < start:
                return
            sent = 0
            try:
                sent = self.connection.sendfile(f, start, end - start + 1)
            finally:
                self.emulator.count("bytes_downloaded", sent)
            if sent != end - start + 1:
                self.close_connection = True


def xml_escape(text):
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # a client that went away is not a problem of the emulator
        super().handle_error(request, client_address)


def main():
    parser = argparse.ArgumentParser(description="GitHub Actions cache service v2 emulator (tests only)")
    parser.add_argument("port", type=int)
    parser.add_argument("data_dir")
    parser.add_argument("--uploads-per-minute", type=int, default=200)
    parser.add_argument("--repo-limit-bytes", type=int, default=10 << 30)
    parser.add_argument("--max-entry-bytes", type=int, default=10 << 30)
    parser.add_argument("--url-ttl-seconds", type=int, default=3600)
    parser.add_argument("--token-file", help="the runtime token to accept (default: $ACTIONS_RUNTIME_TOKEN)")
    parser.add_argument("--verbose", action="store_true", help="log every request on stderr")
    args = parser.parse_args()
    if args.token_file:
        with open(args.token_file) as f:
            token = f.read().strip()
    else:
        token = os.environ.get("ACTIONS_RUNTIME_TOKEN", "")
    if not token:
        parser.error("no runtime token: pass --token-file or set ACTIONS_RUNTIME_TOKEN")
    Handler.emulator = Emulator(args, token)
    server = Server(("127.0.0.1", args.port), Handler)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
