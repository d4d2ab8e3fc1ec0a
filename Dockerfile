# The operator image: Node.js 24 runs the TypeScript sources directly (type stripping), so there is
# no build step. Used with kind as described in the README.
FROM node:24-slim
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --no-audit --no-fund
COPY src ./src
# The image's "node" user, by number so that runAsNonRoot can verify it.
USER 1000
# Resident memory, which is what a memory limit counts (npm start and the tests run it alike):
# - a young generation of 1 MiB instead of V8's 16: the operator's garbage is short-lived, and the
#   larger one only holds memory (150 MiB instead of 180 idle, 230 instead of 310 with 500 accesses,
#   at the same CPU per access);
# - --optimize-for-size: V8 keeps its heap and code smaller;
# - glibc's allocator: two arenas instead of one per thread that ever allocated, and a fixed mmap
#   threshold, so that a large response buffer, once freed, goes back to the system instead of
#   raising the threshold and leaving a hole in the heap.
# Together the last two took a restart holding 3,000 accesses from 157 to 114 MiB (idle: 115 to 98).
ENV MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=131072
ENTRYPOINT ["node", "--max-semi-space-size=1", "--optimize-for-size", "src/cli/main.ts"]
CMD ["run"]
