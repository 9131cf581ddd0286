# Chorus container image: Node.js 24 runs the TypeScript sources directly (type stripping), so the
# image needs the production dependencies and src/ only, plus the viewer's browser bundle, built by
# esbuild (a dev dependency) in a stage of its own and copied next to the sources, where the server
# looks for it first — the runtime has no dev dependencies.
#
#   docker build -t chorus .
#   docker run -p 8080:8080 -e CHORUS_AUTH_SECRET=… chorus
#
# NODE_ENV=production: the instance refuses to start without authentication (CHORUS_AUTH_SECRET,
# CHORUS_AUTH_PUBLIC_KEY or CHORUS_AUTH_JWKS_URL) unless CHORUS_INSECURE=1.

# --- dependencies: production only, from the lockfile ------------------------------------------
FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: no production dependency needs an install script (the one that has one, the
# `node` dev dependency, is omitted here; this image already has Node 24).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

# --- the viewer's browser bundle (esbuild, a dev dependency: only in this stage) -----------------
FROM node:24-slim AS viewer
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY src ./src
COPY scripts/build-viewer.mjs ./scripts/
RUN node scripts/build-viewer.mjs src/web

# --- runtime ------------------------------------------------------------------------------------
FROM node:24-slim AS runtime
ENV NODE_ENV=production \
    PORT=8080 \
    HOST=0.0.0.0
WORKDIR /app
COPY --from=deps --chown=root:root /app/node_modules ./node_modules
COPY --chown=root:root package.json ./
COPY --chown=root:root src ./src
COPY --from=viewer --chown=root:root /app/src/web/viewer.bundle.js /app/src/web/viewer.bundle.css ./src/web/
# The code is owned by root and read-only for the process; it runs as the image's unprivileged
# `node` user (uid 1000) and writes nothing to disk (logs go to stdout).
USER node
EXPOSE 8080
# SIGTERM starts the graceful drain (CHORUS_DRAIN_MS, default 10 s): give the container more time
# than that before SIGKILL (docker stop -t / compose stop_grace_period / k8s terminationGracePeriodSeconds).
STOPSIGNAL SIGTERM
# Liveness only (/healthz); readiness (/readyz: Redis reachable, not draining) is for load balancers.
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 8080) + '/healthz').then((response) => process.exit(response.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "src/main.ts"]
