import { html, type SafeHtml } from './html';

export function loginPage(opts: { csrf: string; username?: string; error?: string | null }): SafeHtml {
  return html`<section class="card login">
    <h1>Sign in</h1>
    ${opts.error ? html`<div class="flash error" role="alert">${opts.error}</div>` : ''}
    <form method="post" action="/panel/login">
      <input type="hidden" name="_csrf" value="${opts.csrf}" />
      <label
        >Username
        <input type="text" name="username" autocomplete="username" required value="${opts.username ?? ''}"
      /></label>
      <label
        >Password <input type="password" name="password" autocomplete="current-password" required
      /></label>
      <button type="submit" class="primary">Sign in</button>
    </form>
    <p class="small muted">
      No account yet? On the sidecar's host run <code>uuru-fed admin create &lt;name&gt;</code>.
    </p>
  </section>`;
}
