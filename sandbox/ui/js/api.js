// The console's way to the API: the generated client (sandbox/openapi/
// client.js, served at /demo/ui/client.js), the token, and errors shown in
// the page rather than lost.
import { SandboxClient, SandboxError } from "/demo/ui/client.js";
import { $ } from "./dom.js";

const TOKEN_KEY = "hcache-sandbox-token";

let current = "";
try {
  current = sessionStorage.getItem(TOKEN_KEY) || "";
} catch {
  /* storage refused (a private window): the token lasts until a reload */
}

export function token() {
  return current;
}

// Kept for the tab's session, so that Swagger UI (same origin) finds it too.
export function setToken(t) {
  current = t;
  try {
    if (t) sessionStorage.setItem(TOKEN_KEY, t);
    else sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    /* as above */
  }
}

// A client for one flow (or none): every call of a golden flow shares one.
export function client(flowId) {
  return new SandboxClient(location.origin, { token: current || undefined, flowId });
}

// "run the scenario: 400 bad_yaml: message (line 3, column 5)" from
// whatever a call for what threw.
export function describe(err, what) {
  if (err instanceof SandboxError) {
    const e = (err.body && err.body.error) || {};
    let s = `${what ? what + ": " : ""}${err.status}${e.code ? " " + e.code : ""}: ${e.message || err.message}`;
    if (e.line) s += ` (line ${e.line}${e.column ? ", column " + e.column : ""})`;
    if (err.status === 401) s += ". Enter the server's token in the Token field above.";
    return s;
  }
  if (err instanceof TypeError) return `${what ? what + ": " : ""}the sandbox did not answer (${err.message})`;
  return `${what ? what + ": " : ""}${err && err.message ? err.message : String(err)}`;
}

// Show an error in the page's error region. source names what showed it:
// a refresh in the background clears only its own errors, so the error
// of something the user ran stays until the next thing they run.
export function showError(err, what, source = "action") {
  const box = $('[data-testid="error"]');
  box.querySelector(".error-text").textContent = describe(err, what);
  box.dataset.source = source;
  box.hidden = false;
  if (err instanceof SandboxError && err.status === 401) $("#token").focus();
}

export function clearError(source) {
  const box = $('[data-testid="error"]');
  if (!source || box.dataset.source === source) box.hidden = true;
}

// Run fn for button (a user's action: the error shown before goes; null
// for the console's own loading), with the button disabled and marked
// busy; an error goes to the page's error region (and to onError, for an
// inline message too). Returns fn's value, or undefined after an error.
export async function busy(button, what, fn, onError) {
  if (button) {
    clearError();
    button.disabled = true;
    button.setAttribute("aria-busy", "true");
  }
  document.body.classList.add("working");
  try {
    return await fn();
  } catch (err) {
    showError(err, what);
    if (onError) onError(err);
    return undefined;
  } finally {
    document.body.classList.remove("working");
    if (button) {
      button.disabled = false;
      button.removeAttribute("aria-busy");
    }
  }
}

export { SandboxError };
