// The peer: panva's oidc-provider issuing client-credentials JWT access
// tokens (HS256, like edge-token), in memory, on one Node process.
// usage: node bench/peer/oidc.mjs PORT CLIENT_ID CLIENT_SECRET
import { createSecretKey, randomBytes } from "node:crypto";
import Provider from "oidc-provider";

const [port, clientId, clientSecret] = process.argv.slice(2);
const resource = "https://api.example.com";
const key = createSecretKey(randomBytes(32));

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      grant_types: ["client_credentials"],
      redirect_uris: [],
      response_types: [],
      token_endpoint_auth_method: "client_secret_basic",
      scope: "read",
    },
  ],
  scopes: ["read"],
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: () => ({
        scope: "read",
        audience: resource,
        accessTokenTTL: 300,
        accessTokenFormat: "jwt",
        jwt: { sign: { alg: "HS256", key, kid: "peer-1" } },
      }),
    },
  },
});
provider.on("server_error", (_ctx, err) => console.error("server_error", err));
provider.listen(Number(port), "127.0.0.1", () => console.log("ready"));
