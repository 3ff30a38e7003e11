// The history page's scrubber, upgraded. The page works without this file: its links and GET
// forms load whole pages, and htmx turns them into fetches of the state panel. This adds what
// hypermedia alone cannot: the slider and the event list follow the version shown, the left and
// right arrow keys step, and "Play" steps on its own at a readable pace. It only ever clicks the
// page's own links, so every move is one htmx request and one URL in the address bar.
(function () {
  "use strict";

  const page = document.getElementById("history-page");
  if (!page) return;
  const range = document.getElementById("version-range");
  const play = document.getElementById("play");
  const playLabel = play.querySelector(".play__label");
  const reduceMotion = window.matchMedia("(prefers-reduced-motion: reduce)");
  // The breakpoint where the list sits beside the state panel (see app.css).
  const sideBySide = window.matchMedia("(min-width: 900px)");

  // Time to take in one change before the next; longer for people who asked for less motion.
  const PACE_MS = 1200;
  const CALM_PACE_MS = 2400;
  let playing = false;
  let timer = 0;

  // The slider fetches as it moves: its form's "Show" button is for pages without JavaScript.
  document.getElementById("show-version").hidden = true;
  play.hidden = false;

  function shown() {
    const replay = document.getElementById("replay");
    const base = replay.dataset.base;
    return {
      version: Number(replay.dataset.version),
      base: base === "" ? null : Number(base),
      latest: Number(replay.dataset.latest),
    };
  }

  /** Click the step link `name` ("first", "previous", "next", "last"); false at an end. */
  function step(name) {
    const link = document.querySelector("#step-" + name + "[href]");
    if (link) link.click();
    return Boolean(link);
  }

  // --- the page follows the version shown --------------------------------------------------

  function follow(movedSlider, scroll) {
    const { version, base, latest } = shown();
    if (latest > Number(range.max)) {
      // Someone changed the cart since the page was loaded: the slider reaches the new
      // versions, and the list says it lacks them.
      range.max = String(latest);
      document.getElementById("version-max").textContent = String(latest);
      // (Unless the list has them: a live page brings them along, see history/_live.html.)
      if (!document.getElementById("event-" + latest)) {
        document.getElementById("events-stale").hidden = false;
      }
    }
    if (!movedSlider) range.value = String(version);
    const low = base === null ? version : Math.min(version, base);
    const high = base === null ? version : Math.max(version, base);
    for (const row of document.querySelectorAll("#events [data-version]")) {
      const rowVersion = Number(row.dataset.version);
      if (rowVersion === version) row.setAttribute("aria-current", "step");
      else row.removeAttribute("aria-current");
      row.classList.toggle("is-in-diff", rowVersion > low && rowVersion <= high);
    }
    // Beside the panel, keep the current event in view; on a phone the list is below the
    // panel, and scrolling to it would hide what just changed.
    const current = document.getElementById("event-" + version);
    if (scroll && current && sideBySide.matches) {
      current.scrollIntoView({ block: "nearest", behavior: reduceMotion.matches ? "auto" : "smooth" });
    }
  }

  document.body.addEventListener("htmx:afterSettle", function (event) {
    if (!(event.target instanceof Element) || event.target.id !== "replay") return;
    follow(event.detail.elt === range.form, true);
    if (playing) {
      if (document.querySelector("#step-next[href]")) {
        timer = window.setTimeout(function () { step("next"); }, reduceMotion.matches ? CALM_PACE_MS : PACE_MS);
      } else {
        setPlaying(false); // the last version: stop there
      }
    }
  });

  // A browser may restore a slider's old value on reload: the page says which version it shows.
  follow(false, false);

  // --- play ----------------------------------------------------------------------------------

  function setPlaying(on) {
    playing = on;
    window.clearTimeout(timer);
    play.classList.toggle("is-playing", on);
    playLabel.textContent = on ? "Pause" : "Play";
  }

  play.addEventListener("click", function () {
    if (playing) {
      setPlaying(false);
      return;
    }
    setPlaying(true);
    // From the last version, play from the start.
    step(document.querySelector("#step-next[href]") ? "next" : "first");
  });

  // Any move of one's own pauses the playing, as does a failed fetch.
  page.addEventListener("click", function (event) {
    if (event.isTrusted && event.target instanceof Element && event.target.closest("a[hx-get]")) {
      setPlaying(false);
    }
  });
  range.addEventListener("input", function () { setPlaying(false); });
  document.body.addEventListener("htmx:responseError", function () { setPlaying(false); });
  document.body.addEventListener("htmx:sendError", function () { setPlaying(false); });

  // --- arrow keys ----------------------------------------------------------------------------

  document.addEventListener("keydown", function (event) {
    if (event.key !== "ArrowLeft" && event.key !== "ArrowRight") return;
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
    // Fields keep their own arrow keys (the slider steps by itself).
    if (event.target instanceof Element && event.target.closest("input, select, textarea, [contenteditable]")) return;
    event.preventDefault();
    setPlaying(false);
    step(event.key === "ArrowLeft" ? "previous" : "next");
  });
})();
