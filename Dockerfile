# Image of the project's Node services (cdc, bronze-writer, slack-notifier, distance-worker,
# batch, monitor): one image, the command picks the service (docker-compose.yml).
FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY . .
USER node
CMD ["npm", "run", "demo"]
