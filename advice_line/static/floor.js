// The senior's floor: clinicians' statuses redraw live; a changed queue reloads the page
// (its rows carry forms), unless the senior is in the middle of choosing something.
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
  socket.on("queue", (queue) => {
    const now = new Set(queue.map((r) => r.reference));
    const same = now.size === shown.size && [...now].every((r) => shown.has(r));
    const busy = document.activeElement && ["SELECT", "INPUT"].includes(document.activeElement.tagName);
    if (!same && !busy) window.location.reload();
  });
})();
