// Picture Time lightbox: opens gallery links in a modal viewer. Without JavaScript the links
// simply lead to the photo pages. Keys: ← → move, Esc closes, Tab stays inside; swipe on phones.
(() => {
  "use strict";
  const galleries = document.querySelectorAll("[data-gallery]");
  if (!galleries.length || typeof HTMLDialogElement !== "function") return;

  const dialog = document.createElement("dialog");
  dialog.className = "lightbox";
  dialog.setAttribute("aria-label", "Photo viewer");
  dialog.innerHTML =
    '<div class="lb-stage">' +
    '<picture><source type="image/webp" sizes="100vw"><img alt="" sizes="100vw" decoding="async"></picture>' +
    '<button type="button" class="lb-prev" aria-label="Previous photo">&#8592;</button>' +
    '<button type="button" class="lb-next" aria-label="Next photo">&#8594;</button>' +
    '<button type="button" class="lb-close" aria-label="Close the viewer">&#10005;</button>' +
    "</div>" +
    '<div class="lb-bar"><span class="lb-caption" aria-live="polite"></span>' +
    '<span class="lb-count"></span><a class="lb-link" href="#">Details</a></div>';
  document.body.append(dialog);

  const $ = (selector) => dialog.querySelector(selector);
  const stage = $(".lb-stage"), source = $("source"), img = $("img");
  const prev = $(".lb-prev"), next = $(".lb-next"), closer = $(".lb-close");
  const caption = $(".lb-caption"), count = $(".lb-count"), link = $(".lb-link");
  let items = [], index = 0;

  function show(i) {
    if (i < 0 || i >= items.length) return;
    index = i;
    const tile = items[i], tileSource = tile.querySelector("source"), tileImg = tile.querySelector("img");
    source.srcset = tileSource ? tileSource.srcset : "";
    img.removeAttribute("srcset");
    img.src = tileImg.currentSrc || tileImg.src; // already loaded: shown at once, then sharpened
    img.srcset = tileImg.srcset;
    img.width = tileImg.width; img.height = tileImg.height;
    img.alt = tileImg.alt;
    caption.textContent = tile.dataset.caption || tileImg.alt;
    count.textContent = (i + 1) + " / " + items.length;
    link.href = tile.href;
    prev.disabled = i === 0;
    next.disabled = i === items.length - 1;
    for (const n of [i - 1, i + 1]) preload(items[n]);
  }

  function preload(tile) {
    const tileImg = tile && tile.querySelector("img");
    if (!tileImg) return;
    const probe = new Image();
    probe.sizes = "100vw";
    probe.srcset = tileImg.srcset;
  }

  function open(tile) {
    items = Array.from(tile.closest("[data-gallery]").querySelectorAll("a.tile"));
    show(items.indexOf(tile));
    dialog.showModal();
    closer.focus();
  }

  function close() {
    if (dialog.open) dialog.close();
  }

  dialog.addEventListener("close", () => {
    const tile = items[index];
    if (tile) {
      tile.focus();
      tile.scrollIntoView({ block: "nearest" });
    }
  });

  for (const gallery of galleries) {
    gallery.addEventListener("click", (event) => {
      if (event.defaultPrevented || event.button !== 0) return;
      if (event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
      const tile = event.target.closest("a.tile");
      if (!tile) return;
      event.preventDefault();
      open(tile);
    });
  }

  prev.addEventListener("click", () => show(index - 1));
  next.addEventListener("click", () => show(index + 1));
  closer.addEventListener("click", close);
  stage.addEventListener("click", (event) => {
    if (event.target === stage) close(); // a click beside the photo
  });

  dialog.addEventListener("keydown", (event) => {
    if (event.key === "ArrowLeft") {
      event.preventDefault();
      show(index - 1);
    } else if (event.key === "ArrowRight") {
      event.preventDefault();
      show(index + 1);
    } else if (event.key === "Escape") {
      event.preventDefault();
      close();
    } else if (event.key === "Tab") {
      // Keep focus inside the viewer: cycle through its enabled controls.
      const stops = [closer, prev, next, link].filter((el) => !el.disabled);
      const at = stops.indexOf(document.activeElement);
      const to = event.shiftKey ? (at <= 0 ? stops.length - 1 : at - 1) : (at + 1) % stops.length;
      event.preventDefault();
      stops[to].focus();
    }
  });

  // Swipe: a mostly horizontal drag of 40px or more moves to the neighbour.
  let startX = null, startY = 0;
  stage.addEventListener("pointerdown", (event) => {
    if (event.pointerType === "mouse") return;
    startX = event.clientX;
    startY = event.clientY;
  });
  stage.addEventListener("pointerup", (event) => {
    if (startX === null) return;
    const dx = event.clientX - startX, dy = event.clientY - startY;
    startX = null;
    if (Math.abs(dx) >= 40 && Math.abs(dx) > Math.abs(dy) * 1.5) show(index + (dx < 0 ? 1 : -1));
  });
  stage.addEventListener("pointercancel", () => { startX = null; });
})();
