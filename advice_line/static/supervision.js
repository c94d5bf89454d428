// A senior on the request's call, live: the clinician is told as they listen, coach, join or
// leave (pushed to the request's room, which thread.js joins for the pages that may open it).
(function () {
  const notice = document.getElementById("supervision");
  const requestId = Number(document.getElementById("thread").dataset.requestId);
  window.adviceLine.socket.on("call", (data) => {
    if (data.request_id !== requestId) return;
    notice.querySelector("p").textContent = data.supervision;  // text only, never markup
    notice.hidden = !data.supervision;
  });
})();
