/**
 * A mailbox's OAuth2 settings as an admin writes them (the CLI's `--oauth2-*` options, SeaTable's
 * OAuth2 columns): checked here, and turned into {@link OAuth2Settings} with the secrets read from
 * the environment. Secrets are only ever named (an environment variable), never stored.
 */
import type { OAuth2Settings } from './directory.js';

export interface OAuth2Input {
  tokenUrl: string;
  clientId: string;
  /** The environment variable holding the client secret. */
  clientSecretEnv: string;
  /** Absent: the grant's default (see OAuth2Settings.scope). */
  scope?: string | null;
  /** The environment variable holding the refresh token; absent: the client credentials grant. */
  refreshTokenEnv?: string | null;
}

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** What is wrong with `input`, in words naming `names`' option or column; null when it is usable. */
export function oauth2InputProblem(
  input: OAuth2Input,
  names: Record<keyof OAuth2Input, string>,
): string | null {
  let url: URL;
  try {
    url = new URL(input.tokenUrl.trim());
  } catch {
    return `${names.tokenUrl}: "${input.tokenUrl}" is not a URL`;
  }
  const loopback = ['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    return `${names.tokenUrl}: the token endpoint must be an https:// URL`;
  }
  if (url.username || url.password) return `${names.tokenUrl}: put no credentials in the URL`;
  if (!input.clientId.trim()) return `${names.clientId} must not be empty`;
  if (!ENV_NAME.test(input.clientSecretEnv)) {
    return `${names.clientSecretEnv}: "${input.clientSecretEnv}" is not an environment variable name`;
  }
  if (input.refreshTokenEnv != null && !ENV_NAME.test(input.refreshTokenEnv)) {
    return `${names.refreshTokenEnv}: "${input.refreshTokenEnv}" is not an environment variable name`;
  }
  if (input.scope != null && !input.scope.trim()) return `${names.scope} must not be empty when given`;
  return null;
}

/** The settings a listener uses: secrets read from `env` (null when their variable is not set). */
export function resolveOAuth2(input: OAuth2Input, env: Record<string, string | undefined>): OAuth2Settings {
  const refreshTokenEnv = input.refreshTokenEnv ?? null;
  return {
    tokenUrl: input.tokenUrl.trim(),
    clientId: input.clientId.trim(),
    clientSecret: env[input.clientSecretEnv] || null,
    clientSecretSource: `env:${input.clientSecretEnv}`,
    scope: input.scope?.trim() || null,
    refreshToken: refreshTokenEnv ? env[refreshTokenEnv] || null : null,
    refreshTokenSource: refreshTokenEnv ? `env:${refreshTokenEnv}` : null,
  };
}

/** Option names of the CLI (`mailbox add/edit`). */
export const OAUTH2_OPTION_NAMES: Record<keyof OAuth2Input, string> = {
  tokenUrl: '--oauth2-token-url',
  clientId: '--oauth2-client-id',
  clientSecretEnv: '--oauth2-client-secret-env',
  scope: '--oauth2-scope',
  refreshTokenEnv: '--oauth2-refresh-token-env',
};
