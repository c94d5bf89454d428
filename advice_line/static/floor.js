// The senior's floor: clinicians' statuses and the queue redraw live.
(function () {
  const socket = window.adviceLine.socket;  // presence.js: the heartbeat and the offers
  const shown = new Set([...document.querySelectorAll("[id^=floor-AL-]")].map((e) => e.id.slice(6)));
  function cell(content) {
    const td = document.createElement("td");
    td.className = "nhsuk-table__cell";
    td.textContent = content;
    return td;
  }
  socket.on("connect", () => { document.getElementById("floor-live").textContent = "Live"; });
  socket.on("disconnect", (reason) => {
    if (reason === "io server disconnect") window.location.reload();  // the session ended
    else document.getElementById("floor-live").textContent = "Reconnecting…";
  });
  socket.on("floor", (people) => {
    document.getElementById("floor-people").replaceChildren(...people.map((p) => {
      const row = document.createElement("tr");
      row.className = "nhsuk-table__row";
      row.append(cell(p.name), cell(p.status.replace("_", " ")), cell(p.on_console ? "yes" : "no"));
      return row;
    }));
  });
  // A changed queue redraws its section from the page as the server renders it now (its
  // rows carry forms): the page is not reloaded, so an offer ringing or a "missed" notice
  // on it stays. Not while the senior is choosing something in it.
  let drawing = false;
  async function redrawQueue() {
    drawing = true;
    try {
      const response = await fetch(window.location.href, { credentials: "same-origin" });
      if (response.redirected || !response.ok) { window.location.reload(); return; }
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = page.getElementById("floor-queue");
      if (fresh) document.getElementById("floor-queue").replaceWith(fresh);
    } finally {
      drawing = false;
    }
  }
  socket.on("queue", (queue) => {
    const now = new Set(queue.map((r) => r.reference));
    const same = now.size === shown.size && [...now].every((r) => shown.has(r));
    const busy = document.activeElement && ["SELECT", "INPUT"].includes(document.activeElement.tagName);
    if (same || busy || drawing) return;
    shown.clear();
    now.forEach((r) => shown.add(r));
    redrawQueue();
  });
})();
