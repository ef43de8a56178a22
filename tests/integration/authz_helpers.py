"""Users, permissions and topic permissions for the authorization suites.

Everything is set up through the management API as guest (the default
administrator), the way an operator would, so the suites also exercise
those endpoints.
"""
import pika
import pika.exceptions as pe
import pytest

from amqpraw import pika_params
from http_helpers import api, q


def add_user(b, name, password, tags=""):
    st, body, _ = api(b, "PUT", "/api/users/" + q(name), {"password": password, "tags": tags})
    assert st in (201, 204), body


def set_perms(b, user, vhost="/", configure=".*", write=".*", read=".*"):
    st, body, _ = api(b, "PUT", "/api/permissions/%s/%s" % (q(vhost), q(user)),
                      {"configure": configure, "write": write, "read": read})
    assert st in (201, 204), body


def set_tperm(b, user, exchange, write, read, vhost="/"):
    st, body, _ = api(b, "PUT", "/api/topic-permissions/%s/%s" % (q(vhost), q(user)),
                      {"exchange": exchange, "write": write, "read": read})
    assert st in (201, 204), body
    return st


def add_vhost(b, name):
    st, body, _ = api(b, "PUT", "/api/vhosts/" + q(name))
    assert st in (201, 204), body


def user(b, name, password="pw", tags="", vhost="/", perms=(".*", ".*", ".*")):
    """A user with permissions on one vhost (perms None: none at all)."""
    add_user(b, name, password, tags)
    if perms is not None:
        set_perms(b, name, vhost, *perms)
    else:
        api(b, "DELETE", "/api/permissions/%s/%s" % (q(vhost), q(name)))
    return name


def amqp(b, name, password="pw", vhost="/"):
    return pika.BlockingConnection(pika_params(
        b, credentials=pika.PlainCredentials(name, password), virtual_host=vhost))


def refused(fn, code=403):
    """Run fn, expect the channel (or connection) closed with code; return the text."""
    with pytest.raises((pe.ChannelClosedByBroker, pe.ConnectionClosedByBroker)) as ei:
        fn()
    assert ei.value.reply_code == code, ei.value.reply_text
    return ei.value.reply_text
