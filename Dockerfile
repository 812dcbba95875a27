# One image per app, from this one file:
#   docker build --build-arg APP=api -t bullpen-api .        (api | worker | dashboard)
# docker-compose.yml builds all three. The apps run compiled JavaScript (`node dist/main.js`): the build
# stage compiles the app and the workspace packages it uses, and `pnpm deploy` copies their dist/ in.

ARG NODE_IMAGE=node:20-slim

# ---- build: install the workspace from the lockfile, then deploy one app with production deps only ----
FROM ${NODE_IMAGE} AS build
ENV CI=true
RUN npm install -g pnpm@12.4.2 && npm cache clean --force
WORKDIR /repo
# Manifests first, so that the install layer is reused while only source files change.
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml .npmrc ./
COPY apps/api/package.json apps/api/
COPY apps/worker/package.json apps/worker/
COPY apps/dashboard/package.json apps/dashboard/
COPY packages/config/package.json packages/config/
COPY packages/http/package.json packages/http/
COPY packages/jobs/package.json packages/jobs/
COPY packages/observability/package.json packages/observability/
COPY packages/storage/package.json packages/storage/
COPY packages/uploads/package.json packages/uploads/
COPY packages/test-utils/package.json packages/test-utils/
RUN pnpm install --frozen-lockfile
COPY . .
ARG APP
RUN test -n "$APP" || (echo 'build with --build-arg APP=api|worker|dashboard' >&2; exit 1)
# The app and every workspace package it depends on, compiled (no TypeScript at run time).
RUN pnpm --filter "@bullpen/${APP}..." build
# /out: the app's dist/ and a node_modules of its production dependencies (workspace packages copied in).
RUN pnpm --filter "@bullpen/${APP}" deploy --prod /out \
  # valibot (Bull Board's) takes TypeScript as an optional peer for its types only; pnpm links the workspace's
  # compiler (30 MB) into the dashboard's production install. Nothing runs it.
  && rm -rf /out/node_modules/.pnpm/typescript@* /out/node_modules/.pnpm/@typescript+*

# ---- runtime: slim Node, no pnpm, no dev dependencies, a non-root user ----
FROM ${NODE_IMAGE} AS runtime
ARG APP
ENV NODE_ENV=production \
    STORAGE_DIR=/data/storage \
    BULLPEN_APP=${APP}
WORKDIR /app
# The storage folder exists in the image owned by `node`, so a fresh named volume mounted there is writable.
RUN mkdir -p /data/storage && chown -R node:node /data
COPY --from=build --chown=node:node /out ./
USER node
# One process: its pid is the program's, and it gets SIGTERM itself (compose adds an init for reaping).
CMD ["node", "--enable-source-maps", "dist/main.js"]
