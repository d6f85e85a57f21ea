"""The client edge with real processes: a WebSocket client (websocket-client) and a real browser
(Debian's chromium, headless, driven over the DevTools protocol) against the edge, the service,
Postgres and Redis.
"""

import hashlib
import json
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
import uuid

import pytest
import websocket
from alibabacloud_live20161101 import models as live
from test_sdk import tea_client


class Viewer:
    """A livemsg.v1 client."""

    def __init__(self, endpoint):
        self.ws = websocket.create_connection(f"ws://{endpoint}/ws", subprotocols=["livemsg.v1"],
                                              timeout=10)
        self.next_id = 1
        self.events = []

    def request(self, type_, **params):
        rid = self.next_id
        self.next_id += 1
        self.ws.send(json.dumps({"type": type_, "id": rid, **params}))
        while True:
            frame = json.loads(self.ws.recv())
            if frame.get("type") == "event":
                self.events.append(frame)
            elif frame.get("id") == rid:
                return frame

    def ok(self, type_, **params):
        answer = self.request(type_, **params)
        assert answer["ok"], answer
        return answer["data"]

    def event(self, name, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            for i, frame in enumerate(self.events):
                if frame["event"] == name:
                    return self.events.pop(i)["data"]
            self.ws.settimeout(max(0.1, deadline - time.monotonic()))
            frame = json.loads(self.ws.recv())
            if frame.get("type") == "event":
                self.events.append(frame)


def app_and_room(stack, room="room1"):
    client = tea_client(stack)
    app = client.create_live_message_app(live.CreateLiveMessageAppRequest(app_name="edge")).body
    client.create_live_message_group(live.CreateLiveMessageGroupRequest(
        app_id=app.app_id, group_id=room, creator_id="host"))
    return app


def login(viewer, app, user):
    expiry = int(time.time()) + 3600
    nonce = "AK" + uuid.uuid4().hex[:10]
    token = hashlib.sha256(f"{app.app_id}{app.app_key}{user}{nonce}{expiry}".encode()).hexdigest()
    return viewer.ok("login", appId=app.app_id, deviceId="d1",
                     user={"userId": user, "userExtension": ""},
                     auth={"nonce": nonce, "timestamp": expiry, "role": "", "token": token})


def online(stack, app_id, user):
    rows = stack.psql(f"SELECT online FROM user_presence WHERE app_id = '{app_id}' AND user_id = '{user}'")
    return rows == "t"


def members(stack, app_id, room):
    return int(stack.psql(f"SELECT member_count FROM groups WHERE app_id = '{app_id}' AND group_id = '{room}'"))


def test_the_users_of_a_killed_edge_are_logged_off_within_the_heartbeat_bound(make_stack):
    stack = make_stack()
    doomed, doomed_at = stack.another_edge("doomed", edge__heartbeat_secs=2)
    doomed.expected_exits = (-signal.SIGKILL,)
    _, survivor_at = stack.another_edge("survivor", edge__heartbeat_secs=2)
    app = app_and_room(stack)
    lost = Viewer(doomed_at)
    login(lost, app, "lost")
    lost.ok("joinGroup", groupId="room1")
    watcher = Viewer(survivor_at)
    login(watcher, app, "watcher")
    watcher.ok("joinGroup", groupId="room1")
    assert members(stack, app.app_id, "room1") == 2
    lost.ok("sendGroupMessage", groupId="room1", data="before")
    assert watcher.event("recvgroupmessage")["message"]["data"] == "before"

    doomed.proc.kill()  # no goodbye, no logoff from it
    killed = time.monotonic()
    while online(stack, app.app_id, "lost"):
        assert time.monotonic() - killed < 10, "the dead edge's user is still online"
        time.sleep(0.1)
    assert members(stack, app.app_id, "room1") == 1
    # The survivor's viewer saw its own join, then the leave, and its room goes on.
    assert watcher.event("memberchange")["joinUsers"] == ["watcher"]
    assert watcher.event("memberchange")["leaveUsers"] == ["lost"]
    reason = stack.psql(
        f"SELECT reason FROM group_events WHERE app_id = '{app.app_id}' AND kind = 8 AND user_id = 'lost'")
    assert reason == "3", "logged off with reason timeout"


def test_two_edges_serve_one_room(make_stack):
    stack = make_stack(edge=True)
    _, second_at = stack.another_edge("second")
    app = app_and_room(stack)
    a, b = Viewer(stack.edge_endpoint), Viewer(second_at)
    login(a, app, "alice")
    login(b, app, "bob")
    for v in (a, b):
        v.ok("joinGroup", groupId="room1")
    b.ok("sendGroupMessage", groupId="room1", data="across edges")
    assert a.event("recvgroupmessage")["message"]["data"] == "across edges"


def chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser")


class Browser:
    """Headless chromium driven over the DevTools protocol."""

    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="livemsg-chromium-")
        self.proc = subprocess.Popen(
            [chromium(), "--headless=new", "--no-sandbox", "--disable-gpu",
             "--remote-debugging-port=0", f"--user-data-dir={self.profile}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 30
        self.port = None
        while time.monotonic() < deadline and self.port is None:
            line = self.proc.stderr.readline()
            found = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if found:
                self.port = int(found.group(1))
        assert self.port, "chromium did not start"
        self.next_id = 1

    def open(self, url):
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/json/new?{urllib.parse.quote(url, safe='')}", method="PUT")
        target = json.loads(urllib.request.urlopen(request).read())
        return websocket.create_connection(target["webSocketDebuggerUrl"], timeout=10)

    def evaluate(self, page, expression):
        rid = self.next_id
        self.next_id += 1
        page.send(json.dumps({"id": rid, "method": "Runtime.evaluate",
                              "params": {"expression": expression, "returnByValue": True,
                                         "awaitPromise": True}}))
        while True:
            reply = json.loads(page.recv())
            if reply.get("id") == rid:
                return reply["result"]["result"].get("value")

    def wait_for(self, page, expression, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.evaluate(page, expression):
                return
            time.sleep(0.1)
        raise AssertionError(f"{expression} did not hold; the log: "
                             f"{self.evaluate(page, 'document.body.innerText')}")

    def close(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        shutil.rmtree(self.profile, ignore_errors=True)


import urllib.parse  # noqa: E402


@pytest.mark.skipif(not chromium(), reason="Debian's chromium is not installed (.ci/run installs it)")
def test_two_browser_pages_in_one_room_see_each_other(make_stack):
    stack = make_stack(edge=True)
    app = app_and_room(stack)
    browser = Browser()
    try:
        def page(user):
            query = urllib.parse.urlencode({"appId": app.app_id, "appKey": app.app_key,
                                            "userId": user, "room": "room1", "autostart": "1"})
            return browser.open(f"http://{stack.edge_endpoint}/?{query}")
        alice, bob = page("alice"), page("bob")
        for p in (alice, bob):
            browser.wait_for(p, "document.getElementById('status').textContent === 'connected'")
            browser.wait_for(p, "document.getElementById('log').innerText.includes('joined room1')")
        browser.wait_for(alice, "document.getElementById('count').textContent === '2'")
        browser.evaluate(bob, "document.getElementById('text').value = 'hello from bob';"
                              "document.getElementById('say').requestSubmit(); true")
        browser.wait_for(alice, "document.getElementById('log').innerText.includes('bob: hello from bob')")
        # The room's creator mutes bob through the service; his page says so and refuses.
        client = tea_client(stack)
        client.add_live_message_group_band(live.AddLiveMessageGroupBandRequest(
            app_id=app.app_id, group_id="room1", banned_users=["bob"]))
        browser.wait_for(bob, "document.getElementById('mute').textContent === 'yes'")
        browser.evaluate(bob, "document.getElementById('text').value = 'can you hear me';"
                              "document.getElementById('say').requestSubmit(); true")
        browser.wait_for(bob, "document.getElementById('log').innerText.includes('(442)')")
        client.kick_live_message_group_user(live.KickLiveMessageGroupUserRequest(
            app_id=app.app_id, group_id="room1", kickoff_user="bob"))
        browser.wait_for(bob, "document.getElementById('log').innerText.includes('you were kicked out')")
        browser.wait_for(alice, "document.getElementById('log').innerText.includes('bob left')")
    finally:
        browser.close()
