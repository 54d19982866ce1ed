// Live updates for the console pages (server-sent events); no build step, no libraries.
"use strict";

function listen(url, handlers) {
  const source = new EventSource(url);
  for (const [name, handle] of Object.entries(handlers)) {
    source.addEventListener(name, (event) => handle(JSON.parse(event.data)));
  }
  return source;
}

document.addEventListener("DOMContentLoaded", () => {
  const queue = document.querySelector("table.queue[data-live]");
  if (queue) {
    listen(queue.dataset.live, {
      queue: (data) => {
        document.getElementById("queue-rows").innerHTML = data.html;
        document.getElementById("queue-count").textContent = data.count;
        document.getElementById("queue-count-word").textContent = data.count_word;  // "aberta", "abertas"
      },
    });
  }
  const conversation = document.querySelector(".conversation[data-live]");
  if (conversation) {
    const timeline = document.getElementById("timeline");
    listen(conversation.dataset.live, {
      timeline: (data) => {
        timeline.insertAdjacentHTML("beforeend", data.html);
        timeline.lastElementChild?.scrollIntoView({ block: "nearest" });
      },
      status: () => window.location.reload(),
    });
  }
  // A second click must not send a reply twice.
  for (const form of document.querySelectorAll("form")) {
    form.addEventListener("submit", () => {
      for (const button of form.querySelectorAll("button")) button.disabled = true;
    });
  }
});
