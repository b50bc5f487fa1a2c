# Image of the project's Node services (cdc, bronze-writer, slack-notifier, distance-worker,
# batch, monitor): one image, docker-compose.yml picks the command of each service. Services run
# from source with tsx (a runtime dependency), as `node --import tsx <entry>` so signals reach them;
# the bronze writer runs from a JavaScript bundle built here (docs/decisions/0008-bronze-writer-runs-compiled.md).
FROM node:24-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --chown=node:node package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY --chown=node:node . .
RUN npx tsx scripts/build-services.ts bronze-writer && chown -R node:node dist
RUN mkdir -p /app/data && chown node:node /app/data
USER node
CMD ["node", "--import", "tsx", "scripts/demo.ts"]
