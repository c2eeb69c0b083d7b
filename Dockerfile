# syntax=docker/dockerfile:1
# `bitnet serve` in a container (docs/deploy.md). Two stages: `build` installs the dev dependencies and compiles
# (AssemblyScript kernels + tsc); the runtime stage holds only the packed package (what `npm pack` ships) and its
# production dependencies, and runs as the unprivileged `node` user (uid 1000).
#
#   docker build -t bitnet-engine .
#   docker run --rm -p 8080:8080 -v "$PWD/models:/models:ro" bitnet-engine serve --host 0.0.0.0 -m /models/model.gguf
#   docker run --rm -p 8080:8080 -v bitnet-cache:/cache bitnet-engine serve --host 0.0.0.0 -m owner/name --pull
#
# With no arguments it serves /models/model.gguf on 0.0.0.0:8080. SIGTERM (docker stop, a Kubernetes rollout)
# drains: new requests get 503, /readyz fails, running generations get --drain-timeout seconds (default 25), then
# exit 0. Give the runtime more than that before SIGKILL (docker stop -t 30, terminationGracePeriodSeconds: 30).

ARG NODE_IMAGE=node:22-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
# --ignore-scripts: the build needs no install script (the dev-only `node` package's would download a second Node).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY . .
RUN npm run build \
 && npm pack --ignore-scripts --pack-destination /tmp \
 && mkdir /pkg \
 && tar -xzf /tmp/bitnet-engine-*.tgz -C /pkg --strip-components=1 \
 && cp package-lock.json /pkg/

FROM ${NODE_IMAGE}
ENV NODE_ENV=production \
    BITNET_CACHE_DIR=/cache
WORKDIR /app
COPY --from=build /pkg/ ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force \
 && rm package-lock.json \
 && mkdir -p /cache /models \
 && chown node:node /cache
USER node
EXPOSE 8080
# Docker's own check (Kubernetes ignores it and uses the probes of deploy/kubernetes.yaml): the process answers.
HEALTHCHECK --interval=15s --timeout=3s --start-period=120s \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/livez').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
ENTRYPOINT ["node", "/app/bin/bitnet.js"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080", "-m", "/models/model.gguf"]
