// Small DOM and formatting helpers. Text always goes in as text nodes,
// never as HTML, so nothing an answer carries can become markup.

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

// el("td", {class: "num", dataset: {x: 1}}, "text", otherNode, ...)
export function el(tag, attrs = {}, ...children) {
  const n = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") n.className = v;
    else if (k === "dataset") Object.assign(n.dataset, v);
    else if (k === "testid") n.dataset.testid = v;
    else if (k.startsWith("on")) n.addEventListener(k.slice(2), v);
    else n.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    n.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return n;
}

export function clear(n) {
  while (n.firstChild) n.firstChild.remove();
  return n;
}

export function ms(v) {
  if (v === undefined || v === null || Number.isNaN(v)) return "–";
  if (v >= 100) return `${v.toFixed(0)} ms`;
  if (v >= 1) return `${v.toFixed(2)} ms`;
  return `${v.toFixed(3)} ms`;
}

export function num(v) {
  if (v === undefined || v === null) return "–";
  return Math.round(v).toLocaleString("en-US");
}

export function ratio(v) {
  if (v === undefined || v === null) return "–";
  return `${(v * 100).toFixed(1)}%`;
}

export function badge(passed, labels = ["passed", "failed"]) {
  return el("span", { class: `badge ${passed ? "ok" : "bad"}` }, passed ? labels[0] : labels[1]);
}

export function pill(kind) {
  return el("span", { class: `pill k-${kindClass(kind)}` }, kind);
}

// The colour family of an event kind.
export function kindClass(kind) {
  if (/error|failed/.test(kind)) return "bad";
  if (kind === "hit") return "hit";
  if (/miss|stale-served/.test(kind)) return "miss";
  if (/invalidat|removed|flushed|expired|evicted|discarded|cleared|updated/.test(kind)) return "inval";
  if (/stored/.test(kind)) return "store";
  if (/load|single-flight|refresh/.test(kind)) return "load";
  return "other";
}

export function time(iso) {
  if (!iso) return "";
  const t = iso.indexOf("T");
  return t >= 0 ? iso.slice(t + 1, t + 13) : iso;
}

// A compact one-line view of the members of o not in skip.
export function details(o, skip) {
  const parts = [];
  for (const [k, v] of Object.entries(o)) {
    if (skip.includes(k)) continue;
    let s = typeof v === "string" ? v : JSON.stringify(v);
    if (s.length > 80) s = s.slice(0, 77) + "…";
    parts.push(`${k}=${s}`);
  }
  return parts.join("  ");
}

// Download a JSON value as a file.
export function download(name, value) {
  const blob = new Blob([JSON.stringify(value, null, 2) + "\n"], { type: "application/json" });
  const url = URL.createObjectURL(blob);
  const a = el("a", { href: url, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10000);
}
