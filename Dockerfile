# uuru-federation sidecar. Runs next to Asterisk (same host or same pod/network);
# the generated config files need a volume shared with Asterisk's config dir
# (files backend), or use the realtime backend with Asterisk's database.
FROM node:20-bookworm-slim AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production \
    UURU_LOG_FORMAT=json \
    UURU_DATA_DIR=/var/lib/uuru-federation \
    UURU_HTTP_LISTEN=0.0.0.0:8090 \
    UURU_ADMIN_LISTEN=0.0.0.0:8091
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY config ./config
COPY asterisk-conf ./asterisk-conf
RUN mkdir -p /var/lib/uuru-federation && chown node:node /var/lib/uuru-federation
USER node
VOLUME ["/var/lib/uuru-federation"]
EXPOSE 8090 8091
HEALTHCHECK --interval=30s --timeout=3s CMD node -e "fetch('http://127.0.0.1:8090/healthz').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"
CMD ["node", "dist/main.js"]
