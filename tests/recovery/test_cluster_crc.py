"""A follower that rejoins with its files tells the leader their sizes and
CRC-32C; the leader checks its own copies on a worker thread, not on the
loop that serves clients. Shown by where the CPU time goes (not by a
clock): a 512 MiB sparse file both nodes hold costs the leader a
measurable amount of CPU to checksum, and its main thread must not be
the one that spends it."""
import os

from cluster_helpers import etcd, nodes, publish_confirmed  # noqa: F401 (fixtures)

BIG = 512 << 20


def cpu_ticks(pid, tid=None):
    path = "/proc/%d/task/%d/stat" % (pid, tid) if tid else "/proc/%d/stat" % pid
    with open(path) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])       # utime + stime


def test_leader_checksums_a_joining_followers_files_off_the_loop(nodes):
    a = nodes("a").start()
    port = a.wait_leader()
    b = nodes("b").start()
    a.wait_log("follower b caught up")
    publish_confirmed(port, "q", [b"m-%d" % i for i in range(20)])
    b.stop()
    for n in (a, b):        # the same big file on both: holes read as zeros
        with open(os.path.join(n.data_dir, "big.bin"), "wb") as f:
            f.truncate(BIG)
    pid = a.proc.pid
    main0, all0 = cpu_ticks(pid, pid), cpu_ticks(pid)
    b.start()
    a.wait_log("follower b caught up", n=2, timeout=120)
    main1, all1 = cpu_ticks(pid, pid), cpu_ticks(pid)
    sent = [l for l in a.lines if "follower b: " in l and "bytes of files sent" in l][-1]
    assert int(sent.split("follower b: ")[1].split()[0]) < BIG, "big.bin was sent again"
    hz = os.sysconf("SC_CLK_TCK")
    print("leader CPU during the rejoin: %.2f s, of which its main thread %.2f s"
          % ((all1 - all0) / hz, (main1 - main0) / hz))
    assert all1 - all0 >= hz // 10, "the checksum should cost the leader some CPU"
    assert (main1 - main0) * 4 < all1 - all0, "the main thread computed the checksums"
