"""Event callbacks to a real HTTP receiver, from the real service processes.

The receiver verifies every request with the snippet the README gives (read from README.md and
run here, so the documentation cannot drift from the code).
"""

import http.server
import json
import re
import threading
import time
import urllib.request

from alibabacloud_live20161101 import models as live
from conftest import ROOT
from test_sdk import tea_client

FAST = {
    # A self-hosted network: the receiver is on 127.0.0.1 with a port.
    "callbacks__allow_private_urls": "true",
    "callbacks__poll_ms": "50",
    "callbacks__initial_backoff_ms": "200",
    "callbacks__max_backoff_ms": "1000",
}


def readme_verifier():
    """The `verify` function of the README's callback section."""
    readme = (ROOT / "README.md").read_text()
    snippet = re.search(r"<!-- verify-callback -->\s*```python\n(.*?)```", readme, re.S)
    assert snippet, "README.md shows how to verify a callback"
    scope = {}
    exec(snippet.group(1), scope)
    return scope["verify"]


class Receiver:
    """An HTTP server that records every callback; `status` decides what it answers."""

    def __init__(self, app_key=None):
        self.app_key = app_key
        self.requests = []  # (status answered, transactionid, body) in arrival order
        self.raw = []  # (headers, body bytes) of every request, to check signatures again
        self.delay = 0  # seconds to wait before answering (a hanging receiver)
        self.problems = []  # requests that failed a check
        self.status = 200
        self.lock = threading.Lock()
        self.verify = readme_verifier()
        self.server = None
        self.port = None

    def start(self):
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                payload = json.loads(body)
                problems = []
                if self.headers["Content-Type"] != "application/json":
                    problems.append("content type")
                if not receiver.verify(receiver.app_key, self.headers, body):
                    problems.append("signature")
                if self.headers["Idempotency-Key"] != payload["transactionid"]:
                    problems.append("idempotency key")
                if problems:
                    receiver.problems.append(problems)
                with receiver.lock:
                    status = receiver.status
                    receiver.requests.append((status, payload["transactionid"], payload))
                    receiver.raw.append(({k.title(): v for k, v in self.headers.items()}, body))
                if receiver.delay:
                    time.sleep(receiver.delay)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"code":200}' if status == 200 else b"{}")

            def log_message(self, *args):
                pass

        http.server.ThreadingHTTPServer.allow_reuse_address = True
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port or 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self):
        assert not self.problems, self.problems
        self.server.shutdown()
        self.server.server_close()

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}/livemsg/events"

    def accepted(self):
        """The payloads answered 200, once per transactionid, in arrival order (what a receiver
        that deduplicates by transactionid processes)."""
        seen, out = set(), []
        with self.lock:
            for status, txid, payload in self.requests:
                if status == 200 and txid not in seen:
                    seen.add(txid)
                    out.append(payload)
        return out

    def events(self):
        """Every accepted event, flattened, as (uid, sid, event) in order."""
        return [
            (eve["uid"], eve["sid"], event)
            for payload in self.accepted()
            for eve in payload["eves"]
            for event in eve["events"]
        ]

    def wait_for(self, count, timeout=30):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            events = self.events()
            if len(events) >= count:
                return events
            time.sleep(0.05)
        raise AssertionError(f"{len(self.events())} of {count} events arrived")


def delivered(stack, app_id):
    """(events numbered in the app's stream, events delivered or given up) from the database."""
    row = stack.psql("SELECT q.next_seq - 1, s.delivered_seq FROM app_streams s "
                     f"JOIN app_sequences q USING (app_id) WHERE app_id = '{app_id}'")
    numbered, done = row.split("\t")
    return int(numbered), int(done)


def wait_until(condition, timeout=30, what="the condition"):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} did not hold within {timeout} s"
        time.sleep(0.05)


def create_app(stack, url, group_ids=("room",)):
    client = tea_client(stack)
    app = client.create_live_message_app(live.CreateLiveMessageAppRequest(
        app_name="cb", data_center="cn-shanghai", event_callback_url=url)).body
    for group_id in group_ids:
        client.create_live_message_group(
            live.CreateLiveMessageGroupRequest(app_id=app.app_id, group_id=group_id))
    return app


def test_every_enter_and_leave_arrives_once_in_order_with_the_count_and_a_signature(make_stack):
    stack = make_stack(**FAST)
    receiver = Receiver().start()
    app = create_app(stack, receiver.url)
    receiver.app_key = app.app_key

    stack.logon(app.app_id, "viewer", session_id="sess-7")
    stack.join(app.app_id, "room", ["viewer", "a", "b"])
    stack.leave(app.app_id, "room", ["a"])
    stack.logoff(app.app_id, "viewer", session_id="sess-7", reason=4)

    events = receiver.wait_for(7)
    # Once the stream records all 7 delivered, nothing more is sent: no request carried an event
    # twice, even under another transactionid.
    wait_until(lambda: delivered(stack, app.app_id) == (7, 7), what="all delivered")
    sent = [e["as"] for _, _, p in receiver.requests for eve in p["eves"] for e in eve["events"]]
    assert sorted(sent) == list(range(1, 8)), "nothing more, nothing twice"
    got = [(uid, sid, e["e"], e.get("g"), e.get("n"), e.get("r")) for uid, sid, e in events]
    assert got == [
        ("viewer", "sess-7", 1, None, None, None),   # logon
        ("viewer", "", 3, "room", 1, None),          # joined, count 1
        ("a", "", 3, "room", 2, None),
        ("b", "", 3, "room", 3, None),
        ("a", "", 4, "room", 2, None),               # left
        ("viewer", "sess-7", 2, None, None, 4),      # logoff, logged on elsewhere
        ("viewer", "", 4, "room", 1, None),          # the leave that follows from it
    ]
    assert [e["as"] for _, _, e in events] == list(range(1, 8))
    assert [e["seq"] for _, _, e in events if e.get("g")] == [1, 2, 3, 4, 5]
    for payload in receiver.accepted():
        assert payload["appid"] == app.app_id
        assert re.fullmatch(r"[0-9A-F]{8}(-[0-9A-F]{4}){3}-[0-9A-F]{12}", payload["transactionid"])
    # A real request verifies with the app's key and not with another one; nor once its body or
    # its timestamp is changed.
    headers, body = receiver.raw[0]
    assert receiver.verify(app.app_key, headers, body)
    assert not receiver.verify("x" * len(app.app_key), headers, body)
    assert not receiver.verify(app.app_key, headers, body + b" ")
    older = dict(headers, **{"Ali-Live-Timestamp": str(int(headers["Ali-Live-Timestamp"]) - 1)})
    assert not receiver.verify(app.app_key, older, body)
    receiver.stop()


def test_a_receiver_that_was_down_gets_everything_once_from_two_instances(make_stack):
    stack = make_stack(**FAST)
    second = stack.another_service("livemsg-service-2")
    receiver = Receiver().start()
    app = create_app(stack, receiver.url, group_ids=("g1", "g2"))
    receiver.app_key = app.app_key
    receiver.stop()  # down: connections are refused

    users = [f"u{i}" for i in range(150)]
    for i in range(0, 150, 10):
        stack.join(app.app_id, "g1", users[i:i + 10])
        stack.join(app.app_id, "g2", users[i:i + 5])
    stack.leave(app.app_id, "g1", users[:20])
    total = 150 + 75 + 20
    wait_until(lambda: delivered(stack, app.app_id) == (total, 0), what="all sequenced, none sent")

    receiver.status = 500  # up, but failing
    receiver.start()
    wait_until(lambda: len(receiver.requests) >= 2, what="the failing receiver retried")
    assert all(status == 500 for status, _, _ in receiver.requests)
    receiver.status = 200  # healthy again

    events = receiver.wait_for(total, timeout=60)
    wait_until(lambda: delivered(stack, app.app_id) == (total, total), what="all delivered")
    assert len(receiver.events()) == total
    assert [e["as"] for _, _, e in events] == list(range(1, total + 1)), "in order, no gaps"
    for group, count in (("g1", 170), ("g2", 75)):
        seqs = [e["seq"] for _, _, e in events if e["g"] == group]
        assert seqs == list(range(1, count + 1)), group
    g1 = [(uid, e["e"], e["n"]) for uid, _, e in events if e["g"] == "g1"]
    assert g1[-1] == ("u19", 4, 130)

    # A retried batch is the same batch: same transactionid, same events.
    by_id = {}
    for status, txid, payload in receiver.requests:
        by_id.setdefault(txid, []).append((status, json.dumps(payload["eves"], sort_keys=True)))
    retried = [tries for tries in by_id.values() if len(tries) > 1]
    assert retried, "some batch was retried"
    for tries in retried:
        assert len({eves for _, eves in tries}) == 1
    # Two instances, yet each batch was accepted once.
    accepted = [txid for status, txid, _ in receiver.requests if status == 200]
    assert len(accepted) == len(set(accepted))

    # Whichever instance held the lease counted the batches.
    metrics = "".join(
        urllib.request.urlopen(f"http://{process.wait_for_address('metrics.addr')}/metrics")
        .read().decode()
        for process in (stack.service, second))
    assert "livemsg_callback_batches_total" in metrics
    receiver.stop()


def test_a_super_group_reports_only_its_count_at_most_every_five_seconds(make_stack):
    stack = make_stack(groups__super_group_threshold="5", **FAST)
    receiver = Receiver().start()
    app = create_app(stack, receiver.url)
    receiver.app_key = app.app_key

    stack.join(app.app_id, "room", [f"early{i}" for i in range(6)])  # becomes super at 6
    joined = 6
    deadline = time.monotonic() + 12
    while time.monotonic() < deadline:  # a steady stream of joins
        stack.join(app.app_id, "room", [f"late{joined}"])
        joined += 1
        time.sleep(0.05)

    def counts():
        return [e for _, _, e in receiver.events() if e["e"] == 14]

    deadline = time.monotonic() + 15
    while not counts() or counts()[-1]["n"] != joined:
        assert time.monotonic() < deadline, f"the final count {joined} was reported"
        time.sleep(0.2)
    events = [e for _, _, e in receiver.events()]
    kinds = [e["e"] for e in events]
    assert kinds[:6] == [3, 3, 3, 3, 3, 11], "five entered, then the sixth made it super"
    assert events[5]["n"] == 6
    assert set(kinds[6:]) == {14}, "no per-user events while super"
    reports = counts()
    assert len(reports) >= 2
    for before, after in zip(reports, reports[1:]):
        assert after["t"] - before["t"] >= 5000, "at least 5 s apart"
        assert after["n"] > before["n"]
    receiver.stop()


def test_a_hanging_receiver_times_out_is_retried_with_the_same_batch_and_batches_hold_at_most_100(
        make_stack):
    stack = make_stack(**dict(FAST, callbacks__timeout_ms="300"))
    receiver = Receiver().start()
    app = create_app(stack, receiver.url)
    receiver.app_key = app.app_key
    receiver.delay = 2  # answers long after the 300 ms the service waits
    stack.join(app.app_id, "room", [f"u{i}" for i in range(250)])
    wait_until(lambda: len(receiver.requests) >= 2, what="a timed-out batch retried")
    first, again = receiver.requests[0], receiver.requests[1]
    assert first[1] == again[1], "the same transactionid"
    assert json.dumps(first[2]["eves"]) == json.dumps(again[2]["eves"]), "the same events"
    receiver.delay = 0
    receiver.wait_for(250)
    wait_until(lambda: delivered(stack, app.app_id) == (250, 250), what="all delivered")
    sizes = [sum(len(eve["events"]) for eve in payload["eves"])
             for _, _, payload in receiver.requests]
    assert max(sizes) == 100, sizes  # callbacks.max_batch_events
    receiver.stop()


def test_a_receiver_failing_past_the_retry_window_loses_what_waited_and_it_is_counted(
        make_stack):
    stack = make_stack(**dict(FAST, callbacks__retry_for_secs="1"))
    receiver = Receiver().start()
    app = create_app(stack, receiver.url)
    receiver.app_key = app.app_key
    receiver.status = 500
    stack.join(app.app_id, "room", ["a", "b", "c"])
    # Given up: the stream moves past the three events without a success.
    wait_until(lambda: delivered(stack, app.app_id) == (3, 3), what="the events given up")
    assert all(status == 500 for status, _, _ in receiver.requests)
    metrics = urllib.request.urlopen(
        f"http://{stack.service.wait_for_address('metrics.addr')}/metrics").read().decode()
    dropped = re.search(r'livemsg_callback_events_total\{outcome="dropped"\} (\d+)', metrics)
    assert dropped and int(dropped.group(1)) == 3, metrics
    # Later events are sent again, to a receiver that recovered.
    receiver.status = 200
    stack.join(app.app_id, "room", ["d"])
    events = receiver.wait_for(1)
    assert [(uid, e["e"]) for uid, _, e in events] == [("d", 3)]
    receiver.stop()


def test_a_stored_url_that_points_inside_is_not_called(make_stack):
    """URLs are checked again at each send: one stored before a rule existed (written straight
    into the database here) is refused, and nothing reaches the address it names."""
    stack = make_stack(callbacks__poll_ms="50")
    receiver = Receiver().start()
    app = create_app(stack, "")
    stack.psql(f"UPDATE apps SET event_callback_url = 'http://2130706433:{receiver.port}/cb' "
               f"WHERE app_id = '{app.app_id}'")
    stack.join(app.app_id, "room", ["a"])
    wait_until(lambda: any("the URL is refused" in line
                           for line in stack.service.lines()), what="the refusal logged")
    assert receiver.requests == []
    receiver.stop()
