"""The HTTP side of the client: one connection per request (http.client),
JSON in and out, and the server's error body turned into SpawndError.

A new connection per request keeps every call thread-safe without a pool
(output relay threads and the caller's own calls run at once); spawnd answers
on loopback in well under a millisecond, so this costs little.
"""
import http.client
import json
import os
import threading
import urllib.parse

_lock = threading.Lock()
_server = {"url": None, "token": None}


class SpawndError(Exception):
    """A request spawnd refused: ``status`` (HTTP), ``code`` (the API's
    snake_case error code), ``message`` and ``details`` (bad fields)."""

    def __init__(self, status, code, message, details=None):
        super().__init__("%s (%s %s)" % (message, status, code))
        self.status, self.code, self.message = status, code, message
        self.details = details or []


def set_server(url, token=None):
    """Talk to the spawnd at url (e.g. "http://127.0.0.1:8080") with an
    optional bearer token; without a call, SPAWND_URL and SPAWND_TOKEN from
    the environment (default http://127.0.0.1:8080, no token)."""
    with _lock:
        _server["url"], _server["token"] = url.rstrip("/"), token


def server():
    with _lock:
        url, token = _server["url"], _server["token"]
    if url is None:
        url = os.environ.get("SPAWND_URL", "http://127.0.0.1:8080").rstrip("/")
        token = os.environ.get("SPAWND_TOKEN") or None
    return url, token


def open_request(method, path, body=None, accept="application/json", timeout=None, headers=None):
    """Sends the request; returns (connection, response) for the caller to
    read and close. timeout: socket timeout in seconds (None: blocking);
    headers: more request headers (If-Match)."""
    url, token = server()
    parts = urllib.parse.urlsplit(url)
    kind = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = kind(parts.hostname, parts.port, timeout=timeout)
    headers = dict(headers or {}, Accept=accept)
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = "Bearer " + token
    try:
        conn.request(method, parts.path.rstrip("/") + path, body=data, headers=headers)
        return conn, conn.getresponse()
    except BaseException:
        conn.close()
        raise


def request(method, path, body=None, timeout=60, headers=None):
    """A JSON request; the parsed answer, or SpawndError for an error status."""
    conn, resp = open_request(method, path, body, timeout=timeout, headers=headers)
    try:
        raw = resp.read()
    finally:
        conn.close()
    try:
        answer = json.loads(raw) if raw else None
    except ValueError:
        answer = None
    if resp.status >= 400:
        error = answer.get("error", {}) if isinstance(answer, dict) else {}
        raise SpawndError(resp.status, error.get("code", "http_%d" % resp.status),
                          error.get("message", raw[:200].decode("utf-8", "replace")),
                          error.get("details"))
    return answer
