"""sluicectl's access-control commands, with rabbitmqctl's arguments,
banners and columns: topic permissions, user limits and vhost limits."""
from test_sluicectl import ctl, lines, rows, uniq  # noqa: F401 (fixture)


def test_topic_permissions(ctl):  # noqa: F811
    u = uniq("tpu")
    ctl.ok("-q", "add_user", u, "pw")
    out = ctl.ok("set_topic_permissions", u, "amq.topic", "^a\\.", "^b\\.")
    assert out == ('Setting topic permissions on "amq.topic" for user "%s" in vhost "/" ...\n'
                   % u)
    ctl.ok("-q", "set_topic_permissions", u, "x2", "", ".*")
    out = ctl.ok("list_topic_permissions")
    assert lines(out)[0] == 'Listing topic permissions for vhost "/" ...'
    assert lines(out)[1] == "user\texchange\twrite\tread"
    body = rows(out[out.index("\n") + 1:])
    assert [u, "amq.topic", "^a\\.", "^b\\."] in body and [u, "x2", "", ".*"] in body
    out = ctl.ok("list_user_topic_permissions", u)
    assert lines(out)[:2] == ['Listing topic permissions for user "%s" ...' % u,
                              "vhost\texchange\twrite\tread"]
    assert ["/", "amq.topic", "^a\\.", "^b\\."] in rows(out[out.index("\n") + 1:])
    assert {"vhost": "/", "exchange": "x2", "write": "", "read": ".*"} in \
        ctl.json("list_user_topic_permissions", u)
    out = ctl.ok("clear_topic_permissions", u, "x2")
    assert out == ('Clearing topic permissions on "x2" for user "%s" in vhost "/" ...\n' % u)
    assert len(ctl.json("list_user_topic_permissions", u)) == 1
    out = ctl.ok("clear_topic_permissions", u)
    assert out == 'Clearing topic permissions for user "%s" in vhost "/" ...\n' % u
    assert ctl.json("list_user_topic_permissions", u) == []
    # nothing left to clear is not an error; a missing user or vhost is
    ctl.ok("-q", "clear_topic_permissions", u)
    r = ctl.run("set_topic_permissions", uniq("nobody"), "amq.topic", "", "")
    assert r.returncode == 67 and "does not exist" in r.stderr
    r = ctl.run("set_topic_permissions", "-p", uniq("nov"), u, "amq.topic", "", "")
    assert r.returncode == 65 and "does not exist" in r.stderr
    r = ctl.run("set_topic_permissions", u, "amq.topic", "(", "")
    assert r.returncode != 0 and "invalid regular expression" in r.stderr
    r = ctl.run("list_user_topic_permissions", uniq("nobody"))
    assert r.returncode == 67
    ctl.ok("-q", "delete_user", u)
