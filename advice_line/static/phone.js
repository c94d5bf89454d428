// The browser phone on every console page: registers Twilio's Voice SDK device (in demo
// mode the simulator's stand-in) with a short-lived token, tells the line over the page's
// socket whether this browser can take calls, and answers, mutes and hangs up the call.
// While it cannot (no microphone, refused, not registered), the line rings the phone.
(function () {
  const $ = (id) => document.getElementById(id);
  const root = $("phone");
  const socket = window.adviceLine.socket;
  const heartbeatSeconds = Number(root.dataset.heartbeatSeconds);
  let device = null;
  let call = null;
  let ready = false;

  function status(text) { $("phone-status").textContent = text; }

  function tell(now) {
    ready = now;
    if (socket.connected) socket.emit("phone", { ready: now });
  }

  function cannot(why) {
    if (ready) tell(false);
    status(why + " Calls for the requests you accept ring your phone.");
  }

  async function token() {
    const response = await fetch(root.dataset.tokenUrl, {
      method: "POST",
      headers: { "X-CSRFToken": document.querySelector("meta[name=csrf-token]").content },
    });
    if (!response.ok) throw new Error("the line refused a token (" + response.status + ")");
    return (await response.json()).token;
  }

  // --- the call ------------------------------------------------------------------------
  function drawCall(state) {
    $("phone-call").hidden = !call;
    $("phone-call-state").textContent = state;
    $("phone-answer").hidden = !call || call.status() !== "pending";
    $("phone-mute").hidden = !call || call.status() !== "open";
  }

  function incoming(next) {
    call = next;
    drawCall("The line is calling you about the request you accepted.");
    next.on("accept", () => drawCall("In the call with the officer."));
    next.on("mute", (muted) => {
      $("phone-mute").textContent = muted ? "Unmute" : "Mute";
      $("phone-mute").setAttribute("aria-pressed", String(muted));
    });
    ["disconnect", "cancel", "reject"].forEach((event) => next.on(event, () => {
      call = null;
      drawCall("");
    }));
    next.on("error", (error) => drawCall("The call failed: " + error.message));
  }

  $("phone-answer").addEventListener("click", () => { if (call) call.accept(); });
  $("phone-hangup").addEventListener("click", () => {
    if (!call) return;
    if (call.status() === "pending") call.reject();
    else call.disconnect();
  });
  $("phone-mute").addEventListener("click", () => { if (call) call.mute(!call.isMuted()); });

  // --- the device ----------------------------------------------------------------------
  async function microphone() {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    stream.getTracks().forEach((track) => track.stop());  // the browser remembers the answer
  }

  async function start() {
    $("phone-enable").hidden = true;
    try {
      await microphone();
    } catch (error) {
      $("phone-enable").hidden = false;
      cannot("This browser has no microphone it may use.");
      return;
    }
    try {
      device = new Twilio.Device(await token(), { closeProtection: true });
      device.on("registered", () => {
        tell(true);
        status("Ready: calls for the requests you accept ring here.");
      });
      device.on("unregistered", () => cannot("The browser phone is not registered."));
      device.on("error", (error) => cannot("The browser phone failed: " + error.message + "."));
      device.on("incoming", incoming);
      device.on("tokenWillExpire", () => {
        token().then((fresh) => device.updateToken(fresh), () => cannot("Its token could not be renewed."));
      });
      await device.register();
    } catch (error) {
      cannot("The browser phone could not start: " + error.message + ".");
    }
  }

  $("phone-enable").addEventListener("click", start);
  // Asked once for the microphone, the browser answers at once after: start without a click.
  const asked = navigator.permissions
    ? navigator.permissions.query({ name: "microphone" }).then((answer) => answer.state, () => "prompt")
    : Promise.resolve("prompt");
  asked.then((state) => {
    if (state === "granted") start();
    else if (state === "denied") cannot("This site may not use the microphone.");
    else {
      $("phone-enable").hidden = false;
      status("To answer calls here, allow this browser the microphone.");
    }
  });

  // The line forgets a browser it has not heard from lately (a closed tab, a lost socket).
  socket.on("connect", () => { if (ready) tell(true); });
  setInterval(() => { if (ready) tell(true); }, heartbeatSeconds * 1000);
})();
