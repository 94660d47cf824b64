# baton: HTTP reverse proxy / load balancer for Docker hosts.
#
#   docker build -t baton .
#   docker run -p 8080:8080 -v /var/run/docker.sock:/var/run/docker.sock \
#     --group-add "$(stat -c %g /var/run/docker.sock)" baton
#
# The sources are TypeScript run by Node's own type stripping: no build step, the image's Node 24 runs them.
# `npm ci --omit=dev` leaves out the `node` devDependency (the Node 24 binary the repo pins for machines with an
# older Node); the base image already is Node 24.
#
# Behind a TLS-intercepting path to the npm registry, pass that CA for the install only:
#   docker build --build-arg NPM_EXTRA_CA="$(cat /etc/ssl/certs/ca-certificates.crt)" -t baton .
# It is used in the `deps` stage alone; the final image holds neither the CA nor the build argument.

FROM node:24-slim AS deps
WORKDIR /app
COPY package.json package-lock.json ./
ARG NPM_EXTRA_CA=""
RUN if [ -n "$NPM_EXTRA_CA" ]; then \
      printf '%s\n' "$NPM_EXTRA_CA" > /tmp/npm-extra-ca.pem; \
      export NODE_EXTRA_CA_CERTS=/tmp/npm-extra-ca.pem; \
    fi \
    && npm ci --omit=dev --no-audit --no-fund \
    && npm cache clean --force \
    && rm -f /tmp/npm-extra-ca.pem

FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
# Code and dependencies stay root-owned (read-only to the process); only the state dir belongs to `node`
# (config/baton.yaml has stateDir "../.baton": the generated admin token and the deploy journal live there).
COPY --from=deps /app/node_modules ./node_modules
COPY package.json package-lock.json ./
COPY bin/ ./bin/
COPY src/ ./src/
COPY config/ ./config/
RUN mkdir -p /app/.baton && chown node:node /app/.baton && chmod 0700 /app/.baton
USER node
# 8080: the `web` entrypoint. 8081: the admin API; the shipped config binds it to 127.0.0.1 inside the
# container, so publish it only with a config that listens on 0.0.0.0 (and a BATON_ADMIN_TOKEN).
EXPOSE 8080 8081
ENTRYPOINT ["node", "bin/baton.js"]
CMD ["serve", "--config", "config/baton.yaml"]
