// A real OpenID Connect provider (panva's oidc-provider) for the single sign-on tests.
//
// Environment: OIDC_PORT (where it listens), OIDC_REDIRECT_URIS (comma-separated, our
// app's callbacks), OIDC_CLIENT_ID and OIDC_CLIENT_SECRET (the one client: our app),
// OIDC_ID_TOKEN_TTL (seconds, default 600), OIDC_CLOCK_OFFSET_SECONDS (a provider whose
// clock is that far off: -3600 issues ID tokens that expired before they arrive) and
// OIDC_ID_TOKEN_AUDIENCE (sign ID tokens for that audience instead of the client: a
// provider that issues tokens meant for another service), OIDC_ACR (the authentication
// context class, `acr`, its ID tokens report; none unless set).
// Accounts: any login name signs in (devInteractions); its claims are derived from it:
// uid "uid-<login>", oid "oid-<login>", preferred_username "<login>@example.nhs.uk".
const offset = Number(process.env.OIDC_CLOCK_OFFSET_SECONDS || 0) * 1000;
if (offset) {
  const realNow = Date.now;
  Date.now = () => realNow() + offset;
}
const { default: Provider } = await import('oidc-provider');

const port = Number(process.env.OIDC_PORT);
const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.OIDC_CLIENT_ID,
    client_secret: process.env.OIDC_CLIENT_SECRET,
    redirect_uris: process.env.OIDC_REDIRECT_URIS.split(','),
    grant_types: ['authorization_code'],
    response_types: ['code'],
  }],
  claims: {
    openid: ['sub'],
    profile: ['uid', 'oid', 'preferred_username', 'name'],
  },
  conformIdTokenClaims: false, // the profile claims go in the ID token, as Entra's do
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => true },
  ttl: { IdToken: Number(process.env.OIDC_ID_TOKEN_TTL || 600) },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          uid: `uid-${id}`,
          oid: `oid-${id}`,
          preferred_username: `${id}@example.nhs.uk`,
          name: id,
        };
      },
    };
  },
});

const audience = process.env.OIDC_ID_TOKEN_AUDIENCE;
if (audience) {
  // oidc-provider has no setting for this: it always signs for the client. Sign as if the
  // client were another, so the token really is one issued to someone else.
  const issue = provider.IdToken.prototype.issue;
  provider.IdToken.prototype.issue = async function issueForAnother(...args) {
    const client = this.client;
    this.client = new Proxy(client, {
      get: (target, name) => (name === 'clientId' ? audience : Reflect.get(target, name, target)),
    });
    try {
      return await issue.apply(this, args);
    } finally {
      this.client = client;
    }
  };
}

const acr = process.env.OIDC_ACR;
if (acr) {
  // devInteractions signs in with no authentication context: report the one asked for.
  const issueToken = provider.IdToken.prototype.issue;
  provider.IdToken.prototype.issue = async function issueWithAcr(options = {}) {
    if (options.use === 'idtoken') this.set('acr', acr);
    return issueToken.call(this, options);
  };
}

provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${issuer}\n`);
});
