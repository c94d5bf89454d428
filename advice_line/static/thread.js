// A request's message thread, live: the officer's messages and the replies appear as the
// line receives or sends them (pushed to the request's room, for those who may open it).
(function () {
  const list = document.getElementById("thread");
  const socket = window.adviceLine.socket;  // presence.js
  const requestId = Number(list.dataset.requestId);

  function item(message) {
    const entry = document.createElement("li");
    entry.className = "app-thread__" + message.direction;
    const who = document.createElement("span");
    who.className = "nhsuk-u-visually-hidden";
    who.textContent = message.direction + ":";
    const when = document.createElement("small");
    when.textContent = message.at + (message.direction === "outbound" ? ", " + message.delivery : "");
    entry.append(who, " " + message.body + " ", when);  // text only, never markup
    return entry;
  }

  function draw(messages) {
    list.replaceChildren(...messages.map(item));
    if (messages.length) document.getElementById("messages").hidden = false;
  }

  function watch() {
    socket.emit("watch_request", { request_id: requestId }, (reply) => {
      if (reply && reply.messages) draw(reply.messages);
    });
  }
  socket.on("connect", watch);  // each (re)connect joins the room again and redraws
  socket.on("thread", (data) => { if (data.request_id === requestId) draw(data.messages); });
  if (socket.connected) watch();
})();
