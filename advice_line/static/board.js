// The manager's live board: figures and alerts pushed by the server.
(function () {
  const socket = io({ transports: ["websocket", "polling"] });
  const set = (id, value) => { document.getElementById(id).textContent = value; };
  socket.on("connect", () => set("board-live", "Live"));
  socket.on("disconnect", (reason) => {
    if (reason === "io server disconnect") window.location.reload();  // the session ended
    else set("board-live", "Reconnecting…");
  });
  socket.on("board", (board) => {
    set("board-waiting", board.waiting);
    set("board-silent", board.unverified_no_answers);
    set("board-over-limit", board.over_limit);
    set("board-longest", board.longest_wait_seconds === null ? "–" : board.longest_wait_seconds + " s");
    set("board-available", board.available);
    set("board-breaches", board.breaches_now);
  });
  socket.on("alert", (alert) => {
    const item = document.createElement("li");
    item.textContent = new Date().toLocaleTimeString("en-GB") + ": " + alert.reference + " " + alert.kind;
    document.getElementById("alerts").prepend(item);
  });
})();
