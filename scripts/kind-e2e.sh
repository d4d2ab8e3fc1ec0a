#!/usr/bin/env bash
# The e2e suite against a kind cluster, from nothing: the cluster (kind-config.yaml), the operator
# image built and loaded, the operator installed with its Helm chart, a NATS trust made by
# `bootstrap` and applied, a nats-server in the cluster (scripts/kind/nats-server.yaml), then
# `npm test` with WNO_EXTERNAL_KUBECONFIG. Needs docker, kind, kubectl, helm and node on the PATH;
# the project's own machines have no Docker, so this script is not run there (README: On kind).
#   scripts/kind-e2e.sh            # KEEP_CLUSTER=1 keeps the cluster afterwards
set -euo pipefail

cd "$(dirname "$0")/.."
CLUSTER=workspace-nats
IMAGE=workspace-nats-operator:dev
WORK=$(mktemp -d)
KUBECONFIG_FILE="$WORK/kubeconfig"
export KUBECONFIG="$KUBECONFIG_FILE"

cleanup() {
  if [[ "${KEEP_CLUSTER:-}" != 1 ]]; then kind delete cluster --name "$CLUSTER" || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

for tool in docker kind kubectl helm node; do
  command -v "$tool" >/dev/null || { echo "kind-e2e: $tool is not on the PATH" >&2; exit 1; }
done

kind create cluster --config kind-config.yaml --kubeconfig "$KUBECONFIG_FILE"
docker build -t "$IMAGE" .
kind load docker-image "$IMAGE" --name "$CLUSTER"

# image.* are the chart's conventional value names for the image loaded above.
helm install workspace-nats-operator charts/workspace-nats-operator \
  --namespace wno-system --create-namespace \
  --set image.repository="${IMAGE%:*}" --set image.tag="${IMAGE#*:}" --set image.pullPolicy=Never \
  --wait --timeout 5m

# The trust: keys into $WORK/nats-bootstrap (never printed), the issuer and its Secrets applied.
node src/cli/main.ts bootstrap --out "$WORK/nats-bootstrap" --apply --kubeconfig "$KUBECONFIG_FILE"
kubectl apply -f "$WORK/nats-bootstrap/nats-server-secret.yaml" -f scripts/kind/nats-server.yaml
kubectl -n nats rollout status statefulset/nats --timeout=3m
kubectl wait --for=condition=Ready clusternatsissuer/platform --timeout=2m

# The first workspace, as the README's quick start has it.
kubectl apply -n default -f "$WORK/nats-bootstrap/workspace-nats-access.yaml"
kubectl -n default wait --for=condition=Ready workspacenatsaccess/first-workspace --timeout=2m

# The installed operator has shown it works; it steps aside (revoking the first workspace's user
# first), so that it does not reconcile beside the operator the suite runs.
kubectl -n default delete workspacenatsaccess/first-workspace --wait --timeout=2m
kubectl -n wno-system scale deployment -l app.kubernetes.io/instance=workspace-nats-operator --replicas=0

# The e2e suite runs the operator under test itself, against this cluster's API server, with a
# NATS of its own on this machine's loopback (test/env).
WNO_EXTERNAL_KUBECONFIG="$KUBECONFIG_FILE" npm test -- --selectProjects e2e
