// Starts ReDoc on /redoc from the packaged copy (no CDN, no inline script).
"use strict";
(function () {
  const root = document.getElementById("redoc");
  Redoc.init(root.dataset.spec, {}, root);
})();
