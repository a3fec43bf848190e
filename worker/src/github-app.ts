import { importPKCS8, SignJWT } from "jose";
import {
  type AppJwtClaims,
  appJwtClaims,
  appJwtFresh,
  type InstallationToken,
  InstallationTokens,
  LruMap,
  MAX_CACHED_INSTALLATIONS,
  organisationOf,
} from "./core/index.ts";
import {
  GITHUB_BUDGET_MS,
  type GitHubAuth,
  GitHubAuthError,
  GitHubClient,
  type GitHubOptions,
  staticAuth,
} from "./github.ts";
import type { GitHubAppSettings, GitHubSettings } from "./settings.ts";

/**
 * GitHub App mode's calls: the App JWT (RS256, signed with the App's key through jose and
 * WebCrypto) and installation tokens (`POST /app/installations/{id}/access_tokens`), kept per
 * isolate. Which credential a call uses is {@link authFor}'s choice. Neither the JWT nor a token
 * is ever logged or answered.
 */

/** The App's private key, imported for RS256 signing. */
type SigningKey = Awaited<ReturnType<typeof importPKCS8>>;

/** Apps kept per isolate (their key, JWT and tokens): one in steady state, a few while a key rotates. */
const MAX_APPS = 4;

/** One App's signing key, current JWT and installation tokens. */
class AppSession {
  private key: Promise<SigningKey> | null = null;
  private jwt: { text: string; claims: AppJwtClaims } | null = null;
  readonly tokens: InstallationTokens;
  private readonly app: GitHubAppSettings;
  private readonly apiUrl: string;

  constructor(app: GitHubAppSettings, apiUrl: string) {
    this.app = app;
    this.apiUrl = apiUrl;
    this.tokens = new InstallationTokens((installation) => this.mint(installation), MAX_CACHED_INSTALLATIONS);
  }

  /** The App JWT, signed again a minute before it expires. */
  async appJwt(now = Date.now()): Promise<string> {
    if (this.jwt !== null && appJwtFresh(this.jwt.claims, now)) return this.jwt.text;
    this.key ??= importPKCS8(this.app.privateKey, "RS256");
    const key = await this.key.catch(() => {
      this.key = null;
      throw new GitHubAuthError("GITHUB_APP_PRIVATE_KEY could not be imported");
    });
    const claims = appJwtClaims(this.app.id, now);
    this.jwt = { text: await signAppJwt(claims, key), claims };
    return this.jwt.text;
  }

  /** A new token for `installation`, from GitHub. */
  private async mint(installation: number): Promise<InstallationToken> {
    const jwt = await this.appJwt();
    let response: Response;
    try {
      response = await fetch(`${this.apiUrl}/app/installations/${installation}/access_tokens`, {
        method: "POST",
        headers: {
          accept: "application/vnd.github+json",
          authorization: `Bearer ${jwt}`,
          "user-agent": "pmoves-ci-orchestrator",
          "x-github-api-version": "2022-11-28",
        },
        signal: AbortSignal.timeout(GITHUB_BUDGET_MS),
      });
    } catch (error) {
      const why = error instanceof Error && error.name === "TimeoutError" ? "timed out" : "failed";
      throw new GitHubAuthError(`the installation token request ${why}`);
    }
    if (!response.ok) {
      await response.body?.cancel();
      throw new GitHubAuthError(`the installation token request answered ${response.status}`);
    }
    const body = (await response.json().catch(() => null)) as { token?: unknown; expires_at?: unknown } | null;
    const expiresAt = typeof body?.expires_at === "string" ? Date.parse(body.expires_at) : Number.NaN;
    if (typeof body?.token !== "string" || body.token === "" || !Number.isFinite(expiresAt)) {
      throw new GitHubAuthError("the installation token answer has no token or expiry");
    }
    return { token: body.token, expiresAt };
  }
}

/** Signs an App JWT with these claims (header `alg` RS256, `typ` JWT). */
export function signAppJwt(claims: AppJwtClaims, key: SigningKey): Promise<string> {
  return new SignJWT({})
    .setProtectedHeader({ alg: "RS256", typ: "JWT" })
    .setIssuedAt(claims.iat)
    .setExpirationTime(claims.exp)
    .setIssuer(claims.iss)
    .sign(key);
}

const sessions = new LruMap<string, AppSession>(MAX_APPS);

/** The App's session for this API, made once per isolate. */
function sessionOf(app: GitHubAppSettings, apiUrl: string): AppSession {
  const key = `${apiUrl}\n${app.id}\n${app.privateKey}`;
  let session = sessions.get(key);
  if (session === undefined) {
    session = new AppSession(app, apiUrl);
    sessions.set(key, session);
  }
  return session;
}

/** The installation's token, minted when none is cached; a 401 drops it, so the retry mints afresh. */
export function installationAuth(app: GitHubAppSettings, apiUrl: string, installation: number): GitHubAuth {
  const { tokens } = sessionOf(app, apiUrl);
  return {
    token: () => tokens.token(installation),
    onUnauthorized: (token) => tokens.drop(installation, token),
  };
}

/**
 * The credential for a call about an installation's repository: the App's installation token when
 * an App is set and the installation is known, else GITHUB_TOKEN, else none (null).
 */
export function authFor(github: GitHubSettings | null, installation: number | null): GitHubAuth | null {
  if (github === null) return null;
  if (github.app !== null && installation !== null) return installationAuth(github.app, github.apiUrl, installation);
  return github.token === null ? null : staticAuth(github.token);
}

/** A client with {@link authFor}'s credential, or null when there is none. */
export function gitHubClient(
  github: GitHubSettings | null,
  installation: number | null,
  options: Pick<GitHubOptions, "budgetMs" | "fetch"> = {},
): GitHubClient | null {
  const auth = authFor(github, installation);
  return github === null || auth === null ? null : new GitHubClient({ ...options, auth, apiUrl: github.apiUrl });
}

/**
 * The installation last seen per repository owner (lower case), per isolate: work that no
 * delivery carries (job checks, rescues, dispatches, runner lists) uses it. The Ledger keeps the
 * installations in its storage and fills this from them when it starts, so its alarm finds an
 * owner's installation after an isolate restarts; installation events and deliveries keep it
 * current, and a suspended or uninstalled installation is forgotten.
 */
const installations = new LruMap<string, number>(MAX_CACHED_INSTALLATIONS);

/** Remembers that `repository`'s owner has the App installed as `installation`. */
export function noteInstallation(repository: string, installation: number): void {
  installations.set(organisationOf(repository), installation);
}

/**
 * Forgets `installation` for `repository`'s owner (or an owner): it was suspended or uninstalled.
 * Another installation remembered for the owner since (the App installed again) stays.
 */
export function forgetInstallation(repository: string, installation: number): void {
  const owner = organisationOf(repository);
  if (installations.get(owner) === installation) installations.delete(owner);
}

/** What a delivery said of an installation: remembered for its account while active, else forgotten. */
export function rememberInstallation(note: { account: string; id: number; active: boolean } | undefined): void {
  if (note === undefined) return;
  if (note.active) noteInstallation(note.account, note.id);
  else forgetInstallation(note.account, note.id);
}

/** The installation last seen for `repository`'s owner (or for an owner), or null. */
export function lastInstallationOf(repository: string): number | null {
  return installations.get(organisationOf(repository)) ?? null;
}

/** {@link gitHubClient} for a repository (or an owner) with the installation last seen for its owner. */
export function gitHubClientFor(
  github: GitHubSettings | null,
  repository: string,
  options: Pick<GitHubOptions, "budgetMs" | "fetch"> = {},
): GitHubClient | null {
  return gitHubClient(github, lastInstallationOf(repository), options);
}

/**
 * Clients per repository owner for one batch of work, each made once, so that each keeps its own
 * `rateLimitRemaining` (an installation has its own limit). `last` is the one used last.
 */
export class GitHubClients {
  private readonly byOwner = new Map<string, GitHubClient | null>();
  last: GitHubClient | null = null;
  private readonly github: GitHubSettings | null;

  constructor(github: GitHubSettings | null) {
    this.github = github;
  }

  /** The client for `repository`'s owner, or null when there is no credential for it. */
  for(repository: string): GitHubClient | null {
    const owner = organisationOf(repository);
    let client = this.byOwner.get(owner);
    if (client === undefined) {
      client = gitHubClientFor(this.github, owner);
      this.byOwner.set(owner, client);
    }
    if (client !== null) this.last = client;
    return client;
  }
}
