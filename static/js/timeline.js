// The history page's scrubber, upgraded. The page works without this file: its links and GET
// forms load whole pages, and htmx turns them into fetches of the state panel. This adds what
// hypermedia alone cannot: the slider and the event list follow the version shown, keys step
// (the list of them opens on "?"), and "Play" steps on its own at the speed chosen. It only ever clicks the page's own links, so every move is one htmx request
// and one URL in the address bar.
//
// A new comparison or filter swaps the whole region (#history-page), so elements are looked up
// when they are used, and listeners sit on the document.
(function () {
  "use strict";

  if (!document.getElementById("history-page")) return;
  const reduceMotion = window.matchMedia("(prefers-reduced-motion: reduce)");
  // The breakpoint where the list sits beside the state panel (see app.css).
  const sideBySide = window.matchMedia("(min-width: 900px)");

  // Time to take in one change before the next at 1×; longer for people who asked for less
  // motion. The speed divides it.
  const PACE_MS = 1200;
  const CALM_PACE_MS = 2400;
  const SPEEDS = ["0.5", "1", "2", "4"];
  const SPEED_KEY = "emit.history.playSpeed"; // in sessionStorage: this tab remembers it
  let playing = false;
  let timer = 0;

  function byId(id) {
    return document.getElementById(id);
  }

  function shown() {
    const replay = byId("replay");
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

  // --- the controls only script can work ----------------------------------------------------

  function keptSpeed() {
    try {
      const kept = window.sessionStorage.getItem(SPEED_KEY);
      return SPEEDS.includes(kept) ? kept : "1";
    } catch (error) {
      return "1"; // storage refused (a private window, say): 1× each time
    }
  }

  function upgrade() {
    // The slider fetches as it moves: its form's "Show" button is for pages without script.
    byId("show-version").hidden = true;
    for (const id of ["play", "play-speed-field", "keys-open"]) byId(id).hidden = false;
    byId("play-speed").value = keptSpeed();
    setPlaying(false);
    follow(false, false);
  }

  // --- the page follows the version shown --------------------------------------------------

  function follow(movedSlider, scroll) {
    const range = byId("version-range");
    const { version, base, latest } = shown();
    if (latest > Number(range.max)) {
      // Someone changed the cart since the page was loaded: the slider reaches the new
      // versions, and the list says it lacks them.
      range.max = String(latest);
      byId("version-max").textContent = String(latest);
      // (Unless the list has them: a live page brings them along, see history/_live.html.)
      if (!byId("event-" + latest)) byId("events-stale").hidden = false;
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
    const current = byId("event-" + version);
    if (scroll && current && sideBySide.matches) {
      current.scrollIntoView({ block: "nearest", behavior: reduceMotion.matches ? "auto" : "smooth" });
    }
  }

  document.body.addEventListener("htmx:afterSettle", function (event) {
    if (!(event.target instanceof Element)) return;
    if (event.target.id === "history-page") {
      upgrade(); // a new comparison or filter: a new region
      return;
    }
    if (event.target.id !== "replay") return;
    follow(event.detail.elt === byId("version-range").form, true);
    if (playing) {
      if (document.querySelector("#step-next[href]")) {
        const pace = (reduceMotion.matches ? CALM_PACE_MS : PACE_MS) / Number(byId("play-speed").value);
        timer = window.setTimeout(function () { step("next"); }, pace);
      } else {
        setPlaying(false); // the last version: stop there
      }
    }
  });

  // --- play ----------------------------------------------------------------------------------

  function setPlaying(on) {
    playing = on;
    window.clearTimeout(timer);
    const play = byId("play");
    play.classList.toggle("is-playing", on);
    play.querySelector(".play__label").textContent = on ? "Pause" : "Play";
  }

  function togglePlay() {
    if (playing) {
      setPlaying(false);
      return;
    }
    setPlaying(true);
    // From the last version, play from the start.
    step(document.querySelector("#step-next[href]") ? "next" : "first");
  }

  document.addEventListener("change", function (event) {
    if (!(event.target instanceof Element) || event.target.id !== "play-speed") return;
    try {
      window.sessionStorage.setItem(SPEED_KEY, event.target.value);
    } catch (error) {
      // not remembered; the choice holds on this page all the same
    }
  });

  document.addEventListener("click", function (event) {
    if (!(event.target instanceof Element)) return;
    if (event.target.closest("#play")) {
      togglePlay();
    } else if (event.target.closest("#keys-open")) {
      byId("keys-help").showModal();
    } else if (event.isTrusted && event.target.closest("#history-page a[hx-get]")) {
      setPlaying(false); // any move of one's own pauses the playing
    }
  });
  document.addEventListener("input", function (event) {
    if (event.target instanceof Element && event.target.id === "version-range") setPlaying(false);
  });
  document.body.addEventListener("htmx:responseError", function () { setPlaying(false); });
  document.body.addEventListener("htmx:sendError", function () { setPlaying(false); });

  // --- keys ----------------------------------------------------------------------------------

  const STEPS = { ArrowLeft: "previous", ArrowRight: "next", Home: "first", End: "last" };

  document.addEventListener("keydown", function (event) {
    if (event.defaultPrevented || event.altKey || event.ctrlKey || event.metaKey) return;
    // Fields keep their own keys (the slider steps by itself), and an open dialog its own.
    if (event.target instanceof Element && event.target.closest("input, select, textarea, [contenteditable], dialog")) return;
    if (event.key === "?") {
      event.preventDefault();
      byId("keys-help").showModal();
    } else if (event.shiftKey) {
      return;
    } else if (event.key in STEPS) {
      event.preventDefault();
      setPlaying(false);
      step(STEPS[event.key]);
    } else if (event.key === "p" || event.key === "P") {
      event.preventDefault();
      togglePlay();
    }
  });

  // A browser may restore a slider's old value on reload: the page says which version it shows.
  upgrade();
})();
