// MQTT.js against sluiced: node mqtt_ws.js URL PROTOCOL_VERSION CA_FILE
// Connects (ws:// or wss://), subscribes to js/#, publishes one QoS 1
// message to js/t and prints "ok mqtt.js/<version> <topic> <payload>" when
// it comes back; exits 1 on any error or after 10 s.
'use strict';
const fs = require('fs');
const mqtt = require('mqtt');

const [url, version, ca] = process.argv.slice(2);
const client = mqtt.connect(url, {
  username: 'guest',
  password: 'guest',
  protocolVersion: Number(version),
  ca: ca ? fs.readFileSync(ca) : undefined,
  reconnectPeriod: 0,
});
const timer = setTimeout(() => { console.log('timeout'); process.exit(1); }, 10000);
client.on('connect', () => {
  client.subscribe('js/#', { qos: 1 }, (err) => {
    if (err) { console.log('subscribe error', err.message); process.exit(1); }
    client.publish('js/t', 'hello from mqtt.js', { qos: 1 });
  });
});
client.on('message', (topic, payload) => {
  console.log(`ok mqtt.js/${version} ${topic} ${payload.toString()}`);
  clearTimeout(timer);
  client.end();
});
client.on('error', (e) => { console.log('error', e.message); process.exit(1); });
