// The help text of `bootstrap`; the README's bootstrap reference says the same.

export const bootstrapUsage = `Usage: workspace-nats-operator bootstrap [options]

Makes an operator key and signing key, the system account SYS and a user of it, the workspace
account with a signing key and, with --callout, an auth callout account AUTH (auth user, xkey,
sentinel); writes to --out a nats-server config (operator mode, full resolver, every account
preloaded), the JWTs, the seeds and creds (mode 0600), kubernetes.yaml (the Secrets, the
ClusterNatsIssuer and the ClusterNatsAuthCallout) and workspace-nats-access.yaml (a first access).
Never prints a seed or a JWT.

Options:
  --out DIR                 folder to write (default ./nats-bootstrap); refuses to replace its
                            files unless --force
  --force                   replace the files of an earlier bootstrap in --out
  --namespace NAME          the operator's namespace, for the Secrets (default wno-system)
  --nats-url URL[,URL]      NATS URLs of the issuer and callout (default ${'nats://nats.nats.svc:4222'})
  --scoped                  a scoped signing key (users carry only a tag ws:<workspace id>; the
                            key's template allows ws.<id>.> and _INBOX_<id>.>) instead of a plain one
  --callout                 also the auth callout account and a ClusterNatsAuthCallout
  --oidc-issuer URL         with --callout: also accept ID tokens of this OIDC issuer (audience nats)
  --service-account-issuer URL
                            the API server's ServiceAccount token issuer, for the callout's pods
                            provider (default https://kubernetes.default.svc.cluster.local)
  --issuer-name NAME        the ClusterNatsIssuer's name (default platform)
  --callout-name NAME       the ClusterNatsAuthCallout's name (default workspaces)
  --secret-suffix SUFFIX    appended to every Secret's name (more than one bootstrap per namespace)
  --operator-name NAME      the NATS operator's name (default platform)
  --account-name NAME       the workspace account's name (default WS); with --from-nsc, which account
  --resolver-dir DIR        the full resolver's folder in the server config (default /data/jwt)
  --nats-namespace NAME     namespace of nats-server-secret.yaml, the config as a Secret (default nats)
  --apply                   also create or replace the Kubernetes objects (the CRDs must be installed)
  --kubeconfig PATH         cluster for --apply (default: $KUBECONFIG, in-cluster, ~/.kube/config)

Existing keys (only the Kubernetes side is written):
  --from-nsc DIR            an nsc store's operator folder (or a store holding one operator)
  --nsc-keys DIR            nsc's key store (default $NKEYS_PATH, else ~/.local/share/nats/nsc/keys)
  --operator-signing-key-file FILE, --account-signing-key-file FILE, --account-public-key KEY,
  --system-creds-file FILE  or the seeds and creds themselves, all four together
`;
