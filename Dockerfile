# podwire in a container: `podwire up` with the REST API, attaching other containers as
# pods through TAP devices (docker-compose.yml, docs/compose.md).
FROM node:20-bookworm-slim

# iproute2: `ip` (TAP setup); util-linux: `nsenter` (configuring a container's namespace by
# PID); python3, make, g++: node-gyp for the TAP addon.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iproute2 util-linux python3 make g++ \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
COPY package.json package-lock.json binding.gyp tsconfig.json tsconfig.build.json ./
COPY native ./native
COPY src ./src
# npm ci runs the package's install script (builds the TAP addon against this Node's
# headers, offline) and prepare (tsc -> dist/).
RUN npm ci && npm prune --omit=dev
COPY bin ./bin
COPY examples ./examples
COPY tools ./tools
RUN mkdir -p captures

EXPOSE 7070
ENTRYPOINT ["tools/compose/entrypoint.sh"]
