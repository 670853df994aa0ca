// cw dashboard: swaps in the parts the server pushes (Server-Sent Events) and sends the
// operator's actions. No framework, no build step; served by cw itself.
"use strict";

const csrf = document.querySelector('meta[name="cw-csrf"]').content;
// Parts whose update waits until the person stops typing in them.
const held = new Map();

function swap(id, html) {
  const element = document.getElementById(id);
  if (!element || element.innerHTML === html) return;
  if (element.contains(document.activeElement) && document.activeElement.matches("input, textarea")) {
    held.set(id, html);
    return;
  }
  element.innerHTML = html;
}

document.addEventListener("focusout", () => {
  setTimeout(() => {
    for (const [id, html] of held) {
      held.delete(id);
      swap(id, html);
    }
  }, 0);
});

function follow() {
  const view = document.body.dataset.live || "board";
  const source = new EventSource("/events?view=" + encodeURIComponent(view));
  source.addEventListener("update", (event) => {
    const parts = JSON.parse(event.data);
    for (const [id, html] of Object.entries(parts)) swap(id, html);
    document.body.dataset.connected = "yes";
  });
  // EventSource reconnects by itself (a restarted cw run comes back on the same port).
  source.addEventListener("error", () => { document.body.dataset.connected = "no"; });
}

function say(text, ok) {
  const note = document.getElementById("note");
  note.textContent = text;
  note.className = ok ? "good" : "bad";
}

document.addEventListener("submit", async (event) => {
  const form = event.target.closest("form[data-act]");
  if (!form) return;
  event.preventDefault();
  const fields = Object.fromEntries(new FormData(form));
  // A clicked option button carries the answer.
  if (event.submitter && event.submitter.name) fields[event.submitter.name] = event.submitter.value;
  let reply;
  try {
    const response = await fetch("/act/" + form.dataset.act, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CW-CSRF": csrf },
      body: JSON.stringify(fields),
    });
    reply = await response.json();
  } catch (error) {
    reply = { error: "cw run did not answer: " + error.message };
  }
  if (reply.error) {
    say(reply.error, false);
  } else {
    say(reply.message, true);
    form.reset();
  }
});

follow();
