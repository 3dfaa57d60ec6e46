// Swagger UI over the sandbox's own document, from files the sandbox
// serves (swagger-ui-dist, pinned in sandbox/package.json): no CDN, and
// no validator badge (it would send the document to validator.swagger.io).
// The token, when the server needs one, is the console's (kept for the
// tab's session): it is sent with the document's request and preset in
// the Authorize dialog, so "Try it out" works at once.
(function () {
  "use strict";
  var KEY = "hcache-sandbox-token";
  var note = document.getElementById("hc-note");
  var input = document.getElementById("hc-token-input");

  function stored() {
    try {
      return sessionStorage.getItem(KEY) || "";
    } catch (e) {
      return "";
    }
  }

  function say(text) {
    note.textContent = text;
    note.hidden = !text;
  }

  if (typeof window.SwaggerUIBundle !== "function") {
    say("Swagger UI is not installed here: run scripts/sandbox-npm.sh (npm) in the source tree, or make install, " +
        "then reload. The document itself is at /openapi.json.");
    return;
  }

  var token = stored();
  input.value = token;
  var ui;

  function start() {
    ui = window.SwaggerUIBundle({
      url: "/openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      validatorUrl: null,
      displayRequestDuration: true,
      docExpansion: "list",
      filter: true,
      presets: [window.SwaggerUIBundle.presets.apis],
      layout: "BaseLayout",
      // The document's own request needs the token too; "Try it out"
      // requests carry the one of the Authorize dialog.
      requestInterceptor: function (req) {
        if (token && !req.headers.Authorization) req.headers.Authorization = "Bearer " + token;
        return req;
      },
      responseInterceptor: function (res) {
        if (res.url && /\/openapi\.json$/.test(res.url) && res.status === 401) {
          say("This server needs a token: enter it above.");
          input.focus();
        }
        return res;
      },
      onComplete: function () {
        if (token) ui.preauthorizeApiKey("bearer", token);
      }
    });
  }

  document.getElementById("hc-token").addEventListener("submit", function (e) {
    e.preventDefault();
    token = input.value.trim();
    try {
      if (token) sessionStorage.setItem(KEY, token);
      else sessionStorage.removeItem(KEY);
    } catch (err) {
      /* kept for this page only */
    }
    say("");
    start();
  });

  start();
})();
