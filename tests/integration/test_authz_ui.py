"""The management UI as a user without the administrator tag, in headless
Chromium: it sees what the API lets it see (its vhost's queues, its own
totals) and the administrators' pages answer with the API's refusal
instead of data, without ending the session."""
import pytest

from authz_helpers import add_vhost, user
from conftest import Broker, wait_for
from http_helpers import api, http_port
from ui_helpers import Browser, artifacts_dir, missing


def test_management_user_sees_its_vhost_only(request):
    why = missing()
    if why:
        pytest.skip(why)
    b = Broker()
    add_vhost(b, "v1")
    user(b, "alice", tags="management", vhost="v1")
    assert api(b, "PUT", "/api/queues/v1/q-mine", {})[0] == 201
    assert api(b, "PUT", "/api/queues/%2F/q-other", {})[0] == 201
    br = Browser("http://127.0.0.1:%d" % http_port(b), artifacts_dir(request.node.name))
    try:
        br.login("alice", "pw")
        br.wait("#overview #totals")
        nav = br.texts("#nav a")
        assert "Queues" in nav and "Users" not in nav and "Definitions" not in nav, nav
        assert wait_for(lambda: br.text('#totals b[data-total="queues"]') == "1", 10)
        br.page("queues", '#queues tr[data-name="q-mine"]')
        assert br.count('#queues tr[data-name="q-other"]') == 0
        # opened by its address anyway, a page shows the API's refusal
        br.page("users", "#page")
        br.wait_text("#page", "Not administrator user")
        assert br.count("#users tr[data-name]") == 0
        # a refusal is not a logout: the next page still works
        br.page("queues", '#queues tr[data-name="q-mine"]')
        assert br.eval("document.getElementById('login').hidden") is True
        assert br.errors() == []
    finally:
        br.shot("end")
        br.close()
        alive = b.alive()
        b.stop()
    assert alive
