"""A small client for the HTTP management API of a test broker.

``api(b, "GET", "/api/queues")`` returns (status, parsed JSON or text,
headers). Credentials default to guest/guest; pass auth=None to send none.
Tests skip (exit code 77 semantics via pytest.skip) when the broker has no
HTTP listener.
"""
import base64
import http.client
import json
import urllib.parse

import pytest


def http_port(b):
    port = b.ports.get("http")
    if port is None:
        pytest.skip("sluiced has no HTTP listener")
    return port


def q(name):
    """Percent-encode one path segment ("/" -> "%2F")."""
    return urllib.parse.quote(name, safe="")


def api(b, method, path, body=None, auth=("guest", "guest"), headers=None, raw=None):
    conn = http.client.HTTPConnection("127.0.0.1", http_port(b), timeout=10)
    h = dict(headers or {})
    if auth is not None:
        token = base64.b64encode(("%s:%s" % auth).encode()).decode()
        h["Authorization"] = "Basic " + token
    data = raw
    if body is not None:
        data = json.dumps(body).encode()
        h["Content-Type"] = "application/json"
    conn.request(method, path, body=data, headers=h)
    r = conn.getresponse()
    text = r.read()
    hdrs = {k.lower(): v for k, v in r.getheaders()}
    conn.close()
    ctype = hdrs.get("content-type", "")
    if text and ctype.startswith("application/json"):
        return r.status, json.loads(text), hdrs
    return r.status, text.decode("utf-8", "replace"), hdrs
