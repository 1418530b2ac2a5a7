// Building DOM safely: text always goes in as text nodes (never as HTML), attributes through setAttribute.

/** el("a", {href: "/x", class: "btn"}, "text", childNode, ...) */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) throw new Error(`el(): event attributes are not allowed (${key})`);
    node.setAttribute(key, value === true ? "" : String(value));
  }
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

export function replace(node, ...children) {
  clear(node);
  return append(node, children);
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

/** The page's data, from its escaped `<script type="application/json" id="page-data">` block. */
export function pageData() {
  const node = document.getElementById("page-data");
  return node ? JSON.parse(node.textContent) : {};
}

/** Fill a <select> with options [{value, label}] (or strings), keeping `selected`. */
export function fillSelect(select, options, selected) {
  clear(select);
  for (const opt of options) {
    const { value, label } = typeof opt === "string" ? { value: opt, label: opt } : opt;
    const o = el("option", { value }, label);
    if (value === selected) o.selected = true;
    select.append(o);
  }
}

export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
