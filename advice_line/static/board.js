// The manager's live board: tiles coloured against the targets (green, amber, red, each
// also said in words), a sparkline of the queue over the last hour (the server's account
// of it when the page opens, then the pushes), and alerts pushed by the server.
(function () {
  const HOUR = 60 * 60 * 1000;
  const element = (id) => document.getElementById(id);
  const set = (id, value) => { element(id).textContent = value; };
  const WORDS = { green: "Green: on target", amber: "Amber: watch", red: "Red: act now", neutral: "For information" };

  // Each tile's level from the board (thresholds in docs/ARCHITECTURE.md, live board).
  function levels(board) {
    const target = board.answer_target_seconds;
    const longest = board.longest_wait_seconds;
    const within = board.answered_within_target_percent;
    return {
      waiting: board.waiting === 0 ? "green" : board.waiting <= board.available ? "amber" : "red",
      longest: longest === null || longest < target / 2 ? "green" : longest < target ? "amber" : "red",
      breaches: board.breaches_now === 0 ? "green" : "red",
      within: within === null ? "neutral" : within >= 90 ? "green" : within >= 80 ? "amber" : "red",
      available: board.available >= 2 ? "green" : board.available === 1 ? "amber" : "red",
      silent: "neutral",
      "over-limit": "neutral",
    };
  }

  function show(board) {
    set("board-waiting", board.waiting);
    set("board-silent", board.unverified_no_answers);
    set("board-over-limit", board.over_limit);
    set("board-longest", board.longest_wait_seconds === null ? "–" : board.longest_wait_seconds + " s");
    set("board-available", board.available);
    set("board-breaches", board.breaches_now);
    set("board-within", board.answered_within_target_percent === null ? "–" : board.answered_within_target_percent + "%");
    Object.entries(levels(board)).forEach(([id, level]) => {
      element("tile-" + id).className = "app-tile app-tile--" + level;
      set("tile-" + id + "-status", WORDS[level]);
    });
  }

  // The server's account of the hour when the page opened (from the audit log), then
  // each push's queue length.
  let hour = JSON.parse(element("queue-hour-data").textContent);
  // The points within the hour to ``now``, the first moved to its start: the length the
  // queue had then is the last one noted before it.
  function within(now) {
    const since = now - HOUR;
    const earlier = hour.filter(([at]) => at <= since);
    const points = hour.filter(([at]) => at > since);
    if (earlier.length) points.unshift([since, earlier[earlier.length - 1][1]]);
    return points;
  }
  function note(waiting) {
    const now = Date.now();
    hour = within(now);
    hour.push([now, waiting]);
    draw();
  }
  function draw() {
    const now = Date.now();
    const points = within(now);
    if (!points.length) return;
    points.push([now, points[points.length - 1][1]]);  // the queue has stood since the last push
    const values = points.map(([, n]) => n);
    const top = Math.max(1, ...values);
    const x = (at) => ((at - (now - HOUR)) / HOUR) * 300;
    const y = (n) => 58 - (n / top) * 56;
    const steps = points.map(([at, n], i) => (i ? x(at).toFixed(1) + "," + y(points[i - 1][1]).toFixed(1) + " " : "") + x(at).toFixed(1) + "," + y(n).toFixed(1));
    element("sparkline-line").setAttribute("points", steps.join(" "));
    set("sparkline-text", "Over the last hour the queue was between " + Math.min(...values) + " and " + Math.max(...values) + "; now " + values[values.length - 1] + ".");
  }

  const first = JSON.parse(element("board-data").textContent);
  show(first);
  note(first.waiting);
  setInterval(draw, 15000);

  const socket = io({ transports: ["websocket", "polling"] });
  socket.on("connect", () => set("board-live", "Live"));
  socket.on("disconnect", (reason) => {
    if (reason === "io server disconnect") window.location.reload();  // the session ended
    else set("board-live", "Reconnecting…");
  });
  socket.on("board", (board) => { show(board); note(board.waiting); });
  socket.on("alert", (alert) => {
    const item = document.createElement("li");
    item.textContent = new Date().toLocaleTimeString("en-GB") + ": " + alert.reference + " " + alert.kind.replaceAll("_", " ");
    element("alerts").prepend(item);
  });
})();
