// The clinician console: a live view of the server's state, pushed over Socket.IO.
// Every change arrives as a whole snapshot, so a reconnect simply redraws the truth.
(function () {
  const socket = window.adviceLine.socket;  // presence.js: the heartbeat and the offers
  const $ = (id) => document.getElementById(id);
  let queue = [];
  let mine = null;

  const text = window.adviceLine.text;  // presence.js: an element holding text only

  // The queue's tags: the offer card's (presence.js), and the channel by its name.
  function flags(request) {
    return [...window.adviceLine.flags(request), text("strong", request.channel_label, "nhsuk-tag nhsuk-tag--blue")];
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

  function drawMine() {
    $("my-status").textContent = mine.status.replace("_", " ");
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
  }

  socket.on("queue", (data) => { queue = data; drawQueue(); });
  socket.on("mine", (data) => { mine = data; drawMine(); });
  document.querySelectorAll("[data-status]").forEach((button) => {
    button.addEventListener("click", () => socket.emit("set_status", { status: button.dataset.status }, report));
  });
  setInterval(tick, 1000);
})();
