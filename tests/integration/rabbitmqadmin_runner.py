"""Run RabbitMQ's rabbitmqadmin many times without paying for a Python
start and its imports each time.

A server process loads the rabbitmqadmin script once (as a module, so its
``if __name__ == "__main__"`` does not run) and then, for each request,
forks a child that runs the script's main() with the request's arguments:
a process of its own, with its own stdout, stderr and exit status, exactly
as ``python3 rabbitmqadmin ARGS`` gives them, from the code that would run
there. The server has no threads, so forking it is safe.

Request and answer are one JSON line each on the server's stdin and
stdout: {"argv": [...], "out": PATH, "err": PATH, "timeout": S} ->
{"status": N}. A child still running after the timeout dies of SIGALRM
(status -14, as subprocess reports a signal).

Used through ``run(script, argv, timeout)``, which returns a
subprocess.CompletedProcess as subprocess.run(capture_output=True,
text=True) would.
"""
import atexit
import json
import os
import select
import subprocess
import sys
import tempfile
import threading

PYTHON = "/usr/bin/python3"


def _serve(script):
    import importlib.machinery
    import importlib.util
    import signal
    import traceback
    loader = importlib.machinery.SourceFileLoader("rabbitmqadmin_cli", script)
    spec = importlib.util.spec_from_loader("rabbitmqadmin_cli", loader)
    mod = importlib.util.module_from_spec(spec)
    loader.exec_module(mod)
    requests = sys.stdin
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)           # nothing but answers on the answer pipe
    for line in requests:
        req = json.loads(line)
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                null = os.open(os.devnull, os.O_RDONLY)
                out = os.open(req["out"], os.O_WRONLY | os.O_TRUNC)
                err = os.open(req["err"], os.O_WRONLY | os.O_TRUNC)
                os.dup2(null, 0)
                os.dup2(out, 1)
                os.dup2(err, 2)
                signal.alarm(int(req["timeout"]))
                sys.argv = [script] + req["argv"]
                try:
                    mod.main()
                    code = 0
                except SystemExit as e:
                    if e.code is None or isinstance(e.code, int):
                        code = e.code or 0
                    else:
                        print(e.code, file=sys.stderr)
                        code = 1
                except BaseException:
                    traceback.print_exc()
                    code = 1
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code)
        _, status = os.waitpid(pid, 0)
        code = (os.WEXITSTATUS(status) if os.WIFEXITED(status)
                else -os.WTERMSIG(status))
        answers.write(json.dumps({"status": code}) + "\n")
        answers.flush()


class _Server:
    def __init__(self, script):
        self.proc = subprocess.Popen([PYTHON, os.path.abspath(__file__), script],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
        self.lock = threading.Lock()
        self.dir = tempfile.TemporaryDirectory(prefix="sluice-rabbitmqadmin-")
        atexit.register(self.close)

    def run(self, argv, timeout):
        out, err = (os.path.join(self.dir.name, n) for n in ("out", "err"))
        with self.lock:
            for p in (out, err):
                open(p, "w").close()
            self.proc.stdin.write(json.dumps({"argv": argv, "out": out, "err": err,
                                              "timeout": timeout}) + "\n")
            self.proc.stdin.flush()
            ready, _, _ = select.select([self.proc.stdout], [], [], timeout + 10)
            line = self.proc.stdout.readline() if ready else ""
            if not line:
                self.close()
                raise RuntimeError("the rabbitmqadmin server did not answer")
            status = json.loads(line)["status"]
            with open(out, errors="replace") as f:
                stdout = f.read()
            with open(err, errors="replace") as f:
                stderr = f.read()
        return subprocess.CompletedProcess([PYTHON, "rabbitmqadmin"] + argv,
                                           status, stdout, stderr)

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.dir.cleanup()


_servers = {}


def run(script, argv, timeout=30):
    """rabbitmqadmin ARGV: a CompletedProcess with its status and output."""
    s = _servers.get(script)
    if s is None or s.proc.poll() is not None:
        s = _servers[script] = _Server(script)
    return s.run(list(argv), timeout)


if __name__ == "__main__":
    _serve(sys.argv[1])
