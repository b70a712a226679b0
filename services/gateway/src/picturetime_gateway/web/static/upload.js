// Drag-and-drop uploads: one request per file (a RAW after its photo), two at a time, with a
// progress bar per file and overall, the server's answer per file, and retry of failures.
(() => {
  "use strict";
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const form = document.getElementById("upload-form");
  const maxBytes = Number(form.dataset.maxBytes);
  form.addEventListener("submit", (event) => event.preventDefault()); // the files go one by one
  const drop = document.getElementById("drop");
  const input = document.getElementById("files");
  const list = document.getElementById("list");
  const summary = document.getElementById("summary");
  const overall = document.getElementById("overall");
  const overallText = document.getElementById("overall-text");
  const retryAll = document.getElementById("retry-all");
  const album = document.getElementById("album");
  const RAW = /\.(dng|cr2|cr3|nef|arw|orf|raf)$/i;
  const HASH_LIMIT = 64 * 1024 * 1024; // hashed in the browser below this size: the fast path
  const PARALLEL = 2;
  const items = [];
  let running = 0;

  album.addEventListener("change", () => {
    const isNew = album.value === "__new__";
    document.getElementById("new-album-name").hidden = !isNew;
    document.getElementById("new-album-visibility").hidden = !isNew;
    if (isNew) document.getElementById("album-name").focus();
  });

  drop.addEventListener("click", () => input.click());
  drop.addEventListener("keydown", (e) => { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); input.click(); } });
  input.addEventListener("change", () => { add(input.files); input.value = ""; });
  for (const type of ["dragenter", "dragover"]) {
    drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.add("over"); });
  }
  for (const type of ["dragleave", "drop"]) {
    drop.addEventListener(type, (e) => { e.preventDefault(); drop.classList.remove("over"); });
  }
  drop.addEventListener("drop", (e) => add(e.dataTransfer.files));
  retryAll.addEventListener("click", () => {
    for (const item of items) if (item.retryable) retry(item);
  });
  form.addEventListener("submit", (e) => e.preventDefault());

  function options() {
    const chosen = album.value === "__new__" ? document.getElementById("album-name").value.trim() : album.value;
    return {
      kind: document.getElementById("kind").value,
      album: chosen,
      album_visibility: document.getElementById("album-visibility").value,
      tags: document.getElementById("tags").value,
    };
  }

  // Sizes as a file manager shows them: 20 B, 340 kB, 3.2 MB.
  function size(n) {
    if (n < 1000) return `${n} B`;
    return n < 1e6 ? `${Math.round(n / 1e3)} kB` : `${(n / 1e6).toFixed(1)} MB`;
  }

  function add(files) {
    // Photos first, RAW files last, so a RAW finds the photo it belongs to.
    const sorted = [...files].sort((a, b) => Number(RAW.test(a.name)) - Number(RAW.test(b.name)));
    const chosen = options();
    if (album.value === "__new__" && !chosen.album) {
      // A new album needs its name: say so rather than upload without one.
      const name = document.getElementById("album-name");
      name.setCustomValidity("Name the new album, or choose \u201cNo album\u201d.");
      name.reportValidity();
      name.addEventListener("input", () => name.setCustomValidity(""), { once: true });
      return;
    }
    for (const file of sorted) {
      const li = document.createElement("li");
      li.innerHTML = '<span class="name"></span><span class="size"></span><progress max="100" value="0"></progress>' +
        '<span class="status">Waiting…</span>';
      li.querySelector(".name").textContent = file.name;
      li.querySelector(".size").textContent = size(file.size);
      list.appendChild(li);
      const item = { file, li, options: chosen, state: "waiting", loaded: 0 };
      items.push(item);
      if (file.size > maxBytes) finish(item, "rejected", `Too large: the limit is ${form.dataset.maxText}.`);
    }
    summary.hidden = false;
    update();
    pump();
  }

  function pump() {
    while (running < PARALLEL) {
      const next = items.find((item) => item.state === "waiting");
      if (!next) break;
      running += 1;
      send(next).finally(() => { running -= 1; update(); pump(); });
    }
  }

  async function digest(file) {
    if (!window.crypto || !crypto.subtle || file.size > HASH_LIMIT) return null;
    try {
      const hash = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
      return [...new Uint8Array(hash)].map((b) => b.toString(16).padStart(2, "0")).join("");
    } catch (_) { return null; }
  }

  // A time in this browser's zone with its offset, as the gateway reads form times.
  function localTime(ms) {
    const d = new Date(ms);
    const two = (n) => String(Math.abs(n)).padStart(2, "0");
    const offset = -d.getTimezoneOffset();
    const zone = `${offset < 0 ? "-" : "+"}${two(Math.trunc(offset / 60))}:${two(offset % 60)}`;
    return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}` +
      `T${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}${zone}`;
  }

  async function send(item) {
    item.state = "uploading";
    setStatus(item, "Preparing…");
    const sha = await digest(item.file);
    const body = new FormData();
    for (const [name, value] of Object.entries(item.options)) if (value) body.append(name, value);
    // A photo without an EXIF date (a screenshot, a scan) is dated by its file, not by today.
    if (item.file.lastModified) body.append("file_time", localTime(item.file.lastModified));
    body.append("file", item.file, item.file.name);
    return new Promise((resolve) => {
      const xhr = new XMLHttpRequest();
      xhr.open("POST", "/api/v1/photos");
      xhr.setRequestHeader("X-CSRF-Token", csrf);
      xhr.setRequestHeader("Accept", "application/json");
      if (sha) xhr.setRequestHeader("X-Content-SHA256", sha);
      xhr.upload.addEventListener("progress", (e) => {
        if (!e.lengthComputable) return;
        item.loaded = Math.min(item.file.size, e.loaded);
        item.li.querySelector("progress").value = (100 * e.loaded) / e.total;
        setStatus(item, `Uploading… ${Math.round((100 * e.loaded) / e.total)}%`);
        update();
      });
      xhr.addEventListener("load", () => {
        let answer = {};
        try { answer = JSON.parse(xhr.responseText); } catch (_) { /* not JSON: a proxy's page */ }
        if (xhr.status === 201) {
          const where = answer.albums && answer.albums.length ? ` to ${answer.albums.join(", ")}` : "";
          const text = RAW.test(item.file.name) ? `RAW file kept beside ${answer.original_name}.` : `Uploaded${where}.`;
          finish(item, "uploaded", text);
        } else if (xhr.status === 200) {
          finish(item, "duplicate", "Already uploaded: kept the existing photo.");
        } else if (xhr.status >= 400 && xhr.status < 500 && answer.detail) {
          // 409: it may pass later (a RAW before its photo); 408 and 429: try again later.
          const later = [408, 409, 429].includes(xhr.status);
          finish(item, "rejected", `Rejected: ${answer.detail}`, later);
        } else {
          finish(item, "failed", `Failed (${xhr.status || "network"}): ${answer.detail || "try again"}`, true);
        }
        resolve();
      });
      for (const type of ["error", "abort", "timeout"]) {
        xhr.addEventListener(type, () => { finish(item, "failed", "Failed: the connection broke. Retry?", true); resolve(); });
      }
      xhr.send(body);
    });
  }

  function setStatus(item, text) { item.li.querySelector(".status").textContent = text; }

  // A retryable end offers Retry; a refusal of the file itself (not a photo, too large) does not.
  function finish(item, state, text, retryable = false) {
    item.state = state;
    item.retryable = retryable;
    item.li.className = state;
    item.loaded = item.file.size;
    item.li.querySelector("progress").value = 100;
    setStatus(item, text);
    const old = item.li.querySelector(".retry");
    if (old) old.remove();
    if (retryable) {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "small retry";
      button.textContent = "Retry";
      button.addEventListener("click", () => retry(item));
      item.li.appendChild(button);
    }
    update();
  }

  function retry(item) {
    item.state = "waiting";
    item.retryable = false;
    item.loaded = 0;
    item.li.className = "";
    item.li.querySelector("progress").value = 0;
    const button = item.li.querySelector(".retry");
    if (button) button.remove();
    setStatus(item, "Waiting…");
    update();
    pump();
  }

  function update() {
    const total = items.reduce((sum, item) => sum + item.file.size, 0) || 1;
    const loaded = items.reduce((sum, item) => sum + item.loaded, 0);
    const done = items.filter((item) => !["waiting", "uploading"].includes(item.state)).length;
    const count = (state) => items.filter((item) => item.state === state).length;
    overall.value = (100 * loaded) / total;
    const parts = [`${done} of ${items.length} done`];
    for (const [state, one, many] of [["uploaded", "uploaded", "uploaded"], ["duplicate", "duplicate", "duplicates"],
      ["rejected", "rejected", "rejected"], ["failed", "failed", "failed"]]) {
      if (count(state)) parts.push(`${count(state)} ${count(state) === 1 ? one : many}`);
    }
    overallText.textContent = parts.join(" · ");
    retryAll.hidden = !items.some((item) => item.retryable);
  }
})();
