// The clinician console: a live view of the server's state, pushed over Socket.IO.
// Every change arrives as a whole snapshot, so a reconnect simply redraws the truth.
(function () {
  const heartbeatSeconds = Number(document.currentScript.dataset.heartbeatSeconds);
  const socket = io({ transports: ["websocket", "polling"] });
  const $ = (id) => document.getElementById(id);
  let queue = [];
  let mine = null;
  let offerDeadline = null;
  let lastOfferId = null;

  function text(tag, content, className) {
    const element = document.createElement(tag);
    element.textContent = content;  // text only: nothing from the server becomes markup
    if (className) element.className = className;
    return element;
  }

  // The key questions as the cards name them, in the order the officer is asked them.
  const questions = { risk_to_life: "risk to life", under_18: "under 18", in_dwelling: "dwelling" };

  function flags(request) {
    const list = [];
    if (request.risk_to_life) list.push(["risk to life", "nhsuk-tag--red"]);
    if (request.under_18) list.push(["under 18", "nhsuk-tag--yellow"]);
    if (request.in_dwelling) list.push(["dwelling", "nhsuk-tag--grey"]);
    const unanswered = (request.unanswered || []).map((name) => questions[name] || name);
    if (unanswered.length) list.push(["not answered: " + unanswered.join(", "), "nhsuk-tag--orange"]);
    if (request.standing) list.push([request.standing, "nhsuk-tag--orange"]);
    else if (request.unverified) list.push(["unverified officer", "nhsuk-tag--orange"]);
    if (request.joined_contacts) list.push(["called again: " + request.joined_contacts, "nhsuk-tag--grey"]);
    if (request.channel !== "voice") list.push([request.channel, "nhsuk-tag--blue"]);
    if (request.breached) list.push(["past target", "nhsuk-tag--orange"]);
    return list.map(([label, style]) => text("strong", label, "nhsuk-tag " + style));
  }

  function waited(since) {
    if (!since) return "";
    const seconds = Math.max(0, Math.floor((Date.now() - Date.parse(since)) / 1000));
    return Math.floor(seconds / 60) + ":" + String(seconds % 60).padStart(2, "0");
  }

  function report(answer) {
    $("console-error").textContent = answer && answer.error ? answer.error : "";
  }

  function drawQueue() {
    $("queue-length").textContent = queue.length;
    $("queue").replaceChildren(...queue.map((request) => {
      const row = document.createElement("tr");
      row.className = "nhsuk-table__row";
      row.dataset.reference = request.reference;
      const cells = [text("td", request.reference), text("td", waited(request.waiting_since)),
                     document.createElement("td"), text("td", request.status), document.createElement("td")];
      cells.forEach((cell) => { cell.className = "nhsuk-table__cell"; row.append(cell); });
      cells[1].dataset.since = request.waiting_since || "";
      cells[1].className += " app-waited";
      cells[2].append(...flags(request));
      const take = text("button", "Take " + request.reference, "nhsuk-button nhsuk-button--secondary nhsuk-u-margin-bottom-0");
      take.type = "button";
      take.addEventListener("click", () => socket.emit("accept", { request_id: request.id }, report));
      cells[4].append(take);
      return row;
    }));
  }

  function beep() {
    try {
      const context = new AudioContext();
      const tone = context.createOscillator();
      tone.connect(context.destination);
      tone.start();
      tone.stop(context.currentTime + 0.3);
    } catch (error) { /* sound is a courtesy; the offer is on screen */ }
  }

  function drawMine() {
    $("my-status").textContent = mine.status.replace("_", " ");
    const offer = mine.offer;
    $("offer").hidden = !offer;
    if (offer) {
      $("offer-reference").textContent = offer.reference;
      $("offer-flags").replaceChildren(...flags(offer));
      offerDeadline = Date.now() + offer.seconds_left * 1000;
      if (offer.offer_id !== lastOfferId) beep();
      lastOfferId = offer.offer_id;
      tick();
    }
    $("in-hand").replaceChildren(...mine.in_hand.map((request) => {
      const item = document.createElement("li");
      const link = text("a", request.reference + " (" + request.status.replace("_", " ") + ")");
      link.href = "/console/requests/" + request.id;
      item.append(link, ...flags(request));
      return item;
    }));
  }

  function tick() {
    document.querySelectorAll(".app-waited").forEach((cell) => { cell.textContent = waited(cell.dataset.since); });
    if (mine && mine.offer && offerDeadline) {
      $("offer-countdown").textContent = Math.max(0, Math.ceil((offerDeadline - Date.now()) / 1000));
    }
  }

  socket.on("connect", () => { $("connection").textContent = "Connected"; });
  // The server ends a signed-out or deactivated session's sockets: reload to the sign-in page.
  socket.on("disconnect", (reason) => {
    if (reason === "io server disconnect") window.location.reload();
    else $("connection").textContent = "Reconnecting…";
  });
  socket.on("queue", (data) => { queue = data; drawQueue(); });
  socket.on("mine", (data) => { mine = data; drawMine(); });
  document.querySelectorAll("[data-status]").forEach((button) => {
    button.addEventListener("click", () => socket.emit("set_status", { status: button.dataset.status }, report));
  });
  $("offer-accept").addEventListener("click", () => socket.emit("accept", { request_id: mine.offer.id }, report));
  $("offer-decline").addEventListener("click", () => socket.emit("decline", { offer_id: mine.offer.offer_id }, report));
  setInterval(tick, 1000);
  setInterval(() => { if (socket.connected) socket.emit("heartbeat", {}); }, heartbeatSeconds * 1000);
})();
