#!/usr/bin/env python3
"""A stand-in for an IOTA node's REST API, for provision's lab and tests; never installed on a real node.

It reads the node's own config file as Hornet 2 (JSON, restAPI.pow.enabled), Hornet 1 (JSON,
restAPI.powEnabled) or Bee (TOML, [rest_api] feature_proof_of_work) would, once at start like the real
nodes, so a changed setting shows only after a restart. It refuses to start on a missing or invalid file.

Routes (on 0.0.0.0:PORT):
  GET  /health         200
  GET  <info route>    200, JSON with a `features` list that holds "PoW" when the config enables it
                       (/api/core/v2/info for hornet-2; /api/v1/info, wrapped in "data", for hornet-1 and bee)
  POST <submit route>  201, with a made-up block or message id
                       (/api/core/v2/blocks for hornet-2; /api/v1/messages for hornet-1 and bee)
Every answer carries `X-Node-Name: <hostname>`, so a test behind a load balancer can tell which node answered.
STAND_IN_POST_DELAY (seconds, default 0) makes each POST take that long, as a node doing proof of work would.

Python because its standard library reads JSON and TOML (tomllib) and serves HTTP; Debian's
python3-minimal + libpython3-stdlib (about 4 s to install in a lab container) are all it needs.
"""
import argparse
import json
import os
import secrets
import socket
import sys
import time
import tomllib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROUTES = {
    "hornet-2": {"info": "/api/core/v2/info", "submit": "/api/core/v2/blocks"},
    "hornet-1": {"info": "/api/v1/info", "submit": "/api/v1/messages"},
    "bee": {"info": "/api/v1/info", "submit": "/api/v1/messages"},
}

# Bodies larger than this are refused: the stand-in only needs to accept small test blocks.
MAX_BODY = 1 << 20

# How long each POST takes: remote PoW keeps a real node busy for a while.
POST_DELAY = float(os.environ.get("STAND_IN_POST_DELAY") or 0)


def read_pow_setting(flavor, path):
    """Returns (enabled, workers) from the config file, or raises ValueError with a readable reason."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as error:
        raise ValueError(f"cannot read {path}: {error.strerror}") from error
    try:
        if flavor == "bee":
            section = tomllib.loads(raw.decode("utf-8")).get("rest_api", {})
            enabled, workers = section.get("feature_proof_of_work", False), None
        else:
            rest_api = json.loads(raw).get("restAPI", {})
            if flavor == "hornet-2":
                pow_section = rest_api.get("pow", {})
                enabled, workers = pow_section.get("enabled", False), pow_section.get("workerCount", 1)
            else:
                enabled, workers = rest_api.get("powEnabled", False), rest_api.get("powWorkerCount", 1)
    except (ValueError, AttributeError) as error:
        raise ValueError(f"{path} is not a valid {flavor} config: {error}") from error
    if not isinstance(enabled, bool):
        raise ValueError(f"{path}: the PoW setting must be true or false, not {enabled!r}")
    return enabled, workers


def info_document(flavor, enabled, workers):
    """The info route's answer, shaped like the flavor's own (only the fields a client checks first)."""
    features = ["PoW"] if enabled else []
    if flavor == "hornet-2":
        return {
            "name": "HORNET",
            "version": "2.0.0-stand-in",
            "status": {"isHealthy": True},
            "features": features,
            "powWorkers": workers if enabled else 0,
        }
    name, version = ("Bee", "0.3.0-stand-in") if flavor == "bee" else ("HORNET", "1.2.0-stand-in")
    return {"data": {"name": name, "version": version, "isHealthy": True, "features": features}}


def make_handler(flavor, info):
    routes = ROUTES[flavor]
    node_name = socket.gethostname()

    class Handler(BaseHTTPRequestHandler):
        server_version = "stand-in-node"
        # Every answer has a Content-Length, so connections can stay open (as a load balancer expects).
        protocol_version = "HTTP/1.1"

        def answer(self, status, document=None, headers=()):
            body = b"" if document is None else json.dumps(document).encode()
            self.send_response(status)
            self.send_header("X-Node-Name", node_name)
            self.send_header("Content-Length", str(len(body)))
            if document is not None:
                self.send_header("Content-Type", "application/json")
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def not_found(self):
            self.answer(404, {"error": {"code": "404", "message": f"no route {self.path}"}})

        def do_GET(self):
            path = self.path.split("?", 1)[0]
            if path == "/health":
                self.answer(200)
            elif path == routes["info"]:
                self.answer(200, info)
            else:
                self.not_found()

        do_HEAD = do_GET

        def do_POST(self):
            if self.path.split("?", 1)[0] != routes["submit"]:
                return self.not_found()
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY:
                return self.answer(413, {"error": {"code": "413", "message": "body too large"}})
            self.rfile.read(length)
            if POST_DELAY > 0:
                time.sleep(POST_DELAY)
            identifier = "0x" + secrets.token_hex(32)
            if flavor == "hornet-2":
                return self.answer(201, {"blockId": identifier}, [("Location", identifier)])
            self.answer(201, {"data": {"messageId": identifier[2:]}}, [("Location", identifier[2:])])

        def log_message(self, format, *args):
            sys.stderr.write("%s %s\n" % (self.address_string(), format % args))

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--flavor", choices=sorted(ROUTES), required=True)
    parser.add_argument("--config", required=True)
    parser.add_argument("--port", type=int, default=14265)
    options = parser.parse_args()
    try:
        enabled, workers = read_pow_setting(options.flavor, options.config)
    except ValueError as error:
        sys.stderr.write(f"stand-in-node: {error}\n")
        return 1
    info = info_document(options.flavor, enabled, workers)
    server = ThreadingHTTPServer(("0.0.0.0", options.port), make_handler(options.flavor, info))
    sys.stderr.write(f"stand-in-node: {options.flavor} on port {options.port}, remote PoW {'on' if enabled else 'off'}\n")
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())
