// The senior's floor: clinicians' statuses, the calls in progress and the queue redraw live.
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
  // The queue and the calls in progress are redrawn from the page as the server renders it
  // now (their rows carry forms): the page is not reloaded, so an offer ringing or a
  // "missed" notice on it stays. Not while the senior is choosing something.
  let drawing = false;
  const choosing = () => document.activeElement && ["SELECT", "INPUT"].includes(document.activeElement.tagName);
  const free = () => !drawing && !choosing();
  async function redraw() {
    drawing = true;
    try {
      const response = await fetch(window.location.href, { credentials: "same-origin" });
      if (response.redirected || !response.ok) { window.location.reload(); return; }
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      ["floor-queue", "floor-calls"].forEach((id) => {
        const fresh = page.getElementById(id);
        if (fresh) document.getElementById(id).replaceWith(fresh);
      });
    } finally {
      drawing = false;
    }
  }
  const same = (a, b) => a.size === b.size && [...a].every((x) => b.has(x));
  // A call connects or ends without changing anyone's status: each push of the floor
  // redraws the calls in progress too, at most once a second.
  let pending = null;
  socket.on("floor", (people) => {
    document.getElementById("floor-people").replaceChildren(...people.map((p) => {
      const row = document.createElement("tr");
      row.className = "nhsuk-table__row";
      row.append(cell(p.name), cell(p.status.replace("_", " ")), cell(p.on_console ? "yes" : "no"));
      return row;
    }));
    if (pending) return;
    pending = setTimeout(() => { pending = null; if (free()) redraw(); }, 1000);
  });
  socket.on("queue", (queue) => {
    const now = new Set(queue.map((r) => r.reference));
    if (same(now, shown) || !free()) return;
    shown.clear();
    now.forEach((r) => shown.add(r));
    redraw();
  });
})();
