# baton: HTTP reverse proxy / load balancer and deployer for Docker hosts.
#
#   docker build -t baton .
#   docker run -d --name baton -p 80:8080 \
#     -v /var/run/docker.sock:/var/run/docker.sock --group-add "$(stat -c %g /var/run/docker.sock)" \
#     -v baton-state:/app/.baton --network web baton
#
# The sources are TypeScript run by Node's own type stripping: no build step, the image's Node 24 runs them.
# `npm ci --omit=dev` leaves out the `node` devDependency (the Node 24 binary the repo pins for machines with an
# older Node); the base image already is Node 24.
#
# Every instruction is in exec form, so any Node 24 image with npm at /usr/local/lib/node_modules/npm works as
# BASE, with or without a shell (the tests build one with `docker import`: --build-arg BASE=<that image>).
#
# Behind a TLS-intercepting path to the npm registry, pass its CA to `npm ci` as a build secret (BuildKit):
#   docker build --secret id=npm_ca,src=/etc/ssl/certs/ca-certificates.crt -t baton .
# A secret is mounted for that one RUN only: it is in no layer, no history entry and no build argument.
ARG BASE=node:24-slim

FROM ${BASE} AS deps
WORKDIR /app
COPY package.json package-lock.json ./
# NODE_EXTRA_CA_CERTS is set for npm only when the secret was given (node warns about a missing file otherwise).
# --ignore-scripts: no dependency needs an install script (ssh2's optional native crypto falls back to JS), and the
# base need not have a shell.
RUN --mount=type=secret,id=npm_ca ["node", "-e", "const fs = require('node:fs'); const { spawnSync } = require('node:child_process'); const env = { ...process.env }; if (fs.existsSync('/run/secrets/npm_ca')) env.NODE_EXTRA_CA_CERTS = '/run/secrets/npm_ca'; const npm = '/usr/local/lib/node_modules/npm/bin/npm-cli.js'; const r = spawnSync(process.execPath, [npm, 'ci', '--omit=dev', '--ignore-scripts', '--no-audit', '--no-fund', '--no-update-notifier'], { stdio: 'inherit', env }); process.exit(r.status ?? 1);"]

FROM ${BASE}
ENV NODE_ENV=production
WORKDIR /app
# Code and dependencies stay root-owned (read-only to the process); only the state dir belongs to uid 1000
# (config/baton.yaml has stateDir "../.baton": the generated admin token and the deploy journal live there, so
# mount a volume at /app/.baton to keep them across container replacements).
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY bin/ ./bin/
COPY src/ ./src/
COPY config/ ./config/
RUN ["node", "-e", "const fs = require('node:fs'); fs.mkdirSync('/app/.baton', { mode: 0o700 }); fs.chownSync('/app/.baton', 1000, 1000);"]
# uid 1000 is `node` in the official images; numeric, so a base without /etc/passwd works the same. The Docker
# socket is reached through its group: `--group-add <gid of the socket>` (compose: group_add).
USER 1000:1000
# 8080: the `web` entrypoint. 8081: the admin API; the shipped config binds it to 127.0.0.1 inside the container
# (`docker exec baton node bin/baton.js status` works as is). To call it from outside, set
# BATON_ADMIN_ADDRESS=0.0.0.0:8081 and BATON_ADMIN_TOKEN (or a config with a token) and publish the port.
EXPOSE 8080 8081
# `baton health` asks the admin API's /healthz (no token needed) at the address the config names.
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 CMD ["node", "bin/baton.js", "health"]
# baton finishes in-flight requests on SIGTERM for up to timeouts.shutdown (30 s by default): give the container
# at least that much (`docker stop -t 35`, compose `stop_grace_period: 35s`).
STOPSIGNAL SIGTERM
ENTRYPOINT ["node", "bin/baton.js"]
CMD ["serve"]
