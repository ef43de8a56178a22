// update_secret.js URL SECRET: connect with amqplib, call
// connection.updateSecret(SECRET, reason), then use the connection, and
// print one JSON line: {"ok": true, "queue": ...} when the broker answered
// update-secret-ok and the connection still works, or {"ok": false,
// "code": N, "message": "..."} when the broker closed it.
'use strict';
const amqp = require('amqplib');

async function main() {
  const [url, secret] = process.argv.slice(2);
  const conn = await amqp.connect(url);
  // amqplib resolves updateSecret on update-secret-ok only: a refusal
  // shows as the connection's error and close, raced here.
  const closed = new Promise((resolve) => {
    conn.on('error', (err) => resolve(err));
    conn.on('close', (err) => resolve(err || new Error('closed')));
  });
  const outcome = await Promise.race([
    conn.updateSecret(Buffer.from(secret), 'token refresh').then(() => null),
    closed,
  ]);
  if (outcome) {
    console.log(JSON.stringify({ ok: false, code: outcome.code,
                                 message: String(outcome.message) }));
    return;
  }
  const ch = await conn.createChannel();
  const q = await ch.assertQueue('', { exclusive: true });
  ch.sendToQueue(q.queue, Buffer.from('after update'));
  const msg = await new Promise((resolve) => {
    const poll = async () => {
      const m = await ch.get(q.queue, { noAck: true });
      if (m) resolve(m); else setTimeout(poll, 20);
    };
    poll();
  });
  console.log(JSON.stringify({ ok: true, body: msg.content.toString() }));
  await conn.close();
}

main().catch((err) => {
  console.log(JSON.stringify({ ok: false, code: err.code, message: String(err.message) }));
});
