#!/usr/bin/python3
"""dispatch_run.py -- submits one run to docker-dispatch and waits for its reply.

    /usr/bin/python3 examples/python/dispatch_run.py [options] [IMAGE [CMD...]]

Publishes {"Dockercmd": "run", "Image": IMAGE, "Cmd": CMD, "Options": {"Attach":
["STDOUT", "STDERR"], "Remove": true}} to the dispatcher's work queue, with a request
id (message_id) and a correlation id, and takes its reply through RabbitMQ's direct
reply-to. Default: busybox:latest echo 'hello world!'. With pika from Debian
(apt install python3-pika), under Debian's own interpreter.

--twice publishes the same request id a second time, as a publisher's retry would:
the dispatcher runs it once and answers the copy with the error `duplicate`, which
this client reads as "already accepted". docs/protocol.md describes the messages.

Exit status: the container's exit code once it ran; 1 on an error reply; 2 when the
broker or the queue cannot be used; 3 when no reply came in time; 64 on bad usage.
"""

import argparse
import json
import os
import sys
import time
import uuid

import pika
import pika.exceptions

DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/"
DEFAULT_QUEUE = "dispatch"
REPLY_TO = "amq.rabbitmq.reply-to"  # direct reply-to: no reply queue to declare
PROG = "dispatch-run"


class Failure(Exception):
    """Ends the program with a message on stderr and an exit status."""

    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def reason(e):
    """What went wrong, in words: pika nests the cause of a failed connect."""
    if str(e):
        return str(e)
    inner = e.args[0] if e.args else None
    return (str(inner) or repr(inner)) if inner is not None else type(e).__name__


class Parser(argparse.ArgumentParser):
    def error(self, message):
        self.print_usage(sys.stderr)
        self.exit(64, "%s: %s\n" % (PROG, message))


def parse_args():
    p = Parser(prog=PROG, description="Submit a run to docker-dispatch.")
    p.add_argument("--url", default=os.environ.get("DISPATCH_AMQP_URL") or DEFAULT_URL,
                   help="broker URL [DISPATCH_AMQP_URL; %s]" % DEFAULT_URL)
    p.add_argument("-q", "--queue", default=os.environ.get("DISPATCH_QUEUE") or DEFAULT_QUEUE,
                   help="work queue [DISPATCH_QUEUE; %s]" % DEFAULT_QUEUE)
    p.add_argument("--id", help="request id (message_id); default: a fresh one")
    p.add_argument("--timeout", type=float, default=60, help="seconds to wait for the reply")
    p.add_argument("--twice", action="store_true",
                   help="publish the request id twice, as a retry would")
    p.add_argument("--linger", type=float, default=0,
                   help="seconds to keep listening after the reply; another one is an error")
    p.add_argument("image", nargs="?", default="busybox:latest")
    p.add_argument("cmd", nargs=argparse.REMAINDER)
    args = p.parse_args()
    if args.timeout <= 0 or args.linger < 0:
        p.error("--timeout must be above 0 and --linger not below 0")
    return args


class Client:
    """One connection and channel: publishes copies and gathers their replies."""

    def __init__(self, url):
        try:
            if not url.startswith(("amqp://", "amqps://")):
                raise ValueError("it must begin with amqp:// or amqps://")
            params = pika.URLParameters(url)
        except ValueError as e:
            raise Failure(64, "bad broker URL: %s" % e)
        try:
            self.conn = pika.BlockingConnection(params)
            self.ch = self.conn.channel()
            self.ch.confirm_delivery()  # basic_publish returns once RabbitMQ has the message
            self.ch.basic_consume(REPLY_TO, self.on_reply, auto_ack=True)
        except (pika.exceptions.AMQPError, OSError) as e:
            raise Failure(2, "cannot use the broker at %s:%s: %s" % (params.host, params.port,
                                                                     reason(e)))
        self.replies = {}  # correlation id -> the replies that came for it
        self.extra = None

    def on_reply(self, ch, method, props, body):
        corr = props.correlation_id
        if corr not in self.replies:
            print("ignored a message for correlation id %r" % corr)
            return
        try:
            reply = json.loads(body)
        except ValueError:
            reply = {"ok": False, "error": {"code": "unreadable", "message": repr(body[:80])}}
        self.replies[corr].append(reply)
        if len(self.replies[corr]) > 1:
            self.extra = corr
        print_reply(corr, reply)

    def publish(self, queue, request_id, body):
        corr = uuid.uuid4().hex
        props = pika.BasicProperties(content_type="application/json", delivery_mode=2,
                                     message_id=request_id, correlation_id=corr,
                                     reply_to=REPLY_TO)
        self.replies[corr] = []
        print("publishing request %s (correlation %s) to queue %s" % (request_id, corr, queue),
              flush=True)
        try:
            self.ch.basic_publish("", queue, body, props, mandatory=True)
        except pika.exceptions.UnroutableError:
            raise Failure(2, "queue %s does not exist: is docker-dispatch running?" % queue)
        except pika.exceptions.AMQPError as e:
            raise Failure(2, "publishing to %s failed: %s" % (queue, reason(e)))
        return corr

    def wait(self, until, stop):
        """Reads replies until stop() holds or the monotonic time until."""
        while not stop():
            left = until - time.monotonic()
            if left <= 0:
                return False
            try:
                self.conn.process_data_events(time_limit=min(left, 0.5))
            except pika.exceptions.AMQPError as e:
                raise Failure(2, "lost the broker: %s" % reason(e))
        return True

    def close(self):
        try:
            self.conn.close()
        except pika.exceptions.AMQPError:
            pass


def print_reply(corr, reply):
    """One line per reply, then a run's output."""
    err = reply.get("error") or {}
    result = reply.get("result") or {}
    if reply.get("ok"):
        container = (result.get("container") or {}).get("id") or "?"
        print("reply %s: ok, container %s exited %s%s" %
              (corr, container[:12], result.get("exit_code"),
               ", timed out" if result.get("timed_out") else ""))
        sys.stdout.write(result.get("stdout") or "")
        sys.stderr.write(result.get("stderr") or "")
    elif err.get("code") == "duplicate":
        orig = err.get("original") or {}
        print("reply %s: duplicate of request %s (container %s, %s): already accepted, "
              "not run again" % (corr, orig.get("request_id"), (orig.get("container") or "?")[:12],
                                 orig.get("state") or "answered"))
    else:
        print("reply %s: error %s" % (corr, err.get("code")))
    sys.stdout.flush()


def outcome(request_id, replies):
    """The exit status the replies give: the answer is the reply that is not `duplicate`."""
    answers = [r for r in replies if (r.get("error") or {}).get("code") != "duplicate"]
    if not answers:
        return 0  # only copies: the request was accepted before
    answer = answers[0]
    if answer.get("ok"):
        code = (answer.get("result") or {}).get("exit_code")
        return code if isinstance(code, int) and 0 <= code <= 255 else 0
    err = answer.get("error") or {}
    field = " (field %s)" % err["field"] if err.get("field") else ""
    raise Failure(1, "request %s failed: %s: %s%s" %
                  (request_id, err.get("code"), err.get("message"), field))


def main():
    args = parse_args()
    request = {"Dockercmd": "run", "Image": args.image,
               "Cmd": args.cmd or ["echo", "hello world!"],
               "Options": {"Attach": ["STDOUT", "STDERR"], "Remove": True}}
    body = json.dumps(request).encode()
    request_id = args.id or "py-" + uuid.uuid4().hex
    client = Client(args.url)
    try:
        corrs = [client.publish(args.queue, request_id, body)
                 for _ in range(2 if args.twice else 1)]
        answered = lambda: all(client.replies[c] for c in corrs)
        if not client.wait(time.monotonic() + args.timeout, answered):
            raise Failure(3, "no reply within %g s (request %s); it may still be carried out"
                          % (args.timeout, request_id))
        client.wait(time.monotonic() + args.linger, lambda: client.extra is not None)
        if client.extra is not None:
            raise Failure(1, "a second reply for correlation id %s" % client.extra)
        return outcome(request_id, [client.replies[c][0] for c in corrs])
    finally:
        client.close()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Failure as f:
        print("%s: %s" % (PROG, f), file=sys.stderr)
        sys.exit(f.status)
