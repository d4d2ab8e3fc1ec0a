# The operator image: Node.js 24 runs the TypeScript sources directly (type stripping), so there is
# no build step. Used with kind as described in the README.
FROM node:24-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund
COPY src ./src
# The image's "node" user, by number so that runAsNonRoot can verify it.
USER 1000
ENTRYPOINT ["node", "src/cli/main.ts"]
CMD ["run"]
