// Demo mode: the one way a page acts on a simulated phone (the simulator page, and the
// console's stand-in browser phone): a JSON POST to /simulator/act with the CSRF token.
window.simulatorPost = function (body) {
  return fetch("/simulator/act", {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      "X-CSRFToken": document.querySelector("meta[name=csrf-token]").content,
    },
    body: JSON.stringify(body),
  });
};
