// Starts Swagger UI on /docs (a file, not an inline script, so the page's CSP needs no 'unsafe-inline').
"use strict";
(() => {
  const root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({ url: root.dataset.openapiUrl, dom_id: "#swagger-ui", deepLinking: true });
})();
