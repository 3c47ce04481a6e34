#!/usr/bin/env python3
"""The credential endpoints of ECS containers and of EC2 instance metadata
(IMDSv2), on loopback, for the credential tests. Each credential request is
answered with new temporary keys from MinIO's STS AssumeRole, signed with
the root keys by curl, so MinIO accepts what this hands out.

    aws_metadata_server.py PORT MINIO_URL ACCESS_KEY SECRET_KEY AUTH_TOKEN

  GET /ecs/...                 ECS container credentials; wants
                               "Authorization: AUTH_TOKEN"
  PUT /latest/api/token        IMDSv2 session token
  GET /latest/meta-data/iam/security-credentials/[ROLE]  with that token
  GET /stats                   {"credentials": N}: how many were handed out
"""
import json
import secrets
import subprocess
import sys
import threading
import xml.etree.ElementTree as ElementTree
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, minio_url, access_key, secret_key, auth_token = sys.argv[1:6]
ROLE = "gocachefs-test-role"
imds_tokens = set()
handed_out = 0
lock = threading.Lock()


def assume_role():
    """Temporary keys from MinIO, valid for its minimum of 15 minutes."""
    out = subprocess.run(
        ["curl", "-sS", "--max-time", "10", "--aws-sigv4", "aws:amz:us-east-1:sts", "--user",
         f"{access_key}:{secret_key}", "-d", "Action=AssumeRole&Version=2011-06-15&DurationSeconds=900",
         minio_url + "/"], check=True, capture_output=True, text=True).stdout
    ns = {"sts": "https://sts.amazonaws.com/doc/2011-06-15/"}
    credentials = ElementTree.fromstring(out).find(".//sts:Credentials", ns)
    if credentials is None:
        raise RuntimeError("MinIO's AssumeRole answered: " + out[:300])
    field = lambda name: credentials.find("sts:" + name, ns).text
    return {"AccessKeyId": field("AccessKeyId"), "SecretAccessKey": field("SecretAccessKey"),
            "Token": field("SessionToken"), "Expiration": field("Expiration")}


class Handler(BaseHTTPRequestHandler):
    def do_PUT(self):
        if self.path != "/latest/api/token":
            return self.reply(404, "not found\n")
        if not self.headers.get("X-aws-ec2-metadata-token-ttl-seconds"):
            return self.reply(400, "missing X-aws-ec2-metadata-token-ttl-seconds\n")
        token = secrets.token_hex(16)
        with lock:
            imds_tokens.add(token)
        self.reply(200, token, "text/plain")

    def do_GET(self):
        global handed_out
        if self.path == "/stats":
            with lock:
                return self.reply(200, json.dumps({"credentials": handed_out}))
        if self.path.startswith("/ecs/"):
            if self.headers.get("Authorization") != auth_token:
                return self.reply(401, "wrong or missing Authorization\n")
            body = assume_role()
            body["RoleArn"] = "arn:aws:iam::000000000000:role/" + ROLE
        elif self.path.startswith("/latest/meta-data/iam/security-credentials/"):
            with lock:
                if self.headers.get("X-aws-ec2-metadata-token") not in imds_tokens:
                    return self.reply(401, "IMDSv2 token wanted\n")
            role = self.path.rsplit("/", 1)[1]
            if not role:
                return self.reply(200, ROLE, "text/plain")
            if role != ROLE:
                return self.reply(404, "no such role\n")
            body = {"Code": "Success", "Type": "AWS-HMAC", "LastUpdated": "2026-01-01T00:00:00Z", **assume_role()}
        else:
            return self.reply(404, "not found\n")
        with lock:
            handed_out += 1
        self.reply(200, json.dumps(body))

    def reply(self, code, body, content_type="application/json"):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        sys.stderr.write("metadata: " + fmt % args + "\n")


ThreadingHTTPServer(("127.0.0.1", int(port)), Handler).serve_forever()
