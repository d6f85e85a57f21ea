// livemsg.js: the client of the livemsg edge (WebSocket, subprotocol livemsg.v1). No build step,
// no dependencies: load it with <script src="/livemsg.js"></script> and use window.LiveMsg.
//
//   const client = new LiveMsg("wss://edge.example.com/ws");
//   client.on("recvgroupmessage", ({ groupId, message }) => ...);
//   await client.login({ appId, userId, userExtension, deviceId, auth: { nonce, timestamp, role, token } });
//   await client.joinGroup("room1");
//   await client.sendGroupMessage("room1", "hello");
//
// Every request returns a promise of its data, or rejects with { code, message } (the client codes
// of the reference: 403 auth failed, 412 too fast, 425 not joined, 440 no such group, 442 muted, ...).
// The client sends heartbeats, and after a dropped connection reconnects and resumes: each room
// continues from the last message it got, with what it missed, or a "refetch" event when that is gone.
(function (global) {
  "use strict";

  class LiveMsg {
    constructor(url) {
      this.url = url;
      this.handlers = {};
      this.pending = new Map();
      this.nextId = 1;
      this.session = null; // { sessionId, resumeKey, expiry, heartbeat }
      this.login_ = null;
      this.lastSeq = {}; // groupId -> last seq received
      this.closedByUs = false;
      this.ws = null;
      this.timer = null;
    }

    on(event, handler) {
      (this.handlers[event] = this.handlers[event] || []).push(handler);
      return this;
    }

    emit(event, data) {
      (this.handlers[event] || []).forEach((h) => {
        try { h(data); } catch (e) { console.error(e); }
      });
    }

    open() {
      return new Promise((resolve, reject) => {
        const ws = new WebSocket(this.url, "livemsg.v1");
        ws.onopen = () => { this.ws = ws; resolve(); };
        ws.onerror = (e) => reject(e);
        ws.onmessage = (e) => this.receive(JSON.parse(e.data));
        ws.onclose = () => this.dropped(ws);
      });
    }

    receive(frame) {
      if (frame.type === "event") {
        const data = frame.data || {};
        if (frame.event === "recvgroupmessage" && data.message) {
          this.lastSeq[data.groupId] = Math.max(this.lastSeq[data.groupId] || 0, data.message.seqnum);
        }
        if ((frame.event === "deletegroupmessage" || frame.event === "mutechange") && data.seqnum) {
          this.lastSeq[data.groupId] = Math.max(this.lastSeq[data.groupId] || 0, data.seqnum);
        }
        if (frame.event === "exit") delete this.lastSeq[data.groupId];
        this.emit(frame.event, data);
        return;
      }
      const waiting = this.pending.get(frame.id);
      if (!waiting) return;
      this.pending.delete(frame.id);
      if (frame.ok) waiting.resolve(frame.data);
      else waiting.reject({ code: frame.code, message: frame.message });
    }

    request(type, params) {
      return new Promise((resolve, reject) => {
        if (!this.ws || this.ws.readyState !== WebSocket.OPEN) {
          reject({ code: 404, message: "not connected" });
          return;
        }
        const id = this.nextId++;
        this.pending.set(id, { resolve, reject });
        this.ws.send(JSON.stringify(Object.assign({ type, id }, params || {})));
      });
    }

    startHeartbeat(seconds) {
      clearInterval(this.timer);
      this.timer = setInterval(() => this.request("ping").catch(() => {}), (seconds * 1000) / 2);
    }

    async login(options) {
      await this.open();
      this.login_ = options;
      const data = await this.request("login", {
        appId: options.appId,
        deviceId: options.deviceId || "web",
        heartbeat: options.heartbeat,
        user: { userId: options.userId, userExtension: options.userExtension || "" },
        auth: options.auth,
      });
      this.session = data;
      this.startHeartbeat(data.heartbeat);
      return data;
    }

    async logout() {
      this.closedByUs = true;
      clearInterval(this.timer);
      try { await this.request("logout"); } finally { if (this.ws) this.ws.close(); }
    }

    dropped(ws) {
      if (ws !== this.ws) return;
      clearInterval(this.timer);
      this.pending.forEach((p) => p.reject({ code: 404, message: "connection lost" }));
      this.pending.clear();
      this.emit("connectionlost", {});
      if (!this.closedByUs && this.session) this.reconnect(500);
    }

    async reconnect(delay) {
      await new Promise((r) => setTimeout(r, delay));
      try {
        await this.open();
        const data = await this.request("resume", {
          appId: this.login_.appId,
          userId: this.login_.userId,
          deviceId: this.login_.deviceId || "web",
          sessionId: this.session.sessionId,
          resumeKey: this.session.resumeKey,
          expiry: this.session.expiry,
          role: this.login_.auth.role || "",
          userExtension: this.login_.userExtension || "",
          rooms: this.lastSeq,
        });
        this.startHeartbeat(data.heartbeat);
        this.emit("reconnected", data);
      } catch (e) {
        if (e && e.code === 403) { this.emit("disconnect", { code: 3 }); return; }
        this.reconnect(Math.min(delay * 2, 10000));
      }
    }

    async joinGroup(groupId) {
      const info = await this.request("joinGroup", { groupId });
      this.lastSeq[groupId] = info.lastSeq || 0;
      return info;
    }
    leaveGroup(groupId) { delete this.lastSeq[groupId]; return this.request("leaveGroup", { groupId }); }
    queryGroup(groupId) { return this.request("queryGroup", { groupId }); }
    sendGroupMessage(groupId, data, options) {
      return this.request("sendGroupMessage", Object.assign({ groupId, data }, options || {}));
    }
    sendC2cMessage(receiverId, data, options) {
      return this.request("sendC2cMessage", Object.assign({ receiverId, data }, options || {}));
    }
    listRecentMessage(groupId) { return this.request("listRecentMessage", { groupId }); }
    listHistoryMessage(groupId, options) {
      return this.request("listHistoryMessage", Object.assign({ groupId }, options || {}));
    }
    deleteMessage(groupId, messageId) { return this.request("deleteMessage", { groupId, messageId }); }
    createGroup(groupId, groupName, groupMeta) { return this.request("createGroup", { groupId, groupName, groupMeta }); }
    closeGroup(groupId) { return this.request("closeGroup", { groupId }); }
    modifyGroup(groupId, changes) { return this.request("modifyGroup", Object.assign({ groupId }, changes)); }
    muteAll(groupId) { return this.request("muteAll", { groupId }); }
    cancelMuteAll(groupId) { return this.request("cancelMuteAll", { groupId }); }
    muteUser(groupId, userList) { return this.request("muteUser", { groupId, userList }); }
    cancelMuteUser(groupId, userList) { return this.request("cancelMuteUser", { groupId, userList }); }
    listMuteUsers(groupId) { return this.request("listMuteUsers", { groupId }); }
    listGroupUser(groupId, options) { return this.request("listGroupUser", Object.assign({ groupId }, options || {})); }
    kickUser(groupId, userId) { return this.request("kickUser", { groupId, userId }); }
  }

  // The app token, as a customer's backend computes it: sha256_hex(appId + appKey + userId + nonce +
  // timestamp + role). For demos only: an AppKey never belongs in a browser.
  LiveMsg.appToken = async function (appId, appKey, userId, nonce, timestamp, role) {
    const bytes = new TextEncoder().encode(appId + appKey + userId + nonce + timestamp + (role || ""));
    const digest = await crypto.subtle.digest("SHA-256", bytes);
    return Array.from(new Uint8Array(digest)).map((b) => b.toString(16).padStart(2, "0")).join("");
  };

  global.LiveMsg = LiveMsg;
})(typeof window !== "undefined" ? window : globalThis);
