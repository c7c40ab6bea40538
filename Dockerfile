# gatehouse container image.
#
#   docker build -t gatehouse .
#   docker run --rm --read-only -p 8080:8080 gatehouse          # the demo (config/container.yaml)
#   docker run --rm --read-only -p 8080:8080 -v "$PWD/deploy:/etc/gatehouse:ro" gatehouse
#
# The config is read from $GATEHOUSE_CONFIG=/etc/gatehouse/gatehouse.yaml. The image
# ships config/container.yaml there (listening on 0.0.0.0; config/gatehouse.yaml binds
# 127.0.0.1, unreachable from outside a container). Mount a folder at /etc/gatehouse
# holding your gatehouse.yaml and the files it names by relative path (htpasswd, PEMs).
#
# Read-only root filesystem: the running process writes nothing to disk (logs go to
# stdout, npm is not run at start), so `docker run --read-only` and Kubernetes'
# `readOnlyRootFilesystem: true` work as they are. /tmp is the only place anything may
# ever write: give it a tmpfs (`--tmpfs /tmp`, or an emptyDir in Kubernetes).
# See docs/deployment.md.

# --- build: compile TypeScript with the dev dependencies -----------------------------
FROM node:20-bookworm-slim AS build
WORKDIR /src
COPY package.json package-lock.json ./
# No dependency needs its install script: the native password hashers ship prebuilt
# per-platform packages, and esbuild's (for tsx, a dev tool) is not used by the build.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm run build

# --- runtime: production dependencies and the compiled output only -------------------
FROM node:20-bookworm-slim AS runtime
LABEL org.opencontainers.image.title="gatehouse" \
      org.opencontainers.image.description="Authentication gateway" \
      org.opencontainers.image.licenses="Apache-2.0"
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /src/dist ./dist
COPY config ./config
# Owned by root and read-only to the service user: the process cannot rewrite its policy.
COPY config/container.yaml /etc/gatehouse/gatehouse.yaml

# A fixed numeric uid/gid, so Kubernetes' runAsNonRoot can verify it without /etc/passwd.
RUN groupadd --system --gid 10001 gatehouse \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin gatehouse
USER 10001:10001

ENV GATEHOUSE_CONFIG=/etc/gatehouse/gatehouse.yaml
# Stack traces point at the TypeScript sources.
ENV NODE_OPTIONS=--enable-source-maps
# The admin listener of the config above; change it with the config (admin.listen).
ENV GATEHOUSE_HEALTHCHECK_URL=http://127.0.0.1:9090/healthz
EXPOSE 8080 9090

# No curl in the slim image: Node's own fetch asks the admin listener's /healthz.
HEALTHCHECK --interval=15s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch(process.env.GATEHOUSE_HEALTHCHECK_URL, { signal: AbortSignal.timeout(3000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]

# node itself, not npm: npm would write its cache and logs (fails on a read-only root)
# and does not forward SIGTERM reliably. SIGTERM (docker stop) closes the listeners
# gracefully; SIGHUP reloads the config.
CMD ["node", "dist/cli/main.js", "serve"]
