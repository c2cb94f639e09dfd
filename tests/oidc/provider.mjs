// A real OpenID Provider for the single sign-on tests: node-oidc-provider (OpenID Certified), on loopback.
//
//   node provider.mjs            reads its setup from the environment:
//   OP_PORT        port on 127.0.0.1 (the issuer is http://127.0.0.1:OP_PORT)
//   OP_CLIENTS     JSON list of {client_id, client_secret, redirect_uris}
//   OP_USERS       JSON list of {email, password, email_verified, name?, hd?}
//
// Sign-in is a minimal form (email, password, and a "used a second factor" box that puts otp in amr);
// consent is granted with the login. Prints "OP READY <issuer>" once it listens.
import http from 'node:http';
import Provider from 'oidc-provider';

const port = Number(process.env.OP_PORT || 4417);
const issuer = `http://127.0.0.1:${port}`;
const clients = JSON.parse(process.env.OP_CLIENTS || '[]').map((c) => ({
  grant_types: ['authorization_code'],
  response_types: ['code'],
  token_endpoint_auth_method: 'client_secret_basic',
  ...c,
}));
const users = new Map(JSON.parse(process.env.OP_USERS || '[]').map((u) => [u.email.toLowerCase(), u]));

const provider = new Provider(issuer, {
  clients,
  pkce: { required: () => true },
  conformIdTokenClaims: false, // email claims in the ID token, as Google, Okta and Keycloak send them
  claims: { amr: null, openid: ['sub', 'amr'], email: ['email', 'email_verified', 'hd'], profile: ['name'] },
  cookies: { keys: ['voxanne-test-op-cookie-key'] },
  features: { devInteractions: { enabled: false } },
  ttl: { AuthorizationCode: 120, IdToken: 300, Interaction: 600, Session: 600, Grant: 600, AccessToken: 300 },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  async findAccount(ctx, id) {
    const user = users.get(id);
    if (!user) return undefined;
    return {
      accountId: id,
      async claims() {
        const claims = { sub: `op-${id}`, email: user.email, email_verified: user.email_verified !== false,
                         name: user.name || user.email.split('@')[0] };
        if (user.hd) claims.hd = user.hd;
        return claims;
      },
    };
  },
});
provider.proxy = false;

const escape = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(uid, message) {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Test IdP sign-in</title></head>
<body><main><h1>Test identity provider</h1>${message ? `<p role="alert" id="op-error">${escape(message)}</p>` : ''}
<form method="post" action="/interaction/${uid}/login">
<label for="op-email">Email</label> <input id="op-email" name="email" type="email" required>
<label for="op-password">Password</label> <input id="op-password" name="password" type="password" required>
<label><input id="op-mfa" name="mfa" type="checkbox" value="1"> Used a second factor</label>
<button id="op-submit" type="submit">Sign in at the IdP</button></form></main></body></html>`;
}

async function readForm(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return new URLSearchParams(Buffer.concat(chunks).toString());
}

async function grantFor(details, accountId) {
  const grant = details.grantId ? await provider.Grant.find(details.grantId)
    : new provider.Grant({ accountId, clientId: details.params.client_id });
  grant.addOIDCScope(String(details.params.scope || 'openid'));
  return grant.save();
}

async function interaction(req, res) {
  const match = req.url.match(/^\/interaction\/([^/?]+)(\/login)?/);
  const details = await provider.interactionDetails(req, res);
  if (match[2] && req.method === 'POST') {
    const form = await readForm(req);
    const email = String(form.get('email') || '').toLowerCase();
    const user = users.get(email);
    if (!user || user.password !== form.get('password')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(page(details.uid, 'Unknown email or wrong password.'));
      return;
    }
    const amr = form.get('mfa') ? ['pwd', 'otp'] : ['pwd'];
    const grantId = await grantFor(details, email);
    await provider.interactionFinished(req, res, { login: { accountId: email, amr }, consent: { grantId } },
      { mergeWithLastSubmission: false });
    return;
  }
  if (details.prompt.name === 'consent' && details.session) {
    const grantId = await grantFor(details, details.session.accountId);
    await provider.interactionFinished(req, res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    return;
  }
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
  res.end(page(details.uid, ''));
}

const callback = provider.callback();
http.createServer((req, res) => {
  if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch((err) => {
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(`interaction failed: ${err.message}`);
    });
    return;
  }
  callback(req, res);
}).listen(port, '127.0.0.1', () => console.log(`OP READY ${issuer}`));
