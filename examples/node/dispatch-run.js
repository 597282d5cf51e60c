#!/usr/bin/env node
// dispatch-run.js -- submits one run to docker-dispatch and waits for its reply.
//
//   cd examples/node && npm ci && node dispatch-run.js [options] [IMAGE [CMD...]]
//
// Publishes {"Dockercmd": "run", "Image": IMAGE, "Cmd": CMD, "Options": {"Attach":
// ["STDOUT", "STDERR"], "Remove": true}} to the dispatcher's work queue, with a request
// id (messageId) and a correlation id, and takes its reply through RabbitMQ's direct
// reply-to. Default: busybox:latest echo 'hello world!'. With amqplib from the npm
// registry, at the version package-lock.json pins.
//
// --twice publishes the same request id a second time, as a publisher's retry would:
// the dispatcher runs it once and answers the copy with the error `duplicate`, which
// this client reads as "already accepted". docs/protocol.md describes the messages.
//
// Exit status: the container's exit code once it ran; 1 on an error reply; 2 when the
// broker or the queue cannot be used; 3 when no reply came in time; 64 on bad usage.
'use strict';

const { randomUUID } = require('node:crypto');
const amqp = require('amqplib');

const DEFAULT_URL = 'amqp://guest:guest@127.0.0.1:5672/';
const DEFAULT_QUEUE = 'dispatch';
const REPLY_TO = 'amq.rabbitmq.reply-to'; // direct reply-to: no reply queue to declare
const PROG = 'dispatch-run';
const USAGE = `usage: ${PROG} [--url URL] [-q QUEUE] [--id ID] [--timeout S] [--twice] [--linger S] [IMAGE [CMD...]]
  --url URL      broker [DISPATCH_AMQP_URL; ${DEFAULT_URL}]
  -q, --queue Q  work queue [DISPATCH_QUEUE; ${DEFAULT_QUEUE}]
  --id ID        request id (messageId); default: a fresh one
  --timeout S    seconds to wait for the reply [60]
  --twice        publish the request id twice, as a retry would
  --linger S     seconds to keep listening after the reply; another one is an error [0]
`;

// Ends the program with a message on stderr and an exit status.
class Failure extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

// Options first, then IMAGE and CMD, whose own options are left alone.
function parseArgs(argv) {
  const o = {
    url: process.env.DISPATCH_AMQP_URL || DEFAULT_URL,
    queue: process.env.DISPATCH_QUEUE || DEFAULT_QUEUE,
    id: null,
    timeout: '60',
    twice: false,
    linger: '0',
  };
  const valued = { '--url': 'url', '-q': 'queue', '--queue': 'queue', '--id': 'id',
    '--timeout': 'timeout', '--linger': 'linger' };
  let i = 0;
  for (; i < argv.length && argv[i].startsWith('-'); i++) {
    const eq = argv[i].startsWith('--') ? argv[i].indexOf('=') : -1;
    const name = eq > 0 ? argv[i].slice(0, eq) : argv[i];
    if (name === '--') {
      i++;
      break;
    } else if (name === '-h' || name === '--help') {
      process.stdout.write(USAGE);
      process.exit(0);
    } else if (name === '--twice') {
      o.twice = true;
    } else if (Object.hasOwn(valued, name)) {
      if (eq < 0 && i + 1 >= argv.length) throw new Failure(64, `${name} needs a value\n${USAGE}`);
      o[valued[name]] = eq > 0 ? argv[i].slice(eq + 1) : argv[++i];
    } else {
      throw new Failure(64, `unknown option ${name}\n${USAGE}`);
    }
  }
  o.image = argv[i] || 'busybox:latest';
  o.cmd = argv.length > i + 1 ? argv.slice(i + 1) : ['echo', 'hello world!'];
  o.timeout = Number(o.timeout);
  o.linger = Number(o.linger);
  if (!(o.timeout > 0) || !(o.linger >= 0))
    throw new Failure(64, '--timeout must be above 0 and --linger not below 0');
  if (!/^amqps?:\/\//.test(o.url))
    throw new Failure(64, 'bad broker URL: it must begin with amqp:// or amqps://');
  return o;
}

// One line per reply, then a run's output.
function printReply(corr, reply) {
  const err = reply.error || {};
  const result = reply.result || {};
  if (reply.ok) {
    const id = ((result.container || {}).id || '?').slice(0, 12);
    const late = result.timed_out ? ', timed out' : '';
    console.log(`reply ${corr}: ok, container ${id} exited ${result.exit_code}${late}`);
    process.stdout.write(result.stdout || '');
    process.stderr.write(result.stderr || '');
  } else if (err.code === 'duplicate') {
    const orig = err.original || {};
    console.log(`reply ${corr}: duplicate of request ${orig.request_id} (container ` +
      `${(orig.container || '?').slice(0, 12)}, ${orig.state || 'answered'}): ` +
      'already accepted, not run again');
  } else {
    console.log(`reply ${corr}: error ${err.code}`);
  }
}

// The exit status the replies give: the answer is the reply that is not `duplicate`.
function outcome(requestId, replies) {
  const answer = replies.find((r) => (r.error || {}).code !== 'duplicate');
  if (answer === undefined) return 0; // only copies: the request was accepted before
  if (answer.ok) {
    const code = (answer.result || {}).exit_code;
    return Number.isInteger(code) && code >= 0 && code <= 255 ? code : 0;
  }
  const err = answer.error || {};
  const field = err.field ? ` (field ${err.field})` : '';
  throw new Failure(1, `request ${requestId} failed: ${err.code}: ${err.message}${field}`);
}

// The replies of one channel by correlation id, and a way to wait for a condition on them.
class Replies {
  constructor() {
    this.byCorr = new Map();
    this.extra = null;
    this.broken = null;
    this.wake = () => {};
  }

  expect(corr) {
    this.byCorr.set(corr, []);
  }

  take(msg) {
    const corr = msg.properties.correlationId;
    const list = this.byCorr.get(corr);
    if (list === undefined) {
      console.log(`ignored a message for correlation id ${corr}`);
      return;
    }
    let reply;
    try {
      reply = JSON.parse(msg.content.toString('utf8'));
    } catch {
      reply = { ok: false, error: { code: 'unreadable', message: msg.content.toString('utf8', 0, 80) } };
    }
    list.push(reply);
    if (list.length > 1) this.extra = corr;
    printReply(corr, reply);
    this.wake();
  }

  fail(e) {
    this.broken = e;
    this.wake();
  }

  // Resolves once cond() holds (true) or after ms (false); a lost channel rejects.
  until(cond, ms) {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.broken) reject(new Failure(2, `lost the broker: ${this.broken.message}`));
        else if (cond()) resolve(true);
        else return false;
        clearTimeout(timer);
        return true;
      };
      const timer = setTimeout(() => resolve(cond()), ms);
      this.wake = check;
      check();
    });
  }
}

async function submit(o, conn) {
  const replies = new Replies();
  conn.on('error', (e) => replies.fail(e));
  const ch = await conn.createConfirmChannel();
  ch.on('error', (e) => replies.fail(e));
  let returned = false;
  ch.on('return', () => {
    returned = true;
  });
  await ch.consume(REPLY_TO, (msg) => msg && replies.take(msg), { noAck: true });

  const body = Buffer.from(JSON.stringify({
    Dockercmd: 'run', Image: o.image, Cmd: o.cmd,
    Options: { Attach: ['STDOUT', 'STDERR'], Remove: true },
  }));
  const requestId = o.id || 'js-' + randomUUID().replaceAll('-', '');
  const corrs = [];
  for (let n = o.twice ? 2 : 1; n > 0; n--) {
    const corr = randomUUID().replaceAll('-', '');
    replies.expect(corr);
    console.log(`publishing request ${requestId} (correlation ${corr}) to queue ${o.queue}`);
    ch.publish('', o.queue, body, {
      contentType: 'application/json', persistent: true, mandatory: true,
      messageId: requestId, correlationId: corr, replyTo: REPLY_TO,
    });
    await ch.waitForConfirms(); // a mandatory message RabbitMQ cannot route comes back first
    if (returned) throw new Failure(2, `queue ${o.queue} does not exist: is docker-dispatch running?`);
    corrs.push(corr);
  }

  const answered = () => corrs.every((c) => replies.byCorr.get(c).length > 0);
  if (!(await replies.until(answered, o.timeout * 1000)))
    throw new Failure(3, `no reply within ${o.timeout} s (request ${requestId}); it may still be carried out`);
  await replies.until(() => replies.extra !== null, o.linger * 1000);
  if (replies.extra !== null) throw new Failure(1, `a second reply for correlation id ${replies.extra}`);
  return outcome(requestId, corrs.map((c) => replies.byCorr.get(c)[0]));
}

async function main() {
  const o = parseArgs(process.argv.slice(2));
  let conn;
  try {
    conn = await amqp.connect(o.url);
  } catch (e) {
    throw new Failure(2, `cannot use the broker at ${new URL(o.url).host}: ${e.message}`);
  }
  try {
    return await submit(o, conn);
  } finally {
    await conn.close().catch(() => {});
  }
}

main().then(
  (status) => {
    process.exitCode = status;
  },
  (e) => {
    process.stderr.write(`${PROG}: ${e.message}\n`);
    process.exitCode = e instanceof Failure ? e.status : 1;
  },
);
