// The simulator page: every button posts one action; the page redraws from the server.
const calls = document.getElementById("calls");
const errorBox = document.getElementById("error");

async function act(body) {
  const response = await window.simulatorPost(body);
  const data = await response.json();
  errorBox.textContent = response.ok ? "" : data.error;
  if (response.ok) draw(data);
}

function button(label, body) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  if (body) b.addEventListener("click", () => act(body));
  return b;
}

function text(tag, content) {
  const element = document.createElement(tag);
  element.textContent = content;  // never innerHTML: message text is shown as text
  return element;
}

function drawCall(call) {
  const card = document.createElement("article");
  const ended = !["ringing", "in-progress"].includes(call.status);
  card.className = "call" + (call.talking ? " talking" : "") + (ended ? " ended" : "");
  card.dataset.sid = call.sid;
  const browser = call.number.startsWith("client:");  // a clinician's browser phone
  const who = call.direction === "inbound" ? `Officer ${call.number} calling the line`
    : browser ? `The line calling a clinician's browser (${call.number})`
    : `The line calling ${call.number}`;
  card.append(text("h3", who));
  card.append(text("p", `Status: ${call.status}` + (call.conference ? `, in conference ${call.conference}` : "")
                        + (call.talking ? " (talking)" : "") + (call.held ? " (on hold: music)" : "")
                        + (call.muted ? " (listening, muted)" : "")
                        + (call.coaching ? ` (coaching ${call.coaching}: only they hear)` : "")));
  const transcript = document.createElement("ol");
  transcript.className = "transcript";
  call.transcript.forEach((line) => transcript.append(text("li", line)));
  card.append(transcript);
  if (call.status === "ringing" && call.direction === "outbound") {
    card.append(button("Answer", { action: "answer", sid: call.sid }),
                button("Don't answer", { action: "reject", sid: call.sid }));
  }
  if (call.awaiting_keys) {
    const input = document.createElement("input");
    input.setAttribute("aria-label", "Keys or words for: " + who);
    const keys = button("Press keys", null);
    keys.onclick = () => act({ action: "press", sid: call.sid, digits: input.value });
    const say = button("Say it", null);
    say.onclick = () => act({ action: "press", sid: call.sid, speech: input.value });
    card.append(input, keys, say, button("Stay silent", { action: "press", sid: call.sid }));
  }
  if (call.conference && !call.talking && call.direction === "inbound") {
    card.append(button("Hear the hold message", { action: "refresh", sid: call.sid }),
                button("Press star", { action: "star", sid: call.sid }));
  }
  if (call.status === "in-progress") card.append(button("Hang up", { action: "hangup", sid: call.sid }));
  return card;
}

function draw(state) {
  calls.replaceChildren(...state.calls.map(drawCall));
  document.getElementById("to-line").replaceChildren(
    ...state.messages_to_line.map((m) => text("li", `${m.from}: ${m.body} → ${m.reply}`)));
  document.getElementById("from-line").replaceChildren(
    ...state.messages_from_line.map((m) => text("li", `to ${m.to}: ${m.body}`)));
}

document.getElementById("dial-form").addEventListener("submit", (event) => {
  event.preventDefault();
  act({ action: "dial", number: event.target.number.value });
});
document.getElementById("text-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.target;
  act({ action: "text", number: form.number.value, body: form.body.value, whatsapp: form.whatsapp.checked });
  form.body.value = "";
});
document.getElementById("clinician-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const form = event.target;
  act({ action: event.submitter.value, reference: form.reference.value,
        clinician: form.clinician.value, body: form.body.value });
});

async function poll() {
  if (!document.activeElement || document.activeElement.tagName !== "INPUT") {
    const response = await fetch("/simulator/state");
    if (response.ok) draw(await response.json());
  }
}
poll();
setInterval(poll, 2000);
