# EnderCompute server image (used by docker-compose.yml).
#   docker build -t endercompute .
#   docker run -p 3000:3000 -v endercompute-data:/data \
#     --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
#     --security-opt systempaths=unconfined endercompute                          (embedded log)
#   docker run … -e EVENTSTORE_CONNECTION_STRING_FILE=/run/secrets/… endercompute    (EventStoreDB; see docs/eventstoredb.md)
ARG NODE_VERSION=20

# Build: all dependencies (better-sqlite3 compiles from source when no prebuilt binary
# can be fetched, hence python3, make and g++), compile, then drop the dev dependencies.
FROM node:${NODE_VERSION}-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json nest-cli.json ./
COPY scripts/bundle.mjs ./scripts/
COPY src ./src
RUN npm run build && npm prune --omit=dev --no-audit --no-fund

# Run: the same base (the compiled better-sqlite3 matches its Node and glibc), no compilers.
FROM node:${NODE_VERSION}-bookworm-slim
# Scripts run with interpreters from this image: bash and sh are here; python3 is added
# because templates commonly use it. Add what your jobs need in an image built on this one.
# bubblewrap puts every run in a sandbox of its own (its init runs on perl-base, which
# every Debian image has); see "Security" in the README for what the container needs.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 ca-certificates bubblewrap \
 && rm -rf /var/lib/apt/lists/*
# GLIBC_TUNABLES: what `npm run start:prod` sets (see the README, "Operating EnderCompute").
ENV NODE_ENV=production \
    GLIBC_TUNABLES=glibc.malloc.hugetlb=1 \
    HOST=0.0.0.0 \
    PORT=3000 \
    ENDERCOMPUTE_DATA_DIR=/data
WORKDIR /app
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules ./node_modules
# The server is the bundle (dist/server); dist/src holds the CLI and the tools.
COPY --from=build /app/dist/server ./dist/server
COPY --from=build /app/dist/src ./dist/src
COPY views ./views
RUN mkdir -p /data && chown node:node /data
USER node
VOLUME /data
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:3000/api/health').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# The flags of `npm run start:prod` (see the README, "Operating EnderCompute").
CMD ["node", "--max-semi-space-size=4", "--max-old-space-size=512", "--heap-growing-percent=100", "dist/server/main.js"]
