# syntax=docker/dockerfile:1
# Multi-stage: compile TypeScript with the dev dependencies, ship only dist/ and production ones.
FROM node:20.20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY gateway gateway
COPY simulators simulators
COPY rules rules
# Also copies the live page (gateway/http/live.html, its styles and scripts) next to the compiled code.
RUN npm run build

FROM node:20.20-bookworm-slim
ENV NODE_ENV=production
# The zone database, so a host's /etc/localtime mounted by docker-compose.yml names its zone
# (bookworm ships tzdata as a required package; this says so if that ever changes).
RUN test -e /usr/share/zoneinfo/Etc/UTC
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY rules rules
RUN mkdir -p /app/data /app/credentials && chown node:node /app/data /app/credentials
USER node
# The device map in the data volume: `npm run devices -- assign` writes it (as user node) and it outlives the container.
ENV DATA_DIR=/app/data RULES_DIR=/app/rules DEVICES_FILE=/app/data/devices.yaml BIND_HOST=0.0.0.0
# MQTT, MQTT over WebSocket, HTTP (/healthz, /readyz, /metrics, the live page).
EXPOSE 1883 8083 8080
VOLUME ["/app/data"]
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD node -e "fetch('http://127.0.0.1:'+(process.env.HTTP_PORT||8080)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["node", "dist/gateway/main.js"]
