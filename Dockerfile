# superset-telegram-bot: Superset report mails (IMAP) → Telegram.
# Build: docker build -t superset-telegram-bot .   Run: see docker-compose.yml and docs/operations.md.

# ---- build: compile TypeScript and the SQLite module, then drop the dev dependencies ----
FROM node:24-bookworm-slim AS build
# better-sqlite3 compiles from source when no prebuilt binary can be downloaded
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
# npm ci runs `prepare` (= npm run build, which needs the dev dependencies) and writes dist/
RUN npm ci \
 && npm prune --omit=dev

# ---- runtime: the built bot and its production dependencies, nothing else ----
FROM node:24-bookworm-slim
ENV NODE_ENV=production \
    DATA_DIR=/data \
    HTTP_HOST=0.0.0.0 \
    NPM_CONFIG_UPDATE_NOTIFIER=false \
    NPM_CONFIG_SCRIPT_SHELL=/bin/bash
# Why bash: `npm start` runs its script through a shell. dash (Debian's sh) stays in between and
# dies on the SIGTERM npm forwards, so the bot would never hear it and `docker stop` would end in
# SIGKILL. bash execs the single command, so the bot itself receives SIGTERM and stops gracefully.
WORKDIR /app
COPY --from=build /app/package.json /app/package-lock.json ./
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# the CLI on PATH for `docker compose run --rm bot superset-telegram-bot ...`; /data owned by the
# unprivileged user before VOLUME, so a new named volume starts with that owner
RUN chmod 755 dist/cli.js \
 && ln -s /app/dist/cli.js /usr/local/bin/superset-telegram-bot \
 && mkdir -p /data \
 && chown node:node /data
# `node` (uid 1000) is the unprivileged user the official Node images provide
USER node
VOLUME /data
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.HTTP_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["npm", "start"]
