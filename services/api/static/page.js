// Bad Buzz Watch live page: polls the server-rendered board and swaps it in; acknowledges alerts.
// No framework and no build step: the server renders everything, this only fetches and posts.
"use strict";
(() => {
  const board = document.getElementById("board");
  const updated = document.getElementById("updated");
  const every = 1000 * Number(board.dataset.refreshS || 3);
  let topic = new URLSearchParams(location.search).get("topic");
  let busy = false;
  const drafts = {}; // what someone is typing in an ack form survives a refresh

  function keepDrafts() {
    board.querySelectorAll("form.ack").forEach((f) => {
      drafts[f.dataset.alertId] = { who: f.who.value, note: f.note.value,
        focus: document.activeElement && f.contains(document.activeElement) ? document.activeElement.name : null };
    });
  }
  function restoreDrafts() {
    board.querySelectorAll("form.ack").forEach((f) => {
      const d = drafts[f.dataset.alertId];
      if (!d) return;
      f.who.value = d.who; f.note.value = d.note;
      if (d.focus) f[d.focus].focus();
    });
  }

  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const r = await fetch("/ui/board" + (topic ? "?topic=" + encodeURIComponent(topic) : ""),
                            { credentials: "same-origin", cache: "no-store" });
      if (r.status === 401) { location.href = "/"; return; }
      if (!r.ok) throw new Error("HTTP " + r.status);
      keepDrafts();
      board.innerHTML = await r.text();
      restoreDrafts();
      board.setAttribute("aria-busy", "false");
      updated.textContent = "updated " + new Date().toLocaleTimeString();
      updated.classList.remove("stale");
    } catch (e) {
      updated.textContent = "cannot reach the server (" + e.message + "), retrying";
      updated.classList.add("stale");
    } finally {
      busy = false;
    }
  }

  board.addEventListener("click", (ev) => {
    const tile = ev.target.closest(".tile");
    if (!tile) return;
    topic = tile.dataset.topic;
    history.replaceState(null, "", "?topic=" + encodeURIComponent(topic));
    refresh();
  });

  board.addEventListener("submit", async (ev) => {
    const form = ev.target.closest("form.ack");
    if (!form) return;
    ev.preventDefault();
    const button = form.querySelector("button");
    button.disabled = true;
    try {
      const r = await fetch("/ui/alerts/" + encodeURIComponent(form.dataset.alertId) + "/ack", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-Badbuzz-UI": "1" },
        body: JSON.stringify({ who: form.who.value, note: form.note.value }),
      });
      if (!r.ok) throw new Error("HTTP " + r.status);
      delete drafts[form.dataset.alertId];
      form.reset();
      await refresh();
    } catch (e) {
      button.disabled = false;
      alert("Could not acknowledge: " + e.message);
    }
  });

  refresh();
  setInterval(refresh, every);
})();
