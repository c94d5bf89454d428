// Presence and offers on every console page (console, tasks, a request, the floor): the
// one socket of the page, its heartbeat, a warning before the line sets the clinician
// offline, and offers that ring, flash the tab's title and notify until answered or gone.
(function () {
  const $ = (id) => document.getElementById(id);
  const root = $("presence");
  const heartbeatSeconds = Number(root.dataset.heartbeatSeconds);
  const graceSeconds = Number(root.dataset.graceSeconds);
  const socket = io({ transports: ["websocket", "polling"] });
  window.adviceLine = { socket, flags: (request) => flags(request), text: (...args) => text(...args) };
  const WANTED = "adviceLine.wantedStatus";  // what the clinician last chose, in this tab
  const ALIVE = "adviceLine.aliveAt";  // when the line last heard this tab, on any page
  const pageTitle = document.title;
  let lastAck = Number(sessionStorage.getItem(ALIVE)) || Date.now();
  let returning = false;  // this tab was out of touch long enough to have been set offline
  let offer = null;
  let offerDeadline = 0;
  let answered = false;
  let ringTimer = null;
  let titleTimer = null;
  let notice = null;
  let audio = null;

  function text(tag, content, className) {
    const element = document.createElement(tag);
    element.textContent = content;  // text only: nothing from the server becomes markup
    if (className) element.className = className;
    return element;
  }

  const questions = { risk_to_life: "risk to life", under_18: "under 18", in_dwelling: "dwelling" };

  // What the request carries that a clinician must weigh before answering.
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
    if (request.breached) list.push(["past target", "nhsuk-tag--orange"]);
    return list.map(([label, style]) => text("strong", label, "nhsuk-tag " + style));
  }

  function waited(since) {
    const seconds = Math.max(0, Math.floor((Date.now() - since) / 1000));
    return Math.floor(seconds / 60) + ":" + String(seconds % 60).padStart(2, "0");
  }

  // --- the ring, the title, the notification -------------------------------------------
  function ringOnce() {
    try {
      audio = audio || new AudioContext();
      if (audio.state === "suspended") audio.resume();
      [0, 0.35].forEach((delay) => {
        const tone = audio.createOscillator();
        const volume = audio.createGain();
        tone.frequency.value = 880;
        volume.gain.value = 0.2;
        tone.connect(volume);
        volume.connect(audio.destination);
        tone.start(audio.currentTime + delay);
        tone.stop(audio.currentTime + delay + 0.25);
      });
    } catch (error) { /* sound is a courtesy: the title and the card still call */ }
  }

  function startCalling(next) {
    ringOnce();
    ringTimer = setInterval(ringOnce, 2000);
    let lit = true;
    document.title = "Offer: " + next.reference + " – " + pageTitle;
    titleTimer = setInterval(() => {
      lit = !lit;
      document.title = lit ? "Offer: " + next.reference + " – " + pageTitle : "★ " + pageTitle;
    }, 1000);
    if ("Notification" in window && Notification.permission === "granted") {
      notice = new Notification("Offer: " + next.reference, {
        body: [next.channel_label, next.force, next.first_words].filter(Boolean).join(" · "),
        tag: "offer-" + next.offer_id,
        requireInteraction: true,
      });
      notice.onclick = () => { window.focus(); notice.close(); };
    }
    $("offer-announce").textContent = "New offer: " + next.reference + ", " + next.channel_label;
  }

  function stopCalling() {
    clearInterval(ringTimer);
    clearInterval(titleTimer);
    ringTimer = titleTimer = null;
    document.title = pageTitle;
    if (notice) notice.close();
    notice = null;
  }

  const allow = $("notify-allow");
  if ("Notification" in window && Notification.permission === "default") {
    allow.hidden = false;
    allow.addEventListener("click", () => {
      Notification.requestPermission().then(() => { allow.hidden = true; });
    });
  }
  // Browsers start sound only after the page was used: any click makes the ring audible.
  document.addEventListener("click", () => {
    try { audio = audio || new AudioContext(); audio.resume(); } catch (error) { /* no sound */ }
  }, { once: true });

  // --- the offer card ------------------------------------------------------------------
  function offerEnded(old, mine) {
    stopCalling();
    const taken = (mine.in_hand || []).some((request) => request.id === old.id);
    if (!answered && !taken && !(mine.offer && mine.offer.id === old.id)) {
      $("offer-missed").textContent = Date.now() >= offerDeadline - 2000
        ? "Missed: " + old.reference + " was not answered in time and has gone to a colleague."
        : old.reference + " is no longer offered to you: a colleague took it or the officer left.";
    }
    answered = false;
  }

  function drawOffer(mine) {
    const next = mine.offer;
    if (offer && (!next || next.offer_id !== offer.offer_id)) offerEnded(offer, mine);
    const fresh = next && (!offer || next.offer_id !== offer.offer_id);
    offer = next;
    $("offer").hidden = !next;
    if (!next) return;
    $("offer-reference").textContent = next.reference;
    $("offer-channel").textContent = next.channel_label;
    $("offer-force").textContent = next.force || "not given";
    $("offer-waited").dataset.since = Date.now() - next.waited_seconds * 1000;
    $("offer-flags").replaceChildren(...flags(next));
    $("offer-words").hidden = !next.first_words;
    $("offer-words").textContent = next.first_words ? "“" + next.first_words + "”" : "";
    offerDeadline = Date.now() + next.seconds_left * 1000;
    if (fresh) {
      $("offer-missed").textContent = "";
      $("offer-error").textContent = "";
      startCalling(next);
    }
    tick();
  }

  function tick() {
    if (offer) {
      $("offer-countdown").textContent = Math.max(0, Math.ceil((offerDeadline - Date.now()) / 1000));
      $("offer-waited").textContent = waited(Number($("offer-waited").dataset.since));
    }
    checkPresence();
  }

  function answer(event, payload) {
    answered = true;
    stopCalling();
    const taking = offer;
    socket.emit(event, payload, (reply) => {
      if (reply && reply.error) {
        answered = false;
        $("offer-error").textContent = reply.error;
      } else if (event === "accept" && !document.getElementById("in-hand")) {
        window.location.assign("/console/requests/" + taking.id);  // where it is worked on
      }
    });
  }
  $("offer-accept").addEventListener("click", () => answer("accept", { request_id: offer.id }));
  $("offer-decline").addEventListener("click", () => answer("decline", { offer_id: offer.offer_id }));

  // --- presence ------------------------------------------------------------------------
  function checkPresence() {
    const silent = (Date.now() - lastAck) / 1000;
    const lost = !socket.connected || silent > heartbeatSeconds * 2 + 1;
    $("presence-warning").hidden = !lost;
    if (!lost) return;
    const cause = socket.connected
      ? "The line has not answered this page's heartbeat for " + Math.floor(silent) + " seconds."
      : "This page has lost its connection to the line.";
    const left = Math.ceil(graceSeconds - silent);
    $("presence-reason").textContent = left > 0
      ? cause + " Unless it is back within " + left + " seconds you will be set offline (the line " +
        "does that to any console silent for " + graceSeconds + " seconds) and an offer you hold " +
        "passes to a colleague."
      : cause + " You have been set offline and any offer passed on; when the connection is " +
        "back you will be made available again.";
  }

  function outOfTouch() {
    return Date.now() - lastAck > graceSeconds * 1000;
  }

  function alive() {
    lastAck = Date.now();
    sessionStorage.setItem(ALIVE, String(lastAck));
  }

  function heartbeat() {
    if (socket.connected) socket.emit("heartbeat", {}, (reply) => { if (reply && reply.ok) alive(); });
  }

  // The line set the clinician offline while this tab was out of touch: they chose to be
  // available, so they are again (the domain still checks they qualify and are on shift).
  // Only then: "Offline" chosen in another tab or by a senior is left alone.
  function restore(mine) {
    const back = returning || outOfTouch();  // the push may come before "connect"
    returning = false;
    if (!back || mine.status !== "offline" || sessionStorage.getItem(WANTED) !== "available") return;
    socket.emit("set_status", { status: "available" }, (reply) => {
      $("presence-news").textContent = reply && reply.ok
        ? "You were set offline while this page was out of touch with the line; you are available again."
        : "You were set offline while this page was out of touch with the line: " + ((reply && reply.error) || "");
    });
  }

  document.addEventListener("click", (event) => {
    const chosen = event.target.closest("[data-status]");
    if (chosen) sessionStorage.setItem(WANTED, chosen.dataset.status);
  });
  socket.on("connect", () => {
    if (outOfTouch()) returning = true;
    alive();
    $("connection").textContent = "Connected";
    tick();
  });
  // The server ends a signed-out or deactivated session's sockets: reload to the sign-in page.
  socket.on("disconnect", (reason) => {
    if (reason === "io server disconnect") window.location.reload();
    else $("connection").textContent = "Reconnecting…";
    tick();
  });
  socket.on("mine", (mine) => {
    if (["available", "away"].includes(mine.status) && !sessionStorage.getItem(WANTED)) {
      sessionStorage.setItem(WANTED, mine.status);
    }
    restore(mine);
    drawOffer(mine);
  });
  setInterval(tick, 1000);
  setInterval(heartbeat, heartbeatSeconds * 1000);
})();
