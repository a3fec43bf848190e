/**
 * The fake GitHub Actions OIDC issuer (test/support/oidc-issuer.ts) on 127.0.0.1, for the route
 * action's tests: the action's bundle runs in its own Node process and the local Worker under
 * Miniflare, so both reach the issuer over real HTTP.
 *
 * ```ts
 * const oidc = await startFakeOidc();
 * // The Worker: OIDC_ISSUER = oidc.issuer. The action: ACTIONS_ID_TOKEN_REQUEST_URL = oidc.requestUrl,
 * // ACTIONS_ID_TOKEN_REQUEST_TOKEN = oidc.requestToken.
 * const jwt = await oidc.mint({ repository: "acme/app" }, { expiresIn: -60 }); // an expired token
 * await oidc.stop();
 * ```
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createOidcIssuer, type OidcIssuer } from "../support/oidc-issuer.ts";

export type { MintOptions } from "../support/oidc-issuer.ts";

export interface FakeOidc extends OidcIssuer {
  /** ACTIONS_ID_TOKEN_REQUEST_URL: the token endpoint, with a query string the audience is appended to. */
  requestUrl: string;
  stop(): Promise<void>;
}

/** `req` as a fetch Request to `origin`: method, path and query, headers, and the body when there is one. */
async function toRequest(req: IncomingMessage, origin: string): Promise<Request> {
  const headers = new Headers();
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    headers.append(req.rawHeaders[i] ?? "", req.rawHeaders[i + 1] ?? "");
  }
  const method = req.method ?? "GET";
  if (method === "GET" || method === "HEAD") return new Request(new URL(req.url ?? "/", origin), { method, headers });
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return new Request(new URL(req.url ?? "/", origin), { method, headers, body: Buffer.concat(chunks) });
}

/** Writes a fetch Response to `res`. */
async function send(res: ServerResponse, response: Response): Promise<void> {
  const body = Buffer.from(await response.arrayBuffer());
  res.writeHead(response.status, Object.fromEntries(response.headers)).end(body);
}

/** Starts the issuer on a free loopback port; see the top of this file and test/support/oidc-issuer.ts. */
export async function startFakeOidc(): Promise<FakeOidc> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = createOidcIssuer(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    toRequest(req, issuer.issuer)
      .then((request) => issuer.handle(request))
      .then((response) => send(res, response))
      .catch((error: unknown) => res.writeHead(500, { "content-type": "text/plain" }).end(String(error)));
  });
  return {
    ...issuer,
    requestUrl: `${issuer.issuer}${issuer.tokenPath}?api-version=2.0`,
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
