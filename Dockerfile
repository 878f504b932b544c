# uuru-federation sidecar. Runs next to Asterisk (same host, or the same network
# namespace as in examples/compose/); the generated config files need a folder
# shared with Asterisk's config dir (files backend), or use the realtime backend
# with Asterisk's database. docs/deployment.md explains the choices.
#
# Base image: Node.js 26, the Active LTS line since 2026-10-28 (Node 20 is end of
# life, 24 is in maintenance), on Debian trixie slim. Pinned to an exact release
# tag; to pin the content too, append the digest your registry reports for it
# (docker buildx imagetools inspect node:26.7.0-trixie-slim) as @sha256:...
# Bump it with each Node 26 security release.
ARG NODE_IMAGE=node:26.7.0-trixie-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# better-sqlite3 compiles from source when no prebuilt binary matches.
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 make g++ \
    && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM ${NODE_IMAGE}
WORKDIR /app
# The admin listener (panel, admin API, /metrics) stays on the container's
# loopback address: nothing outside the container reaches it unless a
# deployment opts in. examples/compose/ does so inside the Asterisk network
# namespace and publishes it on the host's loopback address only.
ENV NODE_ENV=production \
    UURU_LOG_FORMAT=json \
    UURU_DATA_DIR=/var/lib/uuru-federation \
    UURU_HTTP_LISTEN=0.0.0.0:8090 \
    UURU_ADMIN_LISTEN=127.0.0.1:8091
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY config ./config
COPY asterisk-conf ./asterisk-conf
# uuru-fed on the PATH (Node follows the link, so the CLI finds /app/config);
# the data folder private to the unprivileged user "node" (uid 1000) of the
# base image. Write access to a shared Asterisk config folder comes from a
# supplementary group at run time (docker run --group-add / compose group_add
# with the asterisk group's gid), not from root: docs/deployment.md.
RUN chmod 0755 dist/cli/main.js \
    && ln -s /app/dist/cli/main.js /usr/local/bin/uuru-fed \
    && mkdir -p /var/lib/uuru-federation \
    && chown node:node /var/lib/uuru-federation \
    && chmod 0700 /var/lib/uuru-federation
USER node
VOLUME ["/var/lib/uuru-federation"]
EXPOSE 8090
# GET /healthz on the federation listener the configuration names
# (UURU_HTTP_LISTEN or the UURU_CONFIG_FILE file): src/healthcheck.ts.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["node", "/app/dist/healthcheck.js"]
CMD ["node", "dist/main.js"]
