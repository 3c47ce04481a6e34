#!/usr/bin/env python3
"""A tiny OpenID provider for the web identity tests: MinIO reads its
discovery document and keys, and accepts the tokens it signs.

    oidc_provider.py PORT DIR CLIENT_ID

Serves /.well-known/openid-configuration and /jwks on 127.0.0.1:PORT, and
writes DIR/token: a JWT for CLIENT_ID, valid for an hour, whose "policy"
claim is MinIO's readwrite policy. GET /token?lifetime=SECONDS signs a new
one. RS256 with the openssl command: no Python packages needed.
"""
import base64
import json
import os
import subprocess
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port, directory, client_id = int(sys.argv[1]), sys.argv[2], sys.argv[3]
issuer = f"http://127.0.0.1:{port}"
key_file = os.path.join(directory, "oidc-key.pem")
KID = "gocachefs-test"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


if not os.path.exists(key_file):
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key_file],
                   check=True, capture_output=True)
modulus_hex = subprocess.run(["openssl", "rsa", "-in", key_file, "-noout", "-modulus"], check=True,
                             capture_output=True, text=True).stdout.strip().split("=", 1)[1]
jwks = {"keys": [{"kty": "RSA", "use": "sig", "alg": "RS256", "kid": KID,
                  "n": b64url(bytes.fromhex(modulus_hex)), "e": b64url((65537).to_bytes(3, "big"))}]}
discovery = {
    "issuer": issuer,
    "jwks_uri": issuer + "/jwks",
    "authorization_endpoint": issuer + "/authorize",
    "token_endpoint": issuer + "/token",
    "userinfo_endpoint": issuer + "/userinfo",
    "response_types_supported": ["code", "id_token"],
    "subject_types_supported": ["public"],
    "id_token_signing_alg_values_supported": ["RS256"],
    "scopes_supported": ["openid"],
    "claims_supported": ["sub", "aud", "exp", "policy"],
}


def sign_token(lifetime: int) -> str:
    now = int(time.time())
    header = {"alg": "RS256", "typ": "JWT", "kid": KID}
    claims = {"iss": issuer, "sub": "gocachefs-builder", "aud": client_id, "azp": client_id,
              "iat": now, "exp": now + lifetime, "policy": "readwrite"}
    signing_input = b64url(json.dumps(header).encode()) + "." + b64url(json.dumps(claims).encode())
    signature = subprocess.run(["openssl", "dgst", "-sha256", "-sign", key_file], input=signing_input.encode(),
                               check=True, capture_output=True).stdout
    return signing_input + "." + b64url(signature)


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        url = urllib.parse.urlparse(self.path)
        if url.path == "/.well-known/openid-configuration":
            self.reply(200, json.dumps(discovery), "application/json")
        elif url.path == "/jwks":
            self.reply(200, json.dumps(jwks), "application/json")
        elif url.path == "/token":
            lifetime = int(urllib.parse.parse_qs(url.query).get("lifetime", ["3600"])[0])
            self.reply(200, sign_token(lifetime), "text/plain")
        else:
            self.reply(404, "not found\n", "text/plain")

    def reply(self, code, body, content_type):
        data = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt, *args):
        sys.stderr.write("oidc: " + fmt % args + "\n")


with open(os.path.join(directory, "token.tmp"), "w") as f:
    f.write(sign_token(3600))
os.replace(os.path.join(directory, "token.tmp"), os.path.join(directory, "token"))
ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()
