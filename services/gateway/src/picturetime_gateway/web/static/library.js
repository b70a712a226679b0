// The library: the owner's photos by day (infinite scroll), filters, multi-select with shift-click
// and whole days, bulk actions through the JSON API, the trash, and a photo's detail.
(() => {
  "use strict";
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  const days = $("days");
  const status = $("status");
  const actions = $("actions");
  const filters = $("filters");
  const params = new URLSearchParams(location.search);
  const trashed = params.get("trashed") === "true";
  const pageSize = Math.min(200, Number(params.get("limit")) || Number(days.dataset.pageSize));
  const trashDays = days.dataset.trashDays;
  const FILTERS = ["taken_from", "taken_to", "kind", "album", "tag", "status", "has_raw", "q"];

  const photos = []; // in the order shown
  const byId = new Map();
  const selected = new Set();
  let anchor = null; // index of the last photo picked: the start of a shift-click range
  let cursor = null;
  let done = false;
  let loading = false;
  let generation = 0; // a new filter starts a new list: late answers for the old one are dropped

  // --- the JSON API ---------------------------------------------------------------------------
  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") headers["X-CSRF-Token"] = csrf;
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const response = await fetch(path, {
      method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body),
    });
    if (response.status === 204) return null;
    const data = await response.json().catch(() => null);
    if (!response.ok) {
      const detail = data && (data.detail || data.message);
      throw new Error(typeof detail === "string" ? detail : `the server answered ${response.status}`);
    }
    return data;
  }

  // --- the view: library or trash, filters ----------------------------------------------------
  if (trashed) {
    $("view-library").removeAttribute("aria-current");
    $("view-trash").setAttribute("aria-current", "page");
    $("library-title").textContent = "Trash";
    $("library-actions").hidden = true;
    $("trash-actions").hidden = false;
    $("empty-trash").hidden = false;
  }
  for (const name of FILTERS) {
    const field = filters.elements[name];
    if (field && params.has(name)) field.value = params.get(name);
  }
  if (FILTERS.some((name) => params.get(name))) $("filters-box").open = true;

  filters.addEventListener("submit", (event) => {
    event.preventDefault();
    for (const name of FILTERS) {
      const value = (filters.elements[name].value || "").trim();
      if (value) params.set(name, value);
      else params.delete(name);
    }
    history.replaceState(null, "", `${location.pathname}${params.size ? `?${params}` : ""}`);
    restart();
  });
  filters.addEventListener("reset", () => setTimeout(() => filters.requestSubmit(), 0));

  function query() {
    const q = new URLSearchParams({ limit: String(pageSize), order: "taken" });
    for (const name of FILTERS) if (params.get(name)) q.set(name, params.get(name));
    // Dates are the photos' own local days. The API compares instants, so it is asked for every
    // instant that is that day somewhere (UTC+14 to UTC-12), and add() drops the few extra ones.
    if (q.get("taken_from")) q.set("taken_from", `${q.get("taken_from")}T00:00:00+14:00`);
    if (q.get("taken_to")) q.set("taken_to", `${q.get("taken_to")}T23:59:59-12:00`);
    if (trashed) q.set("trashed", "true");
    if (cursor) q.set("cursor", cursor);
    return q;
  }

  // --- loading, page after page ----------------------------------------------------------------
  function restart() {
    generation += 1;
    photos.length = 0;
    byId.clear();
    selected.clear();
    anchor = null;
    cursor = null;
    done = false;
    loading = false;
    days.replaceChildren();
    refreshSelection();
    return load();
  }

  async function load() {
    if (loading || done) return;
    loading = true;
    const mine = generation;
    status.textContent = "Loading…";
    try {
      const page = await api("GET", `/api/v1/photos?${query()}`);
      if (mine !== generation) return;
      for (const photo of page.items) add(photo);
      cursor = page.next_cursor;
      done = !cursor;
      loading = false;
      showCount();
      if (!done && nearBottom()) load();
    } catch (error) {
      if (mine !== generation) return;
      loading = false;
      done = true;
      status.textContent = `Could not load photos: ${error.message}`;
      status.classList.add("error");
    }
  }

  function showCount() {
    status.classList.remove("error");
    const n = photos.length;
    if (!n) status.textContent = trashed ? "The trash is empty." : "No photos match.";
    else status.textContent = `${n} photo${n === 1 ? "" : "s"}${done ? "" : " so far"}` +
      (trashed ? ` in the trash; each goes for good ${trashDays} days after it was deleted.` : ".");
  }

  const more = $("more");
  function nearBottom() {
    return more.getBoundingClientRect().top < window.innerHeight + 800;
  }
  new IntersectionObserver((entries) => {
    if (entries.some((entry) => entry.isIntersecting)) load();
  }, { rootMargin: "800px 0px" }).observe(more);

  // --- days and tiles --------------------------------------------------------------------------
  function dayOf(photo) {
    return photo.taken_at.slice(0, 10); // the local date the photo was taken on
  }

  function dayTitle(day) {
    const [y, m, d] = day.split("-").map(Number);
    return new Date(y, m - 1, d).toLocaleDateString(undefined, {
      weekday: "long", year: "numeric", month: "long", day: "numeric",
    });
  }

  function daySection(day) {
    // Photos come by instant; one from another time zone may belong to a day already shown.
    const found = days.querySelector(`section.day[data-day="${day}"]`);
    if (found) return found;
    const section = document.createElement("section");
    section.className = "day";
    section.dataset.day = day;
    const head = document.createElement("h2");
    const label = document.createElement("label");
    label.className = "day-pick";
    const box = document.createElement("input");
    box.type = "checkbox";
    box.className = "day-select";
    box.setAttribute("aria-label", `Select every photo of ${dayTitle(day)}`);
    box.addEventListener("change", () => selectDay(section, box.checked));
    const text = document.createElement("span");
    text.textContent = dayTitle(day);
    label.append(box, text);
    head.append(label);
    const grid = document.createElement("ul");
    grid.className = "grid";
    section.append(head, grid);
    days.append(section);
    return section;
  }

  function add(photo) {
    if (byId.has(photo.id)) return;
    const day = dayOf(photo);
    if ((params.get("taken_from") && day < params.get("taken_from")) || (params.get("taken_to") && day > params.get("taken_to"))) return;
    photos.push(photo);
    byId.set(photo.id, photo);
    const tile = document.createElement("li");
    tile.className = "tile";
    tile.dataset.id = photo.id;
    const pick = document.createElement("input");
    pick.type = "checkbox";
    pick.className = "pick";
    pick.setAttribute("aria-label", `Select ${photo.title || photo.original_name}`);
    pick.addEventListener("click", (event) => choose(photo.id, event.shiftKey, pick.checked));
    const open = document.createElement("button");
    open.type = "button";
    open.className = "open";
    open.setAttribute("aria-label", `Open ${photo.title || photo.original_name}`);
    const img = document.createElement("img");
    img.loading = "lazy";
    img.decoding = "async";
    img.alt = photo.title || photo.original_name;
    img.src = `/library/photos/${photo.id}/picture.jpg?size=360`;
    open.append(img);
    open.addEventListener("click", (event) => {
      // With photos selected, a click selects too (as in a photo app); else it opens the photo.
      if (selected.size) choose(photo.id, event.shiftKey, !selected.has(photo.id));
      else showDetail(photo.id);
    });
    const badges = document.createElement("span");
    badges.className = "badges";
    tile.append(pick, open, badges);
    daySection(day).querySelector(".grid").append(tile);
    badge(photo);
  }

  function badge(photo) {
    const tile = tileOf(photo.id);
    if (!tile) return;
    const badges = tile.querySelector(".badges");
    badges.replaceChildren();
    const marks = [];
    if (photo.kind === "portfolio") marks.push(["portfolio", "Portfolio"]);
    if (photo.has_raw) marks.push(["raw", "RAW"]);
    if (photo.status === "failed") marks.push(["failed", "Not aligned"]);
    if (photo.status === "pending") marks.push(["pending", "Waiting"]);
    for (const [name, text] of marks) {
      const mark = document.createElement("span");
      mark.className = `badge ${name}`;
      mark.textContent = text;
      badges.append(mark);
    }
  }

  function tileOf(id) {
    return days.querySelector(`li.tile[data-id="${CSS.escape(id)}"]`);
  }

  // --- selection -------------------------------------------------------------------------------
  function choose(id, shift, on) {
    const index = photos.findIndex((p) => p.id === id);
    if (shift && anchor !== null && photos[anchor] && byId.has(photos[anchor].id)) {
      const [from, to] = anchor < index ? [anchor, index] : [index, anchor];
      for (let i = from; i <= to; i += 1) setSelected(photos[i].id, on);
    } else {
      setSelected(id, on);
    }
    anchor = index;
    refreshSelection();
  }

  function selectDay(section, on) {
    for (const tile of section.querySelectorAll("li.tile")) setSelected(tile.dataset.id, on);
    refreshSelection();
  }

  function setSelected(id, on) {
    if (on) selected.add(id);
    else selected.delete(id);
    const tile = tileOf(id);
    if (tile) {
      tile.classList.toggle("selected", on);
      tile.querySelector(".pick").checked = on;
    }
  }

  function refreshSelection() {
    const n = selected.size;
    actions.hidden = n === 0;
    document.body.classList.toggle("selecting", n > 0);
    $("selected-count").textContent = `${n} selected`;
    for (const section of days.children) {
      const tiles = section.querySelectorAll("li.tile");
      const chosen = section.querySelectorAll("li.tile.selected").length;
      const box = section.querySelector(".day-select");
      box.checked = tiles.length > 0 && chosen === tiles.length;
      box.indeterminate = chosen > 0 && chosen < tiles.length;
    }
  }

  function clearSelection() {
    for (const id of [...selected]) setSelected(id, false);
    anchor = null;
    refreshSelection();
  }
  $("clear-selection").addEventListener("click", clearSelection);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && selected.size && !$("detail").open) clearSelection();
  });

  // --- bulk actions ----------------------------------------------------------------------------
  function say(text, bad = false) {
    status.textContent = text;
    status.classList.toggle("error", bad);
  }

  function plural(n, what) {
    return `${n} ${what}${n === 1 ? "" : "s"}`;
  }

  async function act(work) {
    const buttons = actions.querySelectorAll("button");
    for (const button of buttons) button.disabled = true;
    try {
      await work([...selected]);
    } catch (error) {
      say(`Nothing was changed: ${error.message}`, true);
    } finally {
      for (const button of buttons) button.disabled = false;
    }
  }

  // The API takes at most 500 photos a request: a larger selection goes in several.
  const BATCH = 500;
  async function inBatches(ids, send) {
    let count = 0;
    for (let i = 0; i < ids.length; i += BATCH) count += await send(ids.slice(i, i + BATCH));
    return count;
  }

  function bulk(action, patch) {
    return (ids) => api("POST", "/api/v1/photos/bulk", patch ? { ids, action, patch } : { ids, action })
      .then((result) => result.count);
  }

  function removeTiles(ids) {
    for (const id of ids) {
      const tile = tileOf(id);
      const section = tile && tile.closest("section.day");
      if (tile) tile.remove();
      if (section && !section.querySelector("li.tile")) section.remove();
      const photo = byId.get(id);
      if (photo) photos.splice(photos.indexOf(photo), 1);
      byId.delete(id);
      selected.delete(id);
    }
    anchor = null;
    refreshSelection();
  }

  $("delete").addEventListener("click", () => act(async (ids) => {
    const count = await inBatches(ids, bulk("delete"));
    removeTiles(ids);
    say(`${plural(count, "photo")} moved to the trash (restorable for ${trashDays} days).`);
  }));

  $("empty-trash").addEventListener("click", async () => {
    if (!confirm("Delete every photo in the trash for good? Their originals, RAW files and frames go too.")) return;
    try {
      const result = await api("POST", "/api/v1/photos/trash/empty");
      await restart();
      say(`${plural(result.deleted, "photo")} deleted for good.`);
    } catch (error) {
      say(`The trash was not emptied: ${error.message}`, true);
    }
  });

  $("restore").addEventListener("click", () => act(async (ids) => {
    const count = await inBatches(ids, bulk("restore"));
    removeTiles(ids);
    say(`${plural(count, "photo")} restored to the library.`);
  }));

  $("set-kind").addEventListener("click", () => act(async (ids) => {
    const kind = $("a-kind").value;
    const count = await inBatches(ids, bulk("patch", { kind }));
    for (const id of ids) {
      const photo = byId.get(id);
      if (photo) { photo.kind = kind; badge(photo); }
    }
    clearSelection();
    say(`${plural(count, "photo")} now ${kind === "daily" ? "daily photos" : "portfolio photos"}.`);
  }));

  const albumChoice = $("a-album");
  albumChoice.addEventListener("change", () => {
    $("a-album-name").hidden = albumChoice.value !== "__new__";
    if (albumChoice.value === "__new__") $("a-album-name").focus();
  });
  if (albumChoice.options.length === 1) $("a-album-name").hidden = false; // only "New album…"

  async function chosenAlbum() {
    if (albumChoice.value !== "__new__") {
      return { id: Number(albumChoice.value), name: albumChoice.selectedOptions[0].textContent };
    }
    const name = $("a-album-name").value.trim();
    if (!name) {
      $("a-album-name").focus();
      throw new Error("give the new album a name");
    }
    const album = await api("POST", "/api/v1/albums", { name, visibility: "private" });
    for (const select of document.querySelectorAll("select.album-choices")) {
      const option = new Option(album.name, String(album.id));
      const last = select.querySelector('option[value="__new__"]');
      select.insertBefore(option, last);
    }
    albumChoice.value = String(album.id);
    $("a-album-name").value = "";
    $("a-album-name").hidden = true;
    return album;
  }

  $("add-album").addEventListener("click", () => act(async (ids) => {
    const album = await chosenAlbum();
    await inBatches(ids, (batch) => api("POST", `/api/v1/albums/${album.id}/photos`, { ids: batch })
      .then((result) => result.changed));
    for (const id of ids) {
      const photo = byId.get(id);
      if (photo && !photo.albums.some((a) => a.id === album.id)) photo.albums.push({ id: album.id, name: album.name });
    }
    clearSelection();
    say(`${plural(ids.length, "photo")} added to ${album.name}.`);
  }));

  $("add-tag").addEventListener("click", () => act(async (ids) => {
    const tag = $("a-tag").value.trim();
    if (!tag) {
      $("a-tag").focus();
      throw new Error("type a tag");
    }
    // A photo keeps its other tags. The API replaces a photo's tags, so photos that carry the same
    // tags now go together, in one request, with the new one added.
    const groups = new Map();
    for (const id of ids) {
      const photo = byId.get(id);
      if (!photo || photo.tags.includes(tag.toLowerCase())) continue;
      const key = JSON.stringify([...photo.tags].sort());
      if (!groups.has(key)) groups.set(key, []);
      groups.get(key).push(id);
    }
    for (const [key, members] of groups) {
      const tags = [...JSON.parse(key), tag];
      await inBatches(members, bulk("patch", { tags }));
      for (const id of members) byId.get(id).tags = tags.map((t) => t.toLowerCase()).sort();
    }
    $("a-tag").value = "";
    clearSelection();
    say(`${plural(ids.length, "photo")} tagged ${tag}.`);
    loadTags();
  }));

  // --- tags for the filter and the tag field ---------------------------------------------------
  async function loadTags() {
    try {
      const tags = await api("GET", "/api/v1/tags");
      const list = $("tag-names");
      list.replaceChildren(...tags.map((tag) => new Option(tag.name)));
    } catch {
      // the lists are a convenience: typing a tag works without them
    }
  }

  // --- a photo's detail ------------------------------------------------------------------------
  const detail = $("detail");
  let shown = null;
  $("detail-close").addEventListener("click", () => detail.close());
  detail.addEventListener("click", (event) => { if (event.target === detail) detail.close(); });

  function when(value) {
    return value ? new Date(value).toLocaleString(undefined, { dateStyle: "long", timeStyle: "short" }) : "";
  }

  function size(n) {
    if (n < 1000) return `${n} B`;
    return n < 1e6 ? `${Math.round(n / 1e3)} kB` : `${(n / 1e6).toFixed(1)} MB`;
  }

  function metadata(photo) {
    const rows = [
      ["Taken", `${photo.taken_at.slice(0, 16).replace("T", " ")} (${photo.taken_at.slice(19) || "UTC"})`],
      ["Uploaded", when(photo.uploaded_at)],
      ["Kind", photo.kind === "daily" ? "Daily photo (timelapse)" : "Portfolio photo"],
      ["Status", photo.status + (photo.failure_reason ? `: ${photo.failure_detail || photo.failure_reason}` : "")],
      ["File", `${photo.original_name} · ${size(photo.size)}` +
        (photo.width && photo.height ? ` · ${photo.width} × ${photo.height} px` : "")],
      ["RAW", photo.has_raw ? "kept beside it" : "none"],
      ["Albums", photo.albums.map((a) => a.name).join(", ") || "none"],
      ["Tags", photo.tags.join(", ") || "none"],
    ];
    if (photo.location) rows.push(["Location", `${photo.location.latitude.toFixed(5)}, ${photo.location.longitude.toFixed(5)}`]);
    if (photo.frame) {
      const f = photo.frame;
      const flags = Object.entries(f.quality || {}).filter(([, v]) => v === true).map(([k]) => k.replace(/_/g, " "));
      rows.push(["Alignment", `confidence ${f.confidence.toFixed(2)}` + (flags.length ? ` · ${flags.join(", ")}` : "")]);
      rows.push(["Eyes", `left ${f.left_eye.map((v) => v.toFixed(0)).join(", ")} · right ${f.right_eye.map((v) => v.toFixed(0)).join(", ")}`]);
      rows.push(["Frame", `${f.width} × ${f.height} px, aligned ${when(f.aligned_at)}${f.mirrored_at ? ", mirrored home" : ""}`]);
    }
    if (photo.deleted_at) rows.push(["In the trash since", when(photo.deleted_at)]);
    const list = $("detail-meta");
    list.replaceChildren();
    for (const [name, value] of rows) {
      const dt = document.createElement("dt");
      dt.textContent = name;
      const dd = document.createElement("dd");
      dd.textContent = value;
      list.append(dt, dd);
    }
  }

  // The photo next to the one shown (newer: -1, older: +1), loading the next page when needed.
  async function step(direction) {
    if (!shown) return;
    let index = photos.indexOf(shown) + direction;
    if (index >= photos.length && !done) {
      await load();
      index = photos.indexOf(shown) + direction;
    }
    if (index >= 0 && index < photos.length) showDetail(photos[index].id);
  }
  $("detail-prev").addEventListener("click", () => step(-1));
  $("detail-next").addEventListener("click", () => step(1));
  document.addEventListener("keydown", (event) => {
    if (!detail.open || (event.target.closest && event.target.closest("input, textarea, select"))) return;
    if (event.key === "ArrowLeft") step(-1);
    else if (event.key === "ArrowRight") step(1);
  });

  function showDetail(id) {
    const photo = byId.get(id);
    if (!photo) return;
    shown = photo;
    const index = photos.indexOf(photo);
    $("detail-prev").disabled = index <= 0;
    $("detail-next").disabled = index >= photos.length - 1 && done;
    $("detail-title").textContent = photo.title || photo.original_name;
    $("detail-original").src = `/library/photos/${photo.id}/picture.jpg?size=1280`;
    $("detail-frame-box").hidden = !photo.frame;
    if (photo.frame) $("detail-frame").src = photo.frame.content_url;
    else $("detail-frame").removeAttribute("src");
    metadata(photo);
    $("d-title").value = photo.title;
    $("d-description").value = photo.description;
    $("d-tags").value = photo.tags.join(", ");
    $("d-kind").value = photo.kind;
    $("d-location").checked = photo.show_location;
    $("detail-form").hidden = trashed;
    $("detail-saved").textContent = "";
    if (!detail.open) detail.showModal();
  }

  $("detail-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!shown) return;
    const tags = $("d-tags").value.split(",").map((t) => t.trim()).filter(Boolean);
    const change = {
      title: $("d-title").value, description: $("d-description").value, tags,
      kind: $("d-kind").value, show_location: $("d-location").checked,
    };
    try {
      const saved = await api("PATCH", `/api/v1/photos/${shown.id}`, change);
      Object.assign(shown, saved);
      badge(shown);
      metadata(shown);
      $("detail-title").textContent = shown.title || shown.original_name;
      $("detail-saved").textContent = "Saved.";
      loadTags();
    } catch (error) {
      $("detail-saved").textContent = `Not saved: ${error.message}`;
    }
  });

  loadTags();
  load();
})();
