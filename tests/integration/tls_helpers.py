"""A throwaway PKI for the transport tests, made with the openssl command at
run time (no private key is committed): a CA, a server certificate for
localhost / 127.0.0.1 / ::1, client certificates, and a second CA that the
broker does not trust.
"""
import os
import socket
import ssl
import subprocess
import tempfile

import pytest


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


class Pki:
    def __init__(self, path):
        self.dir = path
        self.serial = 1000
        self.ca("ca", "Sluice Test CA")
        self.ca("rogue-ca", "Rogue CA")
        self.server("server")
        self.client("alice", "/O=Sluice Test/CN=alice")
        self.client("bob", "/O=Sluice Test/CN=bob")
        self.client("mallory", "/CN=mallory", ca="rogue-ca")

    def p(self, name):
        return os.path.join(self.dir, name)

    def ca(self, name, cn):
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                 "-nodes", "-keyout", name + ".key", "-out", name + ".crt", "-days", "2",
                 "-subj", "/CN=" + cn, cwd=self.dir)

    def _sign(self, name, subj, ca, ext=None):
        self.serial += 1
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", name + ".key", "-out", name + ".csr", "-subj", subj, cwd=self.dir)
        args = ["x509", "-req", "-in", name + ".csr", "-CA", ca + ".crt", "-CAkey", ca + ".key",
                "-set_serial", str(self.serial), "-out", name + ".crt", "-days", "2"]
        if ext:
            with open(self.p(name + ".ext"), "w") as f:
                f.write(ext)
            args += ["-extfile", name + ".ext"]
        _openssl(*args, cwd=self.dir)
        return self.serial

    def server(self, name):
        """A server certificate; returns its serial number."""
        return self._sign(name, "/CN=localhost", "ca",
                          "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\n")

    def client(self, name, subj, ca="ca"):
        return self._sign(name, subj, ca)

    def context(self, client=None, minimum=None, maximum=None):
        """A client SSLContext trusting our CA, with an optional client cert."""
        ctx = ssl.create_default_context(cafile=self.p("ca.crt"))
        if client:
            ctx.load_cert_chain(self.p(client + ".crt"), self.p(client + ".key"))
        if minimum:
            ctx.minimum_version = minimum
        if maximum:
            ctx.maximum_version = maximum
        return ctx


@pytest.fixture(scope="session")
def pki():
    with tempfile.TemporaryDirectory(prefix="sluice-pki-") as d:
        yield Pki(d)


def tls_config(pki, verify="none", extra=""):
    return ("[tls]\ncert_file = %s\nkey_file = %s\nca_file = %s\nverify = %s\n%s"
            % (pki.p("server.crt"), pki.p("server.key"), pki.p("ca.crt"), verify, extra))


def peer_serial(port, host="127.0.0.1", ctx=None):
    """Serial number of the certificate the server presents on port."""
    ctx = ctx or ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            der = s.getpeercert(binary_form=True)
    out = subprocess.run(["openssl", "x509", "-inform", "DER", "-noout", "-serial"],
                         input=der, capture_output=True, check=True).stdout.decode()
    return int(out.strip().split("=")[1], 16)
