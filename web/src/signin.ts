// Signing in where the API wants a token (the server marks the page
// <body data-auth="signin">): a small form asks for the token, POSTs it to
// /v1/session, and reloads the page, which then comes with the session
// cookie and data-auth="session" (and a button to sign out). The token goes
// nowhere else: not into the address, storage or the page's state.

import { byId, fill, h } from './dom.js';

export type Access = 'signin' | 'session' | null;

export function pageAccess(): Access {
  const a = document.body.dataset.auth;
  return a === 'signin' || a === 'session' ? a : null;
}

async function message(r: Response): Promise<string> {
  try {
    return ((await r.json()) as { message?: string }).message ?? `HTTP ${r.status}`;
  } catch {
    return `HTTP ${r.status}`;
  }
}

/** Show the form in place of the headline; nothing else is asked of the API until it succeeds. */
export function showSignin(): void {
  const input = h('input', { type: 'password', id: 'token', name: 'token', autocomplete: 'current-password', required: true, spellcheck: 'false', 'aria-describedby': 'token-help' });
  const status = h('p', { class: 'note', role: 'status', 'data-test': 'signin-status' });
  const form = h(
    'form',
    { class: 'signin', 'data-test': 'signin' },
    h('h2', null, 'Sign in'),
    h('p', { id: 'token-help', class: 'note' }, "This ctscope API needs its token (the daemon's --token-file). It is exchanged for a session cookie of this browser; it is not kept by the page."),
    h('label', { for: 'token' }, 'token'),
    input,
    h('button', { type: 'submit' }, 'sign in'),
    status,
  );
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    fill(status, 'signing in…');
    void (async () => {
      const r = await fetch('/v1/session', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ token: input.value }), cache: 'no-store' }).catch(() => null);
      input.value = '';
      if (r?.ok) return location.reload();
      status.className = 'note bad';
      fill(status, r ? await message(r) : 'the API did not answer');
      input.focus();
    })();
  });
  fill(byId('headline'), form);
  byId('mode').textContent = 'sign in';
  for (const id of ['timeline', 'tables', 'alloc', 'drops', 'occupancy', 'lifetimes', 'advice', 'sources', 'flows']) byId(id).hidden = true;
  document.querySelector<HTMLElement>('.pair')!.hidden = true;
  input.focus();
}

/** A sign-out button in the header (a session ends on the server too, not just in this browser). */
export function offerSignout(): void {
  const b = h('button', { type: 'button', class: 'signout', 'data-test': 'signout' }, 'sign out');
  b.addEventListener('click', () => {
    void fetch('/v1/session', { method: 'DELETE', cache: 'no-store' }).finally(() => location.reload());
  });
  byId('top').append(b);
}
