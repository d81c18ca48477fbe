// The page's only DOM helper: h(tag, props, ...children). No framework — a
// few hundred elements rebuilt once a second do not need one (docs/DASHBOARD.md).

type Child = Node | string | number | null | undefined | false;
/** Children may come in (nested) arrays, as map() gives them. */
export type Children = Child | Children[];
type Props = Record<string, string | number | boolean | null | undefined | ((e: Event) => void)>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, props: Props | null = null, ...children: Children[]): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (props) {
    for (const [k, v] of Object.entries(props)) {
      if (v === null || v === undefined || v === false) continue;
      if (typeof v === 'function') el.addEventListener(k.replace(/^on/, ''), v as EventListener);
      else if (k === 'class') el.className = String(v);
      // through the CSSOM: the page's Content-Security-Policy refuses style attributes
      else if (k === 'style') for (const d of String(v).split(';')) setStyle(el, d);
      else el.setAttribute(k, v === true ? '' : String(v));
    }
  }
  append(el, children);
  return el;
}

function append(el: Element, children: Children[]): void {
  for (const c of children) {
    if (Array.isArray(c)) append(el, c);
    else if (c !== null && c !== undefined && c !== false) el.append(typeof c === 'number' ? String(c) : c);
  }
}

/** Replace an element's children. */
export function fill(el: Element, ...children: Children[]): void {
  el.replaceChildren();
  append(el, children);
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing from the page`);
  return el as T;
}

/** The section's body element. */
export function body(sectionId: string): HTMLElement {
  return byId(sectionId).querySelector('.body') as HTMLElement;
}

function setStyle(el: HTMLElement, decl: string): void {
  const i = decl.indexOf(':');
  if (i > 0) el.style.setProperty(decl.slice(0, i).trim(), decl.slice(i + 1).trim());
}
