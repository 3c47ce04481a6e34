#!/usr/bin/env python3
"""A reverse proxy in front of a real cache server that misbehaves on demand,
for the remote fault tests.

    fault_proxy.py PORT UPSTREAM_URL MODE_FILE

MODE_FILE holds one word, read on every request, so a test can change the
behaviour while a build runs:
    pass       forward as is
    error500   answer every request with 500
    hang       accept the request, then send nothing for an hour
    truncate   forward GETs with the body cut to half (the length header stays)
    corrupt    forward GETs with one byte of the body flipped
    garbage    answer GETs with 200 and bytes that are no cache entry
    reset      close the connection without an answer
    range_long     answer range GETs with 206 and the asked Content-Range, but the
                   body from the asked offset to the entry's end (longer than asked)
    range_shifted  answer range GETs with 206 for a range one byte later than asked
Listens on 127.0.0.1 only.
"""
import http.client
import http.server
import socketserver
import sys
import time
import urllib.parse

PORT = int(sys.argv[1])
UPSTREAM = urllib.parse.urlsplit(sys.argv[2])
MODE_FILE = sys.argv[3]


def mode():
    try:
        with open(MODE_FILE) as f:
            return f.read().strip() or "pass"
    except OSError:
        return "pass"


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        sys.stderr.write("%s %s\n" % (mode(), fmt % args))

    def forward(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        current = mode()
        if current == "reset":
            self.close_connection = True
            self.connection.close()
            return
        if current == "hang":
            time.sleep(3600)
            return
        if current == "error500":
            self.reply(500, b"injected failure\n")
            return
        if current == "garbage" and self.command == "GET":
            self.reply(200, b"\x00not a cache entry\xff" * 100)
            return
        asked = self.asked_range() if current.startswith("range_") and self.command == "GET" else None
        upstream = http.client.HTTPConnection(UPSTREAM.hostname, UPSTREAM.port, timeout=30)
        # The client's Host goes on: a server that hands out URLs on the host
        # it was called at (the GitHub Actions cache emulator) then keeps the
        # client behind this proxy.
        headers = {k: v for k, v in self.headers.items() if k.lower() != "connection"}
        if asked:
            headers.pop("Range", None)  # the whole entry, to cut the wrong piece from
        upstream.request(self.command, UPSTREAM.path + self.path, body=body, headers=headers)
        response = upstream.getresponse()
        data = response.read()
        upstream.close()
        if asked and response.status == 200:
            first, last = asked
            if current == "range_long":
                self.reply(206, data[first:], "bytes %d-%d/%d" % (first, last, len(data)))
            else:
                self.reply(206, data[first + 1 : last + 2], "bytes %d-%d/%d" % (first + 1, last + 1, len(data)))
            return
        if self.command == "GET" and response.status == 200 and data:
            if current == "truncate":
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                self.close_connection = True
                return
            if current == "corrupt":
                middle = len(data) // 2
                data = data[:middle] + bytes([data[middle] ^ 0xFF]) + data[middle + 1 :]
        self.reply(response.status, data, response.getheader("Content-Range"))

    def asked_range(self):
        spec = self.headers.get("Range", "")
        if not spec.startswith("bytes=") or "," in spec:
            return None
        first, _, last = spec[6:].partition("-")
        return (int(first), int(last)) if first.isdigit() and last.isdigit() else None

    def reply(self, status, data, content_range=None):
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        if content_range:
            self.send_header("Content-Range", content_range)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = forward


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


if __name__ == "__main__":
    Server(("127.0.0.1", PORT), Handler).serve_forever()
