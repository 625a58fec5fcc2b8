// A real OpenID Connect provider (the npm package oidc-provider) for the single-sign-on test.
// Every login name is accepted (its development interactions); the account's email is
// <login>@sso.example.com, marked verified. Listens on 127.0.0.1 only.
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: process.env.CLIENT_ID,
    client_secret: process.env.CLIENT_SECRET,
    redirect_uris: [process.env.REDIRECT_URI],
    grant_types: ['authorization_code'],
    response_types: ['code'],
    token_endpoint_auth_method: 'client_secret_post',
  }],
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: `${id}@sso.example.com`, email_verified: true, given_name: 'Sso', family_name: id };
      },
    };
  },
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['given_name', 'family_name'] },
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['tenantry-test-only'] },
});
provider.proxy = false;
provider.listen(port, '127.0.0.1', () => console.log(`oidc provider ready at ${issuer}`));
