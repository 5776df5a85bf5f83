/**
 * The deployment files and the admin's docs must agree with the code. The Dockerfile, the compose file
 * and the systemd unit must run the README's start command on the bot's data directory and stop it
 * gracefully. Every link, setting, command, flag, endpoint and metric that the docs mention must exist.
 * No Docker engine runs here, so the files are parsed. What can run here does run: the image's health
 * check against a real ops server, npm's signal path with the deployments' npm settings, the CLI's
 * `--help`, and the Superset snippet in Python.
 */
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Registry } from 'prom-client';
import { afterAll, describe, expect, it } from 'vitest';
import { describeSettings } from '../../src/config.js';
import { SoleLeadership } from '../../src/leadership/leadership.js';
import { BotMetrics } from '../../src/observability/metrics.js';
import { OpsServer } from '../../src/observability/ops-server.js';

const run = promisify(execFile);
const CLI = path.resolve('dist/cli.js');
const read = (file: string) => readFileSync(file, 'utf8');

const scratch = mkdtempSync(path.join(tmpdir(), 'stb-deploy-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// ---- what the code says -------------------------------------------------------------------------

const settings = describeSettings();
const settingNames = new Set(settings.map((setting) => setting.name));
const defaultOf = (name: string) => settings.find((setting) => setting.name === name)!.default;

/** The README's command for running the bot: the quick start's `npm ci && <start>`. */
function readmeStartCommand(): string {
  const match = /^npm ci && (npm start)$/m.exec(read('README.md'));
  if (!match) throw new Error('README.md quick start has no "npm ci && npm start" line');
  return match[1]!;
}

/**
 * The longest Bot API request the bot makes (app.ts `timeoutSeconds`). SIGTERM lets the request in
 * flight finish, so a stop timeout shorter than this can kill the bot mid-send.
 */
function longestBotApiRequestSeconds(): number {
  const timeouts = [...read('src/app.ts').matchAll(/timeoutSeconds:\s*(\d+)/g)].map((match) =>
    Number(match[1]),
  );
  if (timeouts.length === 0) throw new Error('src/app.ts no longer sets timeoutSeconds: update this test');
  return Math.max(...timeouts);
}

// ---- Dockerfile ---------------------------------------------------------------------------------

interface DockerInstruction {
  keyword: string;
  args: string;
}

interface DockerStage {
  image: string;
  name: string | null;
  instructions: DockerInstruction[];
}

/** Splits a Dockerfile into stages; joins `\` continuations and drops comment lines as Docker does. */
function parseDockerfile(text: string): DockerStage[] {
  const logical: string[] = [];
  let pending = '';
  for (const line of text.split('\n')) {
    if (/^\s*#/.test(line)) continue;
    const continued = /\\\s*$/.test(line);
    pending += `${line.replace(/\\\s*$/, '')} `;
    if (continued) continue;
    if (pending.trim()) logical.push(pending.trim());
    pending = '';
  }
  const stages: DockerStage[] = [];
  for (const line of logical) {
    const [, keyword = '', args = ''] = /^(\S+)\s*(.*)$/.exec(line) ?? [];
    if (keyword.toUpperCase() === 'FROM') {
      const words = args.split(/\s+/).filter((word) => !word.startsWith('--'));
      stages.push({
        image: words[0]!,
        name: /^as$/i.test(words[1] ?? '') ? words[2]! : null,
        instructions: [],
      });
    } else {
      stages.at(-1)?.instructions.push({ keyword: keyword.toUpperCase(), args });
    }
  }
  return stages;
}

const all = (stage: DockerStage, keyword: string) =>
  stage.instructions.filter((instruction) => instruction.keyword === keyword);

function dockerEnv(stage: DockerStage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const { args } of all(stage, 'ENV')) {
    for (const match of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("(?:[^"\\]|\\.)*"|\S+)/g)) {
      env[match[1]!] = match[2]!.replace(/^"(.*)"$/, '$1');
    }
  }
  return env;
}

/** COPY sources (without `--` flags and the destination) and its `--from` stage. */
function copySources(instruction: DockerInstruction): { from: string | null; sources: string[] } {
  const words = instruction.args.split(/\s+/);
  const from = words.find((word) => word.startsWith('--from='))?.slice('--from='.length) ?? null;
  const paths = words.filter((word) => !word.startsWith('--'));
  return { from, sources: paths.slice(0, -1) };
}

/** The exec-form command of a HEALTHCHECK (after its options). */
function healthcheckCommand(instruction: DockerInstruction): string[] {
  const at = instruction.args.indexOf('CMD [');
  if (at < 0) throw new Error('HEALTHCHECK should use the exec form: CMD ["node", "-e", ...]');
  return JSON.parse(instruction.args.slice(at + 'CMD '.length)) as string[];
}

/** Whether `.dockerignore` keeps `file` out of the build context (last matching pattern wins). */
function dockerIgnores(patterns: string[], file: string): boolean {
  const toRegExp = (pattern: string) =>
    new RegExp(
      `^${pattern
        .replace(/[.+^${}()|[\]\\]/g, '\\$&')
        .replace(/\*\*\//g, '\u0000')
        .replace(/\*/g, '[^/]*')
        .replace(/\?/g, '[^/]')
        .replace(/\u0000/g, '(?:.*/)?')}$`,
    );
  const segments = file.split('/');
  const candidates = segments.map((_, index) => segments.slice(0, index + 1).join('/'));
  let ignored = false;
  for (const raw of patterns) {
    const negated = raw.startsWith('!');
    const pattern = path.posix.normalize(negated ? raw.slice(1) : raw).replace(/\/$/, '');
    if (candidates.some((candidate) => toRegExp(pattern).test(candidate))) ignored = !negated;
  }
  return ignored;
}

const dockerfile = parseDockerfile(read('Dockerfile'));
const buildStage = dockerfile[0]!;
const runtimeStage = dockerfile.at(-1)!;
const runtimeEnv = dockerEnv(runtimeStage);
const imageDataDir = runtimeEnv.DATA_DIR!;

describe('Dockerfile', () => {
  it('builds in one stage and runs from a second one on the same Node LTS image', () => {
    expect(dockerfile.length).toBeGreaterThanOrEqual(2);
    expect(buildStage.name, 'the build stage needs a name for COPY --from').not.toBeNull();
    // better-sqlite3 is compiled in the build stage: the runtime must have the very same Node ABI
    expect(runtimeStage.image).toBe(buildStage.image);
    const major = Number(/^node:(\d+)-/.exec(buildStage.image)?.[1]);
    const required = Number(/(\d+)/.exec(JSON.parse(read('package.json')).engines.node)?.[1]);
    expect(major, `${buildStage.image}: Node major version`).toBeGreaterThanOrEqual(required);
    expect(major % 2, 'LTS lines are the even majors').toBe(0);
  });

  it('build stage: the compilers for better-sqlite3, npm ci with everything `prepare` builds from, then prune', () => {
    const runs = all(buildStage, 'RUN').map((instruction) => instruction.args);
    const install = runs.find((args) => /apt-get install/.test(args)) ?? '';
    for (const tool of ['python3', 'make', 'g++']) expect(install.split(/\s+/)).toContain(tool);

    const npmCiAt = buildStage.instructions.findIndex(
      (instruction) => instruction.keyword === 'RUN' && /\bnpm ci\b/.test(instruction.args),
    );
    expect(npmCiAt, 'RUN npm ci').toBeGreaterThan(-1);
    expect(buildStage.instructions[npmCiAt]!.args).toMatch(/npm ci[\s\S]*npm prune --omit=dev/);
    // `prepare` runs tsc -p tsconfig.build.json, which needs what that config extends and includes
    const buildConfig = JSON.parse(read('tsconfig.build.json')) as { extends?: string; include: string[] };
    const needed = ['package.json', 'package-lock.json', 'tsconfig.build.json', ...buildConfig.include];
    if (buildConfig.extends) needed.push(path.posix.normalize(buildConfig.extends));
    const copiedBefore = buildStage.instructions
      .slice(0, npmCiAt)
      .filter((instruction) => instruction.keyword === 'COPY')
      .flatMap((instruction) =>
        copySources(instruction).sources.map((source) => path.posix.normalize(source)),
      );
    for (const file of needed) expect(copiedBefore, `COPY ${file} before npm ci`).toContain(file);
  });

  it('.dockerignore keeps secrets and state out, and lets in what the build copies', () => {
    const patterns = read('.dockerignore')
      .split('\n')
      .map((line) => line.trim())
      .filter((line) => line && !line.startsWith('#'));
    for (const keptOut of ['.env', 'data', 'data/bot.sqlite', 'dist/cli.js', 'node_modules/grammy']) {
      expect(dockerIgnores(patterns, keptOut), `${keptOut} ignored`).toBe(true);
    }
    const fromContext = dockerfile
      .flatMap((stage) => all(stage, 'COPY'))
      .map(copySources)
      .filter((copy) => copy.from === null)
      .flatMap((copy) => copy.sources);
    expect(fromContext.length).toBeGreaterThan(0);
    for (const source of fromContext)
      expect(dockerIgnores(patterns, source), `${source} reaches the build`).toBe(false);
  });

  it('runtime stage: the built bot without a second install, a non-root user, the data volume, the README start command', () => {
    const runs = all(runtimeStage, 'RUN').map((instruction) => instruction.args);
    for (const args of runs) expect(args).not.toMatch(/\bnpm (ci|install|i)\b/);
    const copied = all(runtimeStage, 'COPY')
      .map(copySources)
      .filter((copy) => copy.from === buildStage.name)
      .flatMap((copy) => copy.sources.map((source) => path.posix.basename(source)));
    for (const needed of ['node_modules', 'dist', 'package.json']) expect(copied).toContain(needed);

    const user = all(runtimeStage, 'USER').at(-1)?.args.split(':')[0];
    expect(user, 'USER in the runtime stage').toBeDefined();
    expect(['root', '0']).not.toContain(user);

    expect(imageDataDir).toBe('/data');
    expect(runtimeEnv.HTTP_HOST).toBe('0.0.0.0');
    const volumes = all(runtimeStage, 'VOLUME').flatMap(({ args }) =>
      args.startsWith('[') ? (JSON.parse(args) as string[]) : args.split(/\s+/),
    );
    expect(volumes).toContain(imageDataDir);
    const exposed = all(runtimeStage, 'EXPOSE').flatMap(({ args }) => args.split(/\s+/));
    expect(exposed).toContain(defaultOf('HTTP_PORT'));

    const cmd = JSON.parse(all(runtimeStage, 'CMD').at(-1)?.args ?? 'null') as string[] | null;
    expect(cmd, 'CMD in exec form').toEqual(readmeStartCommand().split(' '));
    expect(all(runtimeStage, 'ENTRYPOINT')).toEqual([]);
    expect(JSON.parse(read('package.json')).scripts.start).toBeTruthy();
  });

  it('HEALTHCHECK passes against a running ops server and fails when nothing answers', async () => {
    const instruction = all(runtimeStage, 'HEALTHCHECK').at(-1);
    expect(instruction, 'HEALTHCHECK in the runtime stage').toBeDefined();
    const [program, ...args] = healthcheckCommand(instruction!);
    expect(program).toBe('node'); // slim images have no curl
    expect(args.join(' ')).toContain('/healthz');
    const ops = new OpsServer({
      host: '127.0.0.1',
      port: 0,
      registry: new Registry(),
      readiness: () => ({ ready: false }),
    });
    const port = await ops.start();
    const check = () =>
      run(process.execPath, args, {
        env: { PATH: process.env.PATH ?? '', HTTP_PORT: String(port) },
        timeout: 10_000,
      });
    try {
      await expect(check()).resolves.toBeDefined();
    } finally {
      await ops.stop();
    }
    await expect(check()).rejects.toMatchObject({ code: 1 });
  });
});

// ---- docker-compose.yml -------------------------------------------------------------------------

type Yaml = string | Yaml[] | { [key: string]: Yaml };

/** Removes a `#` comment that is not inside quotes. */
function stripYamlComment(line: string): string {
  let quote: string | null = null;
  for (let index = 0; index < line.length; index++) {
    const char = line[index]!;
    if (quote) {
      if (char === quote) quote = null;
    } else if (char === '"' || char === "'") {
      quote = char;
    } else if (char === '#' && (index === 0 || /\s/.test(line[index - 1]!))) {
      return line.slice(0, index);
    }
  }
  return line;
}

/**
 * Parses the block-style YAML subset a compose file needs (maps, lists of scalars, quoted or plain
 * scalars). Anything else (flow style, anchors, multi-line strings, maps in lists) throws, so a
 * change to the file that this cannot read fails loudly instead of being misread.
 */
function parseBlockYaml(text: string, file = 'docker-compose.yml'): Yaml {
  const lines = text
    .split('\n')
    .map((raw, index) => ({
      number: index + 1,
      indent: raw.search(/\S/),
      content: stripYamlComment(raw).trim(),
    }))
    .filter((line) => line.content !== '');
  let at = 0;
  const fail = (message: string): never => {
    throw new Error(`${file} line ${lines[at]?.number}: ${message}`);
  };
  const scalar = (value: string): string => {
    if (/^(["']).*\1$/.test(value)) return value.slice(1, -1);
    if (/^[[{&*|>!]/.test(value)) fail(`unsupported YAML: ${value}`);
    return value;
  };
  const isItem = (content: string) => content === '-' || content.startsWith('- ');
  const block = (indent: number): Yaml => {
    if (isItem(lines[at]!.content)) {
      const list: Yaml[] = [];
      while (at < lines.length && lines[at]!.indent === indent && isItem(lines[at]!.content)) {
        const item = lines[at]!.content.slice(1).trim();
        if (/^[\w.-]+:(\s|$)/.test(item)) fail('maps inside lists are not supported');
        list.push(scalar(item));
        at++;
      }
      return list;
    }
    const map: { [key: string]: Yaml } = {};
    while (at < lines.length && lines[at]!.indent === indent && !isItem(lines[at]!.content)) {
      const match = /^([\w.-]+):(?:\s+(.*))?$/.exec(lines[at]!.content) ?? fail('expected "key: value"');
      const [, key, value] = match;
      at++;
      if (value !== undefined) map[key!] = scalar(value);
      else if (at < lines.length && lines[at]!.indent > indent) map[key!] = block(lines[at]!.indent);
      else if (at < lines.length && lines[at]!.indent === indent && isItem(lines[at]!.content))
        map[key!] = block(indent);
      else map[key!] = '';
    }
    return map;
  };
  const result = block(0);
  if (at < lines.length) fail('unexpected indentation');
  return result;
}

/** A duration as compose writes it (`3m`, `1m30s`, `180s`), in seconds. */
function composeSeconds(value: string): number {
  const units: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001 };
  const parts = [...value.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)];
  if (parts.map((part) => part[0]).join('') !== value) throw new Error(`not a duration: ${value}`);
  return parts.reduce((sum, part) => sum + Number(part[1]) * units[part[2]!]!, 0);
}

describe('docker-compose.yml', () => {
  const compose = parseBlockYaml(read('docker-compose.yml')) as Record<string, Yaml>;
  const services = compose.services as Record<string, Record<string, Yaml>>;
  const bot = services.bot!;

  it('one service built from this Dockerfile, with .env, restarting unless stopped', () => {
    expect(Object.keys(services)).toEqual(['bot']);
    expect(bot.build).toBe('.');
    expect([bot.env_file].flat()).toContain('.env');
    expect(bot.restart).toBe('unless-stopped');
    // the image's CMD (the README's start command) runs, not something else
    if (bot.command !== undefined) expect([bot.command].flat().join(' ')).toBe(readmeStartCommand());
    expect(bot.entrypoint).toBeUndefined();
  });

  it('keeps the state on a named volume at the image DATA_DIR, and publishes the ops port on loopback only', () => {
    const environment = bot.environment as Record<string, string>;
    expect(environment.DATA_DIR).toBe(imageDataDir);
    expect(environment.HTTP_HOST).toBe('0.0.0.0');
    const port = environment.HTTP_PORT ?? defaultOf('HTTP_PORT');
    const exposed = all(runtimeStage, 'EXPOSE').flatMap(({ args }) => args.split(/\s+/));
    expect(exposed).toContain(port);

    const mounts = (bot.volumes as string[]).map((volume) => volume.split(':'));
    const data = mounts.find(([, target]) => target === imageDataDir);
    expect(data, `a volume on ${imageDataDir}`).toBeDefined();
    expect(Object.keys(compose.volumes as Record<string, Yaml>)).toContain(data![0]);

    const ports = bot.ports as string[];
    expect(ports).toContain(`127.0.0.1:${port}:${port}`);
    for (const published of ports) expect(published.startsWith('127.0.0.1:'), published).toBe(true);
  });

  it('gives a stopping bot time to finish the Bot API request in flight', () => {
    expect(composeSeconds(String(bot.stop_grace_period))).toBeGreaterThanOrEqual(
      longestBotApiRequestSeconds(),
    );
  });
});

// ---- docker-compose.ha.yml ----------------------------------------------------------------------

describe('docker-compose.ha.yml', () => {
  const compose = parseBlockYaml(read('docker-compose.ha.yml'), 'docker-compose.ha.yml') as Record<
    string,
    Yaml
  >;
  const services = compose.services as Record<string, Record<string, Yaml>>;
  const namedVolumes = Object.keys((compose.volumes ?? {}) as Record<string, Yaml>);
  const isPostgres = (service: Record<string, Yaml>) => /^postgres:/.test(String(service.image));
  const postgresName = Object.keys(services).find((name) => isPostgres(services[name]!));
  const postgres = services[postgresName ?? '']!;
  const bots = Object.entries(services).filter(([, service]) => service.build === '.');
  const environmentOf = (service: Record<string, Yaml>) =>
    (service.environment ?? {}) as Record<string, string>;

  it('a PostgreSQL service with a health check, its data on a named volume, not published', () => {
    expect(postgresName, 'a service running the postgres image').toBeDefined();
    const mounts = ((postgres.volumes ?? []) as string[]).map((volume) => volume.split(':'));
    const data = mounts.find(([, target]) => target === '/var/lib/postgresql/data');
    expect(data, 'a volume on /var/lib/postgresql/data').toBeDefined();
    expect(namedVolumes).toContain(data![0]);
    const test = (postgres.healthcheck as Record<string, Yaml> | undefined)?.test as string[] | undefined;
    expect(test?.[0]).toBe('CMD-SHELL');
    const environment = environmentOf(postgres);
    expect(test?.[1]).toBe(`pg_isready -U ${environment.POSTGRES_USER} -d ${environment.POSTGRES_DB}`);
    expect(postgres.ports).toBeUndefined();
    expect(postgres.restart).toBe('unless-stopped');
  });

  it('two bots built from this Dockerfile, with .env, running the image CMD, alike but for the host port', () => {
    expect(bots.length).toBeGreaterThanOrEqual(2);
    // two services, not one with deploy.replicas (docs/operations.md says why)
    for (const [, bot] of bots) {
      expect(bot.deploy).toBeUndefined();
      expect([bot.env_file].flat()).toContain('.env');
      expect(bot.restart).toBe('unless-stopped');
      if (bot.command !== undefined) expect([bot.command].flat().join(' ')).toBe(readmeStartCommand());
      expect(bot.entrypoint).toBeUndefined();
    }
    const withoutPorts = bots.map(([, bot]) => JSON.stringify({ ...bot, ports: undefined }));
    expect(new Set(withoutPorts).size, 'the bots differ only in their ports').toBe(1);
  });

  it('each bot keeps its state in that PostgreSQL, needs no data volume, and waits for the database', () => {
    const postgresEnvironment = environmentOf(postgres);
    for (const [name, bot] of bots) {
      const environment = environmentOf(bot);
      expect(settingNames).toContain('DATABASE_URL');
      // the password is the one the postgres service is given, from the same variable
      const passwordVariable = /^\$\{(\w+)/.exec(postgresEnvironment.POSTGRES_PASSWORD ?? '')?.[1];
      expect(passwordVariable, 'POSTGRES_PASSWORD comes from a variable').toBeDefined();
      const variables = [...(environment.DATABASE_URL ?? '').matchAll(/\$\{(\w+)[^}]*\}/g)];
      expect(variables.map((match) => match[1])).toEqual([passwordVariable]);
      // as Compose interpolates it, with a password of letters and digits (the runbook asks for those)
      const url = new URL((environment.DATABASE_URL ?? 'missing:').replace(variables[0]![0], 's3cret'));
      expect(url.protocol, name).toMatch(/^postgres(ql)?:$/);
      expect(url.hostname, `${name}: DATABASE_URL names the postgres service`).toBe(postgresName);
      expect(url.username).toBe(postgresEnvironment.POSTGRES_USER);
      expect(url.password).toBe('s3cret');
      expect(url.pathname).toBe(`/${postgresEnvironment.POSTGRES_DB}`);

      expect(environment.DATA_DIR, `${name}: no DATA_DIR of its own needed`).toBeUndefined();
      const mounts = ((bot.volumes ?? []) as string[]).map((volume) => volume.split(':')[1]);
      expect(mounts).not.toContain(imageDataDir);
      const dependsOn = bot.depends_on as Record<string, Record<string, Yaml>>;
      expect(dependsOn[postgresName!]?.condition).toBe('service_healthy');
    }
  });

  it('each bot publishes its own ops port on loopback, and stops gracefully', () => {
    const hostPorts: string[] = [];
    for (const [name, bot] of bots) {
      const environment = environmentOf(bot);
      expect(environment.HTTP_HOST).toBe('0.0.0.0');
      const port = environment.HTTP_PORT ?? defaultOf('HTTP_PORT');
      const ports = bot.ports as string[];
      expect(ports.length, name).toBe(1);
      const [host, hostPort, containerPort] = ports[0]!.split(':');
      expect(host).toBe('127.0.0.1');
      expect(containerPort).toBe(port);
      hostPorts.push(hostPort!);
      expect(composeSeconds(String(bot.stop_grace_period))).toBeGreaterThanOrEqual(
        longestBotApiRequestSeconds(),
      );
    }
    expect(new Set(hostPorts).size, 'one host port per bot').toBe(bots.length);
  });

  it('the runbook drives it by the names it has', () => {
    const runbook = read('docs/operations.md');
    const used = [
      ...runbook.matchAll(
        /docker compose -f docker-compose\.ha\.yml (?:run --rm|up -d --no-deps|stop|exec -T|up -d) ([a-z][\w-]*)/g,
      ),
    ].map((match) => match[1]!);
    expect(used.length).toBeGreaterThan(0);
    for (const name of used) expect(Object.keys(services), `service ${name}`).toContain(name);
    for (const [, bot] of bots) {
      const hostPort = (bot.ports as string[])[0]!.split(':').slice(0, 2).join(':');
      expect(runbook, `the runbook shows ${hostPort}`).toContain(hostPort);
    }
  });

  it('the runbook gives the high-availability settings with the defaults config.ts has', () => {
    const runbook = read('docs/operations.md');
    for (const name of ['DATABASE_URL', 'DATABASE_SCHEMA', 'LEASE_SECONDS']) {
      expect(settingNames, `${name} in config.ts`).toContain(name);
      const row = new RegExp(`^\\| \`${name}\` \\|(.*)$`, 'm').exec(runbook)?.[1];
      expect(row, `a row for ${name} in the runbook's table`).toBeDefined();
      const fallback = defaultOf(name);
      if (fallback)
        expect(row, name).toContain(`default ${/^\d+$/.test(fallback) ? fallback : `\`${fallback}\``}`);
    }
  });
});

// ---- Kubernetes (the example in docs/operations.md) ----------------------------------------------

describe('the Kubernetes example in docs/operations.md', () => {
  const yamlBlocks = fencedBlocks(read('docs/operations.md'))
    .filter((block) => block.language === 'yaml')
    .map((block) => block.body);
  const manifests = yamlBlocks.find((body) => /^kind: Deployment$/m.test(body)) ?? '';
  /** The lines of the manifest from `key:` up to the next key at the same indentation or less. */
  const section = (key: string) => {
    const lines = manifests.split('\n');
    const start = lines.findIndex((line) => line.trim().replace(/^- /, '') === `${key}:`);
    if (start < 0) return '';
    const indent = lines[start]!.search(/\S/);
    const end = lines.findIndex((line, index) => index > start && line.trim() && line.search(/\S/) <= indent);
    return lines.slice(start, end < 0 ? undefined : end).join('\n');
  };

  it('a Deployment of 2 replicas without volumes, a Secret and a PodDisruptionBudget', () => {
    expect(manifests).toMatch(/^ {2}replicas: 2$/m);
    expect(manifests).not.toMatch(/volumeMounts:|persistentVolumeClaim/);
    expect(manifests).toMatch(/^kind: Secret$/m);
    expect(manifests).toMatch(/^kind: PodDisruptionBudget$/m);
    expect(section('secretRef')).toMatch(/name: superset-telegram-bot/);
    for (const [, name] of manifests.matchAll(/^ {2}([A-Z][A-Z0-9_]*):/gm)) {
      // REPORTS_IMAP_PASSWORD is a --password-env variable, not a setting
      if (!/PASSWORD$/.test(name!)) expect(settingNames, `Secret key ${name}`).toContain(name);
    }
  });

  it('readiness on /readyz, liveness on /healthz, and time for the Bot API request in flight', () => {
    expect(section('readinessProbe')).toMatch(/path: \/readyz$/m);
    expect(section('livenessProbe')).toMatch(/path: \/healthz$/m);
    const grace = Number(/terminationGracePeriodSeconds: (\d+)/.exec(manifests)?.[1]);
    expect(grace).toBeGreaterThanOrEqual(longestBotApiRequestSeconds());
    expect(section('rollingUpdate')).toMatch(/maxUnavailable: 0/);
  });
});

// ---- systemd unit -------------------------------------------------------------------------------

/** `[Section]` → key → every value the key was given (Environment= repeats). */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = new Map();
      sections.set(section[1]!, current);
      continue;
    }
    const setting = /^([A-Za-z]+)=(.*)$/.exec(line);
    if (!setting || !current) throw new Error(`unit file: cannot read "${line}"`);
    current.set(setting[1]!, [...(current.get(setting[1]!) ?? []), setting[2]!.trim()]);
  }
  return sections;
}

/** A systemd time span (`180s`, `3min`, `180`), in seconds. */
function systemdSeconds(value: string): number {
  const units: Record<string, number> = { '': 1, s: 1, sec: 1, m: 60, min: 60, h: 3600 };
  const match = /^(\d+)\s*(s|sec|min|m|h|)$/.exec(value);
  if (!match) throw new Error(`unsupported time span: ${value}`);
  return Number(match[1]) * units[match[2]!]!;
}

const unit = parseUnit(read('deploy/superset-telegram-bot.service'));
const service = unit.get('Service') ?? new Map<string, string[]>();
const last = (key: string) => service.get(key)?.at(-1);
const unitEnvironment = Object.fromEntries(
  (service.get('Environment') ?? []).map((assignment) => {
    const [name, ...value] = assignment.replace(/^"(.*)"$/, '$1').split('=');
    return [name!, value.join('=')];
  }),
);

describe('deploy/superset-telegram-bot.service', () => {
  const workingDirectory = last('WorkingDirectory') ?? '';

  it('runs the README start command as a dedicated user in the checkout, with its .env', () => {
    expect(path.isAbsolute(workingDirectory)).toBe(true);
    expect(last('User')).toBeTruthy();
    expect(['root', '0']).not.toContain(last('User'));
    expect(last('EnvironmentFile')?.replace(/^-/, '')).toBe(path.posix.join(workingDirectory, '.env'));
    const [program, ...args] = (last('ExecStart') ?? '').split(/\s+/);
    expect(path.isAbsolute(program!), 'systemd needs an absolute path').toBe(true);
    expect([path.posix.basename(program!), ...args].join(' ')).toBe(readmeStartCommand());
    expect(last('Restart')).toBe('on-failure');
    expect(unit.get('Install')?.get('WantedBy')).toContain('multi-user.target');
  });

  it('stops with SIGTERM and waits for the Bot API request in flight', () => {
    expect(last('KillSignal')).toBe('SIGTERM');
    expect(systemdSeconds(last('TimeoutStopSec') ?? '0')).toBeGreaterThanOrEqual(
      longestBotApiRequestSeconds(),
    );
  });

  it('is hardened, and can still write the data directory and npm cache', () => {
    expect(last('NoNewPrivileges')).toBe('true');
    expect(last('ProtectSystem')).toBe('strict');
    expect(last('PrivateTmp')).toBe('true');
    const writable = (service.get('ReadWritePaths') ?? []).flatMap((value) => value.split(/\s+/));
    const dataDir = path.posix.resolve(workingDirectory, unitEnvironment.DATA_DIR ?? defaultOf('DATA_DIR'));
    expect(writable).toContain(dataDir);
    const cache = unitEnvironment.NPM_CONFIG_CACHE;
    const cacheDirectory = last('CacheDirectory');
    expect(cache, 'npm needs a writable cache under ProtectSystem=strict').toBeDefined();
    const writableRoots = [...writable, ...(cacheDirectory ? [`/var/cache/${cacheDirectory}`] : [])];
    expect(writableRoots.some((root) => cache === root || cache!.startsWith(`${root}/`))).toBe(true);
  });
});

// ---- npm start and SIGTERM --------------------------------------------------------------------

/**
 * Runs `npm start` of a stand-in package whose start script counts the SIGTERMs it receives. The
 * deployment's npm settings are applied, and SIGTERM is sent the way the platform sends it.
 * Resolves with what the stand-in printed and npm's exit code.
 */
async function stopNpmStart(
  deploymentEnv: Record<string, string>,
  signalGroup: boolean,
): Promise<{ output: string; code: number | null }> {
  const dir = mkdtempSync(path.join(scratch, 'npm-'));
  writeFileSync(
    path.join(dir, 'package.json'),
    JSON.stringify({ name: 'stand-in', version: '1.0.0', private: true, scripts: { start: 'node bot.js' } }),
  );
  writeFileSync(
    path.join(dir, 'bot.js'),
    [
      'let received = 0;',
      "process.on('SIGTERM', () => {",
      '  received++;',
      // a second SIGTERM usually arrives within milliseconds: wait to count it
      "  if (received === 1) setTimeout(() => { console.log('stopped after ' + received + ' SIGTERM'); process.exit(0); }, 500);",
      '});',
      "setTimeout(() => { console.log('no SIGTERM reached the bot'); process.exit(2); }, 10000);",
      "console.log('ready');",
    ].join('\n'),
  );
  // npm exports npm_config_* to the scripts it runs (vitest runs under npm test): start clean
  const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !/^npm_/i.test(name)));
  const npm = spawn('npm', ['start'], {
    cwd: dir,
    env: { ...env, ...deploymentEnv },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  npm.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
    if (chunk.includes('ready')) {
      // a process group stands for systemd's control group; the main process alone for docker stop.
      // The pause lets the stand-in settle, so two SIGTERMs arrive as two, not merged into one.
      setTimeout(() => process.kill(signalGroup ? -npm.pid! : npm.pid!, 'SIGTERM'), 200);
    }
  });
  npm.stderr.resume();
  // 'close' waits for every holder of the pipes, an orphaned bot included
  const code = await new Promise<number | null>((resolve) =>
    npm.on('close', (exitCode) => resolve(exitCode)),
  );
  return { output, code };
}

const npmEnvOf = (env: Record<string, string>) =>
  Object.fromEntries(Object.entries(env).filter(([name]) => /^npm_config_/i.test(name)));

describe('graceful stop through npm start', () => {
  it('docker stop (SIGTERM to npm as PID 1) reaches the bot exactly once', async () => {
    const { output, code } = await stopNpmStart(npmEnvOf(runtimeEnv), false);
    expect(output).toContain('stopped after 1 SIGTERM');
    expect(code).toBe(0);
  });

  it('systemctl stop (as the unit sends it) reaches the bot exactly once', async () => {
    // KillMode=control-group (the default) signals every process; mixed and process only the main one
    const wholeGroup = (last('KillMode') ?? 'control-group') === 'control-group';
    const { output, code } = await stopNpmStart(npmEnvOf(unitEnvironment), wholeGroup);
    expect(output).toContain('stopped after 1 SIGTERM');
    if (!wholeGroup) expect(code).toBe(0);
  });
});

// ---- the docs -----------------------------------------------------------------------------------

const docFiles = [
  'README.md',
  'README.ru.md',
  ...readdirSync('docs')
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`),
];
const deploymentFiles = [
  'Dockerfile',
  'docker-compose.yml',
  'docker-compose.ha.yml',
  'deploy/superset-telegram-bot.service',
];

const fencePattern = /^```(\w*)\n([\s\S]*?)^```/gm;
const fencedBlocks = (text: string) =>
  [...text.matchAll(fencePattern)].map((match) => ({ language: match[1]!, body: match[2]! }));
const withoutFences = (text: string) => text.replace(fencePattern, (block) => block.replace(/[^\n]/g, ''));
/** Inline code spans outside fenced blocks (a span may wrap onto the next line). */
const codeSpans = (text: string) =>
  [...withoutFences(text).matchAll(/`([^`]+)`/g)].map((match) => match[1]!.replace(/\s*\n\s*/g, ' '));

/** GitHub's anchor for a heading. */
function headingAnchors(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  for (const match of withoutFences(markdown).matchAll(/^#{1,6}\s+(.+)$/gm)) {
    const slug = match[1]!
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/`/g, '')
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{M}\p{N}\p{Pc}\- ]/gu, '')
      .replace(/ /g, '-');
    const count = seen.get(slug) ?? 0;
    seen.set(slug, count + 1);
    anchors.add(count === 0 ? slug : `${slug}-${count}`);
  }
  return anchors;
}

describe('the docs', () => {
  it('every relative link points to an existing file (and heading)', () => {
    const broken: string[] = [];
    for (const file of docFiles) {
      const text = read(file);
      for (const match of withoutFences(text).matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
        const target = match[1]!;
        if (/^[a-z]+:/i.test(target)) continue;
        const [targetPath, anchor] = target.split('#') as [string, string | undefined];
        const resolved = targetPath ? path.join(path.dirname(file), targetPath) : file;
        if (!existsSync(resolved)) {
          broken.push(`${file}: ${target} (no such file)`);
          continue;
        }
        if (anchor && resolved.endsWith('.md') && !headingAnchors(read(resolved)).has(anchor)) {
          broken.push(`${file}: ${target} (no such heading)`);
        }
      }
    }
    expect(broken).toEqual([]);
  });

  it('every setting named in the docs and deployment files exists in config.ts', () => {
    // names that start like a setting of ours must be one; SMTP_HOST, WEBDRIVER_BASEURL, ... are Superset's
    const ourPrefixes = new Set([...settingNames].map((name) => name.split('_')[0]));
    // SUPERSET_URL makes SUPERSET_ one of our prefixes; these are Superset-side names in docs/superset.md
    const supersetSide = new Set(['SUPERSET_SMTP_PASSWORD']);
    const unknown: string[] = [];
    for (const file of [...docFiles, ...deploymentFiles]) {
      for (const [token] of read(file).matchAll(/\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b/g)) {
        if (ourPrefixes.has(token.split('_')[0]) && !settingNames.has(token) && !supersetSide.has(token))
          unknown.push(`${file}: ${token}`);
      }
    }
    expect([...new Set(unknown)]).toEqual([]);
  });

  it('every metric in the docs is exported, and the runbook documents every metric', async () => {
    const metrics = new BotMetrics({
      listeners: () => [],
      outboxDepth: () => 0,
      directoryLoadedAt: () => null,
    });
    // the leadership's metrics (stb_leader, …) join the same registry in app.ts
    new SoleLeadership({ startLeaderWork: async () => {}, stopLeaderWork: async () => {} }).registerMetrics(
      metrics.registry,
    );
    const exported = (await metrics.registry.getMetricsAsJSON())
      .map((metric) => metric.name)
      .filter((name) => name.startsWith('stb_'));
    expect(exported.length).toBeGreaterThan(0);
    const known = new Set(
      exported.flatMap((name) => [name, `${name}_bucket`, `${name}_sum`, `${name}_count`]),
    );
    const unknown = docFiles.flatMap((file) =>
      [...read(file).matchAll(/\bstb_[a-z_]+/g)].map(([name]) => name).filter((name) => !known.has(name)),
    );
    expect(unknown).toEqual([]);
    const runbook = read('docs/operations.md');
    for (const name of exported)
      expect(runbook, `docs/operations.md documents ${name}`).toContain(`\`${name}`);
  });

  it('every ops endpoint in the docs is served', async () => {
    const paths = new Set<string>();
    for (const file of docFiles) {
      const text = read(file);
      for (const match of text.matchAll(/\bGET (\/[a-z]+)/g)) paths.add(match[1]!);
      for (const match of text.matchAll(/127\.0\.0\.1:\d+(\/[a-z]+)/g)) paths.add(match[1]!);
    }
    expect([...paths]).toEqual(expect.arrayContaining(['/healthz', '/readyz', '/metrics']));
    const ops = new OpsServer({
      host: '127.0.0.1',
      port: 0,
      registry: new Registry(),
      readiness: () => ({ ready: true }),
    });
    const port = await ops.start();
    try {
      for (const endpoint of paths) {
        const response = await fetch(`http://127.0.0.1:${port}${endpoint}`);
        expect(response.status, endpoint).toBe(200);
      }
    } finally {
      await ops.stop();
    }
  });

  it.skipIf(!existsSync(CLI))(
    'every command and flag the docs mention exists in the CLI (skipped when dist/cli.js is missing: npm run build)',
    async () => {
      const helps = new Map<string, Promise<string>>();
      const help = (words: string[]) => {
        const key = words.join(' ');
        if (!helps.has(key)) {
          const env = { PATH: process.env.PATH ?? '' };
          const output = run(process.execPath, [CLI, ...words, '--help'], { cwd: scratch, env });
          helps.set(
            key,
            output.then((result) => result.stdout),
          );
        }
        return helps.get(key)!;
      };
      /** The names listed under `Commands:` in a help text. */
      const subcommandsIn = (text: string) =>
        new Set(
          [...(text.split(/^Commands:$/m)[1] ?? '').matchAll(/^ {2}([a-z][a-z-]*)\b/gm)].map(
            (match) => match[1]!,
          ),
        );
      const rootCommands = subcommandsIn(await help([]));
      expect([...rootCommands]).toEqual(expect.arrayContaining(['start', 'check', 'mailbox']));

      interface Mention {
        where: string;
        words: string[];
        flags: string[];
      }
      const mentions: Mention[] = [];
      /** Records the command words (at most two) and the --flags of one command line. */
      const mention = (where: string, commandLine: string) => {
        const tokens = commandLine
          .replace(/\\\|/g, ' ')
          .split(/\s*(?:\||&&|;|\s#)\s*/)[0]!
          .trim()
          .split(/\s+/);
        const words: string[] = [];
        for (const token of tokens) {
          if (!/^[a-z][a-z-]*$/.test(token) || words.length === 2) break;
          words.push(token);
        }
        const flags = tokens
          .map((token) => token.replace(/^[[(]+/, ''))
          .filter((token) => /^--[a-z]/.test(token))
          // flags may hold digits (--oauth2-token-url)
          .map((flag) => flag.replace(/[^a-z0-9-].*$/, ''));
        if (words.length > 0) mentions.push({ where, words, flags });
      };
      const invocation =
        /(?:npx\s+superset-telegram-bot|node\s+dist\/cli\.js|\bbot\s+superset-telegram-bot)\s+(.+)/;
      for (const file of docFiles) {
        const text = read(file);
        const lines = fencedBlocks(text).flatMap((block) => block.body.replace(/\\\n\s*/g, ' ').split('\n'));
        for (const line of lines) {
          const match = invocation.exec(line);
          if (match) mention(`${file}: ${line.trim()}`, match[1]!);
        }
        for (const span of codeSpans(text)) {
          const match = invocation.exec(span);
          if (match) mention(`${file}: ${span}`, match[1]!);
          // a span that is a command line of ours, e.g. `group add --title`; a sentence such as the
          // log message `user registered by phone` has more plain words than a command path
          else if (
            rootCommands.has(span.split(/\s+/)[0]!) &&
            span.split(/\s+/).filter((token) => /^[a-z][a-z-]*$/.test(token)).length <= 2
          )
            mention(`${file}: ${span}`, span);
        }
      }
      expect(mentions.length).toBeGreaterThan(10);

      /** The command path in `Usage: superset-telegram-bot mailbox add [options] <email>`. */
      const usagePath = (text: string) => {
        const usage = /^Usage: superset-telegram-bot\s*(.*)$/m.exec(text)?.[1] ?? '';
        const words: string[] = [];
        for (const word of usage.split(/\s+/)) {
          if (!/^[a-z]/.test(word)) break;
          words.push(word);
        }
        return { words, hasSubcommands: usage.includes('[command]') };
      };

      const problems: string[] = [];
      await Promise.all(
        mentions.map(async ({ where, words, flags }) => {
          // commander answers --help of an unknown command with its parent's help: compare the usage line
          const first = await help(words.slice(0, 1));
          const top = usagePath(first);
          if (top.words.join(' ') !== words[0]) {
            problems.push(`${where}: no command "${words[0]}"`);
            return;
          }
          let deepest = first;
          if (top.hasSubcommands && words[1]) {
            if (!subcommandsIn(first).has(words[1])) {
              problems.push(`${where}: no command "${words.join(' ')}"`);
              return;
            }
            // the subcommand's own help only when there are options to look up in it
            if (flags.length > 0) deepest = await help(words);
          }
          for (const flag of flags) {
            if (!new RegExp(`(^|[\\s,])${flag}(?![\\w-])`, 'm').test(deepest)) {
              problems.push(`${where}: "${words.join(' ')}" has no option ${flag}`);
            }
          }
        }),
      );
      expect([...new Set(problems)]).toEqual([]);
    },
  );

  it('the EMAIL_HEADER_MUTATOR in docs/superset.md works on Superset-shaped calls (skipped without python3)', async (context) => {
    const blocks = fencedBlocks(read('docs/superset.md')).filter((block) => block.language === 'python');
    const mutator = blocks.find((block) => block.body.includes('def EMAIL_HEADER_MUTATOR'));
    expect(mutator, 'docs/superset.md shows EMAIL_HEADER_MUTATOR').toBeDefined();
    const harness = `import ast
for block in ${JSON.stringify(blocks.map((block) => block.body))}:
    ast.parse(block)  # every python block in the doc parses
${mutator!.body}
import enum, json
from email.mime.multipart import MIMEMultipart

class ReportScheduleType(str, enum.Enum):  # how older Superset passes notification_type
    REPORT = "Report"

class ReportSourceFormat(str, enum.Enum):
    DASHBOARD = "dashboard"

report = MIMEMultipart("related")
report["Subject"] = "[Report]  Weekly Sales"
report["X-Superset-Type"] = "stale"
report = EMAIL_HEADER_MUTATOR(
    report,
    notification_type=ReportScheduleType.REPORT,
    notification_source=ReportSourceFormat.DASHBOARD,
    notification_format="PNG",
    chart_id=None,
    dashboard_id=7,
    owners=[1],
)
other = MIMEMultipart()
other["Subject"] = "Reset your password"
other = EMAIL_HEADER_MUTATOR(other)
report.as_string()
print(json.dumps({"report": list(report.items()), "other": list(other.items())}))
`;
    const outcome = await run('python3', ['-c', harness]).catch((error: NodeJS.ErrnoException) => error);
    if (outcome instanceof Error && outcome.code === 'ENOENT') context.skip('python3 is not installed');
    if (outcome instanceof Error) throw outcome;
    const { stdout } = outcome;
    const result = JSON.parse(stdout) as { report: [string, string][]; other: [string, string][] };
    const superset = (headers: [string, string][]) =>
      headers.filter(([name]) => name.startsWith('X-Superset-'));
    expect(superset(result.report)).toEqual([
      ['X-Superset-Type', 'Report'],
      ['X-Superset-Format', 'PNG'],
      ['X-Superset-Source', 'dashboard'],
      ['X-Superset-Dashboard-Id', '7'],
    ]);
    expect(superset(result.other)).toEqual([]);
  });
});
