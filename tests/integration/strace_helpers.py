"""sluiced under strace: a wrapper script in SLUICED's place, and the stop
that ends the traced broker rather than strace (SIGTERM to strace would
detach it and leave sluiced running)."""
import os
import shutil
import signal
import subprocess

import conftest

STRACE = shutil.which("strace")


def wrap_sluiced(tmp_path, monkeypatch, strace_args):
    """Make conftest start sluiced as `strace -f -qq --seccomp-bpf ARGS`.
    LeakSanitizer cannot run under ptrace: an ASan build's leak check is
    left to the untraced runs."""
    wrapper = tmp_path / "sluiced-strace"
    wrapper.write_text("#!/bin/sh\n"
                       "ASAN_OPTIONS=\"${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0\" "
                       "exec %s -f -qq --seccomp-bpf %s %s \"$@\"\n"
                       % (STRACE, strace_args, conftest.SLUICED))
    wrapper.chmod(0o755)
    monkeypatch.setattr(conftest, "SLUICED", str(wrapper))


def stop_traced(b):
    """SIGTERM the traced sluiced, wait for strace to end with it, then
    stop (and clean up) the Broker; return sluiced's exit code or None."""
    if b.proc.poll() is None:
        for task in os.listdir("/proc/%d/task" % b.proc.pid):
            with open("/proc/%d/task/%s/children" % (b.proc.pid, task)) as f:
                for child in f.read().split():
                    os.kill(int(child), signal.SIGTERM)
        try:
            b.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
    return b.stop()
