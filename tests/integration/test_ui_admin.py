"""The management UI's admin pages in headless Chromium: users, virtual
hosts, permissions, topic permissions and policies (add, edit, delete),
each change checked through the API and, where it matters, by logging in
with pika as the user the page changed."""
import pika
import pytest

from conftest import wait_for
from http_helpers import api
from ui_helpers import ui  # noqa: F401  (fixture)


def can_connect(b, user, password, vhost="/"):
    try:
        conn = pika.BlockingConnection(pika.ConnectionParameters(
            b.host, b.port, virtual_host=vhost, credentials=pika.PlainCredentials(user, password)))
    except pika.exceptions.AMQPError:
        return False
    conn.close()
    return True


def test_users_vhosts_and_permissions(ui):
    b, br = ui
    # vhost
    br.page("vhosts", '#vhosts tr[data-name="/"]')
    br.fill("#add-vhost-name", "team-a")
    br.click("#add-vhost-submit")
    br.wait('#vhosts tr[data-name="team-a"]')
    assert api(b, "GET", "/api/vhosts/team-a")[0] == 200
    # user
    br.page("users", '#users tr[data-name="guest"]')
    br.fill("#add-user-name", "alice")
    br.fill("#add-user-password", "s3cret")
    br.fill("#add-user-tags", "monitoring")
    br.click("#add-user-submit")
    br.wait('#users tr[data-name="alice"]')
    st, u, _ = api(b, "GET", "/api/users/alice")
    assert st == 200 and u["tags"] in (["monitoring"], "monitoring")
    assert br.row_cells("#users", "alice")[1] == "monitoring"
    assert not can_connect(b, "alice", "s3cret", "team-a")      # no permission yet
    # permission in team-a from the user's page
    br.click('#users tr[data-name="alice"] a')
    br.wait("#user-details")
    br.click("#set-permission-section summary")
    br.wait("#set-permission-vhost option[value=team-a]", state="attached")
    br.select("#set-permission-vhost", "team-a")
    br.fill("#set-permission-configure", "^alice-.*")
    br.click("#set-permission-submit")
    br.wait_text("#permissions", "team-a")
    st, p, _ = api(b, "GET", "/api/permissions/team-a/alice")
    assert st == 200 and p["configure"] == "^alice-.*" and p["write"] == ".*"
    assert can_connect(b, "alice", "s3cret", "team-a")
    br.shot("user")
    # the vhost's page lists it
    br.page("vhost/team-a", "#vhost-permissions")
    br.wait_text("#vhost-permissions", "alice")
    # change tags, keep the password
    br.page("user/alice", "#user-details")
    br.click("#update-user-section summary")
    br.fill("#update-user-tags", "management")
    br.click("#update-user-submit")
    br.wait_text("#user-details", "management")
    assert can_connect(b, "alice", "s3cret", "team-a")
    # new password: the old one stops working
    br.fill("#update-user-password", "n3w")
    br.click("#update-user-submit")
    br.wait_text("#flash", "updated")
    assert wait_for(lambda: can_connect(b, "alice", "n3w", "team-a"))
    assert not can_connect(b, "alice", "s3cret", "team-a")
    # clear the permission
    br.click("#permissions .clear-perm")
    br.wait_text("#permissions", "None.")
    assert api(b, "GET", "/api/permissions/team-a/alice")[0] == 404
    # delete the user
    br.click("#delete-section summary")
    br.click("#delete-user-button")
    br.click("#delete-user-yes")
    br.wait('#users tr[data-name="guest"]')
    assert api(b, "GET", "/api/users/alice")[0] == 404
    # delete the vhost
    br.page("vhost/team-a", "#vhost-permissions")
    br.click("#delete-section summary")
    br.click("#delete-vhost-button")
    br.click("#delete-vhost-yes")
    br.wait('#vhosts tr[data-name="/"]')
    assert api(b, "GET", "/api/vhosts/team-a")[0] == 404


def test_topic_permissions(ui):
    b, br = ui
    if api(b, "GET", "/api/topic-permissions")[0] == 404:
        pytest.skip("this build has no /api/topic-permissions")
    api(b, "PUT", "/api/users/bob", {"password": "pw", "tags": ""})
    api(b, "PUT", "/api/permissions/%2F/bob", {"configure": ".*", "write": ".*", "read": ".*"})
    br.page("user/bob", "#user-details")
    br.click("#set-topic-permission-section summary")
    br.fill("#set-topic-permission-exchange", "amq.topic")
    br.fill("#set-topic-permission-write", "^sensors\\.")
    br.fill("#set-topic-permission-read", ".*")
    br.click("#set-topic-permission-submit")
    br.wait_text("#topic-permissions", "^sensors\\.")
    st, tp, _ = api(b, "GET", "/api/topic-permissions/%2F/bob")
    assert st == 200 and [(x["exchange"], x["write"]) for x in tp] == [("amq.topic", "^sensors\\.")]
    # a second exchange: clearing one entry leaves the other
    api(b, "PUT", "/api/topic-permissions/%2F/bob", {"exchange": "x2", "write": "w2", "read": "r2"})
    br.page("user/bob", '#topic-permissions td')
    br.wait_text("#topic-permissions", "x2")
    br.click('#topic-permissions tr:has(td:text-is("amq.topic")) .clear-perm')
    br.wait_text("#flash", "cleared")
    st, tp, _ = api(b, "GET", "/api/topic-permissions/%2F/bob")
    assert [x["exchange"] for x in tp] == ["x2"]
    br.wait("#topic-permissions tr:has(td:text-is(\"amq.topic\"))", state="detached")
    br.click("#topic-permissions .clear-perm")
    br.wait_text("#topic-permissions", "None.")
    st, tp, _ = api(b, "GET", "/api/topic-permissions/%2F/bob")
    assert st == 404 or tp == []


@pytest.mark.parametrize("kind", ["policies", "operator-policies"])
def test_policies(ui, kind):
    b, br = ui
    if api(b, "GET", "/api/" + kind)[0] == 404:
        pytest.skip("this build has no /api/" + kind)
    conn = pika.BlockingConnection(pika.ConnectionParameters(b.host, b.port))
    ch = conn.channel()
    ch.queue_declare("capped-1")
    br.page(kind, "#add-" + kind)
    form = "#add-" + kind
    br.fill(form + "-name", "cap")
    br.fill(form + "-pattern", "^capped-")
    br.select(form + "-apply_to", "queues")
    br.fill(form + "-priority", "3")
    br.fill(form + "-definition", '{"max-length": 2}')
    br.click(form + "-submit")
    br.wait_text("#" + kind, "^capped-")
    st, p, _ = api(b, "GET", "/api/%s/%%2F/cap" % kind)
    assert st == 200 and p["pattern"] == "^capped-" and p["apply-to"] == "queues"
    assert p["priority"] == 3 and p["definition"] == {"max-length": 2}
    # it applies to the queue as pika sees it
    for i in range(5):
        ch.basic_publish("", "capped-1", b"%d" % i)
    assert wait_for(lambda: ch.queue_declare("capped-1", passive=True).method.message_count == 2)
    br.shot(kind)
    # edit: the form comes back filled
    br.click("#%s .edit" % kind)
    br.wait("#edit-section")
    assert br.eval("document.querySelector('#edit-section [name=pattern]').value") == "^capped-"
    br.fill("#edit-section [name=definition]", '{"max-length": 4}')
    br.click("#edit-section button[type=submit]")
    assert wait_for(lambda: api(b, "GET", "/api/%s/%%2F/cap" % kind)[1]
                    .get("definition") == {"max-length": 4})
    # delete
    br.click("#%s .delete" % kind)
    br.wait_text("#" + kind, "No policies.")
    assert api(b, "GET", "/api/%s/%%2F/cap" % kind)[0] == 404
    conn.close()
