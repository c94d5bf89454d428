// Demo mode only: a stand-in for Twilio's Voice SDK (window.Twilio.Device) with the part
// of its interface the console uses. The line's calls to "client:<identity>" ring here
// from the simulator's switchboard; answering and hanging up act on that simulated call.
(function () {
  class Emitter {
    constructor() { this.handlers = {}; }
    on(event, handler) { (this.handlers[event] = this.handlers[event] || []).push(handler); return this; }
    emit(event, ...values) { (this.handlers[event] || []).forEach((handler) => handler(...values)); }
  }

  // The identity the line gave this browser, read from the token it issued.
  function identityOf(token) {
    const claims = token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
    return JSON.parse(atob(claims)).grants.identity;
  }

  async function act(body) {
    const response = await window.simulatorPost(body);
    if (!response.ok) throw new Error((await response.json()).error);
  }

  class Call extends Emitter {
    constructor(sid) {
      super();
      this.parameters = { CallSid: sid };
      this.state = "pending";
      this.muted = false;
    }
    status() { return this.state; }
    isMuted() { return this.muted; }
    mute(on = true) { this.muted = on; this.emit("mute", on, this); }
    accept() {
      act({ action: "answer", sid: this.parameters.CallSid }).then(() => {
        this.state = "open";
        this.emit("accept", this);
      }, (error) => this.emit("error", error));
    }
    reject() {
      act({ action: "reject", sid: this.parameters.CallSid }).then(() => this.end("reject"));
    }
    disconnect() {
      act({ action: "hangup", sid: this.parameters.CallSid }).then(() => this.end("disconnect"));
    }
    end(event) {
      if (this.state === "closed") return;
      this.state = "closed";
      this.emit(event, this);
    }
  }

  class Device extends Emitter {
    constructor(token) {
      super();
      this.identity = identityOf(token);
      this.calls = {};
      this.timer = null;
    }
    async register() {
      this.timer = setInterval(() => this.poll(), 1000);
      this.emit("registered");
    }
    updateToken(token) { this.identity = identityOf(token); }
    destroy() {
      clearInterval(this.timer);
      this.emit("unregistered");
    }
    async poll() {
      const response = await fetch("/simulator/state");
      if (!response.ok) return;
      const mine = (await response.json()).calls.filter((c) => c.number === "client:" + this.identity);
      mine.forEach((simulated) => {
        let call = this.calls[simulated.sid];
        if (!call && simulated.status === "ringing") {
          call = this.calls[simulated.sid] = new Call(simulated.sid);
          this.emit("incoming", call);
        } else if (call && !["ringing", "in-progress"].includes(simulated.status)) {
          call.end(call.state === "pending" ? "cancel" : "disconnect");
        }
      });
    }
  }

  window.Twilio = { Device };
})();
