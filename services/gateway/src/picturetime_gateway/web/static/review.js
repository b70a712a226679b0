// The review page: click both eyes on the upright preview (or type them), undo, reset, save.
// Points are preview pixels from the image's top-left corner (0..naturalWidth), as the form posts them.
(() => {
  "use strict";
  const img = document.getElementById("preview");
  const form = document.getElementById("eyes-form");
  const status = document.getElementById("review-status");
  if (status && status.dataset.poll === "1") pollUntilDone(status.dataset.photo);
  if (!img || !form) return;

  const inputs = { a: [form.a_x, form.a_y], b: [form.b_x, form.b_y] };
  const markers = { a: document.getElementById("marker-a"), b: document.getElementById("marker-b") };
  const undo = document.getElementById("undo");
  const reset = document.getElementById("reset");
  const sizeNote = document.getElementById("preview-size");
  let points = { a: readInput("a"), b: readInput("b") };
  const history = [];

  function readInput(name) {
    const [x, y] = inputs[name].map((input) => parseFloat(input.value));
    return Number.isFinite(x) && Number.isFinite(y) ? { x, y } : null;
  }

  function round(v) {
    return Math.round(v * 10) / 10;
  }

  function draw() {
    for (const name of ["a", "b"]) {
      const p = points[name];
      const marker = markers[name];
      if (!p || !img.naturalWidth) {
        marker.hidden = true;
        continue;
      }
      marker.hidden = false;
      marker.style.left = `${(100 * p.x) / img.naturalWidth}%`;
      marker.style.top = `${(100 * p.y) / img.naturalHeight}%`;
    }
    undo.disabled = history.length === 0;
    reset.disabled = !points.a && !points.b;
  }

  function write() {
    for (const name of ["a", "b"]) {
      const p = points[name];
      inputs[name][0].value = p ? round(p.x) : "";
      inputs[name][1].value = p ? round(p.y) : "";
    }
  }

  function change(next) {
    history.push(points);
    points = next;
    write();
    draw();
  }

  img.addEventListener("click", (event) => {
    const box = img.getBoundingClientRect();
    const p = {
      x: ((event.clientX - box.left) * img.naturalWidth) / box.width,
      y: ((event.clientY - box.top) * img.naturalHeight) / box.height,
    };
    if (!points.a) change({ ...points, a: p });
    else if (!points.b) change({ ...points, b: p });
    else {
      // Both placed: the click moves whichever point is nearer.
      const da = Math.hypot(points.a.x - p.x, points.a.y - p.y);
      const db = Math.hypot(points.b.x - p.x, points.b.y - p.y);
      change(da <= db ? { ...points, a: p } : { ...points, b: p });
    }
  });

  for (const name of ["a", "b"]) {
    for (const input of inputs[name]) {
      input.addEventListener("change", () => {
        history.push(points);
        points = { ...points, [name]: readInput(name) };
        draw();
      });
    }
  }

  undo.addEventListener("click", () => {
    if (history.length) points = history.pop();
    write();
    draw();
  });

  reset.addEventListener("click", () => change({ a: null, b: null }));

  // Zoom: 1 fits the picture in the page; each step doubles it inside a scrolling box.
  const scroller = document.getElementById("picker-scroll");
  const zoomIn = document.getElementById("zoom-in");
  const zoomOut = document.getElementById("zoom-out");
  const zoomLevel = document.getElementById("zoom-level");
  const ZOOMS = [1, 2, 4, 8];
  let zoom = 0;
  let fitWidth = 0;

  function setZoom(index) {
    const before = img.getBoundingClientRect();
    const view = scroller.getBoundingClientRect();
    // Keep the picture point at the middle of the view where it is.
    const fx = (view.left + view.width / 2 - before.left) / before.width;
    const fy = (view.top + view.height / 2 - before.top) / before.height;
    if (zoom === 0) fitWidth = before.width;
    zoom = Math.max(0, Math.min(ZOOMS.length - 1, index));
    scroller.classList.toggle("zoomed", zoom > 0);
    img.style.width = zoom > 0 ? `${fitWidth * ZOOMS[zoom]}px` : "";
    const after = img.getBoundingClientRect();
    scroller.scrollLeft = fx * after.width - scroller.clientWidth / 2;
    scroller.scrollTop = fy * after.height - scroller.clientHeight / 2;
    zoomLevel.textContent = zoom > 0 ? `${ZOOMS[zoom]}×` : "Fit";
    zoomOut.disabled = zoom === 0;
    zoomIn.disabled = zoom === ZOOMS.length - 1;
  }
  zoomIn.addEventListener("click", () => setZoom(zoom + 1));
  zoomOut.addEventListener("click", () => setZoom(zoom - 1));

  function ready() {
    const w = img.naturalWidth;
    const h = img.naturalHeight;
    for (const name of ["a", "b"]) {
      inputs[name][0].max = w;
      inputs[name][1].max = h;
    }
    sizeNote.textContent = `This preview is ${w} × ${h} pixels.`;
    img.classList.add("ready");
    draw();
  }
  if (img.complete && img.naturalWidth) ready();
  else img.addEventListener("load", ready);
  img.addEventListener("error", () => {
    sizeNote.textContent = "The original cannot be shown: it is no longer stored, or not an image.";
  });
  form.addEventListener("submit", () => {
    document.getElementById("save").disabled = true;
  });

  async function pollUntilDone(photoId) {
    // The aligner answers in a second or two; then show the new frame.
    for (let i = 0; i < 300; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 1500));
      try {
        const response = await fetch(`/api/v1/photos/${photoId}`, { credentials: "same-origin" });
        if (response.ok && (await response.json()).status !== "pending") {
          window.location.replace(`${window.location.pathname}?saved=1`);
          return;
        }
      } catch (_) {
        // A dropped request: try again on the next tick.
      }
    }
  }
})();

// The candidate faces' boxes, placed from their data (percentages of the photo): set through the
// CSSOM, which the page's Content-Security-Policy allows where a style attribute is not.
for (const box of document.querySelectorAll(".candidate[data-box]")) {
  const [left, top, width, height] = box.dataset.box.split(" ");
  Object.assign(box.style, { left: `${left}%`, top: `${top}%`, width: `${width}%`, height: `${height}%` });
}
