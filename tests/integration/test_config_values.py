"""sluice.conf values are read whole: ';' and '#' inside a value (a
password) are not comments, and a long line is not cut in two, whatever
libinih build the machine has (the broker reads the file itself)."""
import pika
import pytest

from amqp_helpers import connect, deadline  # noqa: F401


PASSWORD = "pa ss;word #1=x:y"
QUEUE = "q-" + "x" * 240


def config(durable):
    return ("; a comment line\n"
            "[user alice]\n"
            "password = %s\n"
            "tags = administrator\n"
            "[permission alice /]\n"
            "configure = .*\nwrite = .*\nread = .*\n"
            "[queue %s]\n"
            "durable = %s\n" % (PASSWORD, QUEUE, durable))


def test_password_with_comment_characters_logs_in(make_broker):
    # "yes ; ..." is not a boolean once read whole: refused at its line
    with pytest.raises(RuntimeError) as ei:
        make_broker(config_text=config("yes ; still part of the value"))
    assert "sluice.conf:10:" in str(ei.value) and "durable" in str(ei.value), ei.value

    b = make_broker(config_text=config("yes"))
    c = connect(b, credentials=pika.PlainCredentials("alice", PASSWORD))
    assert c.channel().queue_declare(QUEUE, passive=True, durable=True)
    c.close()
    with pytest.raises(pika.exceptions.ProbableAuthenticationError):
        connect(b, credentials=pika.PlainCredentials("alice", "pa ss"))
