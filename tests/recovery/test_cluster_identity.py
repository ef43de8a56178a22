"""The cluster's identity: etcd holds it (<prefix>/cluster), each data_dir
records the one it belongs to (cluster.node). A node whose data_dir
belongs to another cluster than etcd's refuses to join (exit status 3)
and its files stay as they were; a fresh node takes the cluster's
identity; a founder on an empty prefix keeps its data_dir's."""
import os
import subprocess

from recovery_helpers import drain
from cluster_helpers import etcd, nodes, publish_confirmed, wait_for  # noqa: F401 (fixtures)


def local_id(node):
    with open(os.path.join(node.data_dir, "cluster.node")) as f:
        lines = f.read().splitlines()
    ids = [l.split()[1] for l in lines if l.startswith("cluster ")]
    return ids[0] if ids else None


def etcd_get(etcd, key):
    r = subprocess.run(["etcdctl", "--endpoints", etcd.url, "get", "--print-value-only", key],
                       env=dict(os.environ, ETCDCTL_API="3"), capture_output=True, text=True,
                       check=True)
    return r.stdout.strip()


def test_a_data_dir_of_another_cluster_does_not_join(nodes, etcd):
    solo = ["cluster.min_in_sync_followers=0"]
    a = nodes("a", solo + ["cluster.etcd_prefix=one"]).start()
    a.wait_leader()
    b = nodes("b", ["cluster.etcd_prefix=one"]).start()
    a.wait_log("follower b caught up")
    one = etcd_get(etcd, "one/cluster")
    assert len(one) == 32 and local_id(a) == one and local_id(b) == one
    # c founds another cluster under another prefix, with a message
    c = nodes("c", solo + ["cluster.etcd_prefix=two"]).start()
    publish_confirmed(c.wait_leader(), "mine", [b"c's own message"])
    two = etcd_get(etcd, "two/cluster")
    assert two != one and local_id(c) == two
    c.stop()
    before = c.files()
    # pointed at the first cluster, c refuses to copy over its data
    c.sets = solo + ["cluster.etcd_prefix=one"]
    c.start()
    assert c.proc.wait(20) == 3
    c.stop()
    assert "data_dir '%s' belongs to cluster %s, but etcd (prefix 'one') holds cluster %s" \
        % (c.data_dir, two, one) in c.log()
    assert c.files() == before and local_id(c) == two
    assert a.count("follower c") == 0
    # on an empty prefix (etcd's data lost, say) c founds again with its
    # own identity, and its message is there
    c.sets = solo + ["cluster.etcd_prefix=three"]
    port = c.start().wait_leader()
    assert etcd_get(etcd, "three/cluster") == two
    wait_for(lambda: c.count("founds cluster " + two), 10, "c to found")
    assert [m for m, _ in drain(port, "mine")] == [b"c's own message"]
