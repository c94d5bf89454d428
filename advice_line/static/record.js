// The consultation record saves itself as a draft while the clinician types, so nothing
// typed is lost to a closed tab, a crash or a session that ends. Without this script the
// "Save draft" button does the same.
(function () {
  const form = document.getElementById("record-form");
  const status = document.getElementById("draft-status");
  if (!form || !status) return;
  const WAIT_MS = 1500;  // after the last keystroke
  let timer = null;
  let saving = false;
  let again = false;
  let lastSaved = new URLSearchParams(new FormData(form)).toString();

  function body() {
    const data = new FormData(form);
    data.set("intent", "autosave");
    return new URLSearchParams(data);
  }

  async function save() {
    timer = null;
    const data = body();
    const unchanged = new URLSearchParams(data);
    unchanged.delete("intent");
    if (unchanged.toString() === lastSaved) return;
    if (saving) { again = true; return; }
    saving = true;
    try {
      const response = await fetch(form.action, {
        method: "POST", body: data, redirect: "manual", credentials: "same-origin",
        headers: { "Accept": "application/json" },
      });
      const answer = response.ok ? await response.json() : null;
      if (answer && answer.saved_at) {
        lastSaved = unchanged.toString();
        status.textContent = "Draft saved " + answer.saved_at;
      } else {
        const refused = response.status === 400 ? await response.json().catch(() => null) : null;
        status.textContent = refused && refused.error ? refused.error
          : "Draft not saved: sign in again in another tab, then keep typing here.";
      }
    } catch (error) {
      status.textContent = "Draft not saved: the line cannot be reached. Keep this page open.";
    } finally {
      saving = false;
      if (again) { again = false; save(); }
    }
  }

  function soon() {
    if (timer) clearTimeout(timer);
    timer = setTimeout(save, WAIT_MS);
  }

  form.addEventListener("input", soon);
  form.addEventListener("change", soon);
  form.addEventListener("submit", () => { if (timer) clearTimeout(timer); timer = null; });
})();
