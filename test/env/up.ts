// CLI (`npm run env:up`): starts the whole test environment, prints how to reach it, and keeps it
// up until Ctrl-C / SIGTERM, then stops everything. Handy for poking at the operator by hand.
import { startEnvironment } from './index.ts';
import { writeEnvState } from './state.ts';

const natsNodes = process.argv.includes('--nats-nodes=3') ? 3 : 1;
const env = await startEnvironment({ natsNodes });
const statePath = await writeEnvState(env);
process.stdout.write(
  [
    '',
    'test environment is up:',
    `  export KUBECONFIG=${env.kubeconfigPath}`,
    `  export NATS_URL=${env.nats.urls.join(',')}`,
    `  export WNO_ENV_STATE=${statePath}`,
    env.kube ? `  audit log: ${env.kube.auditLogPath}` : '  (external cluster)',
    `  files: ${env.root}`,
    'Ctrl-C to stop.',
    '',
  ].join('\n'),
);

let stopping = false;
const shutdown = (signal: string) => {
  if (stopping) return;
  stopping = true;
  process.stderr.write(`[wno-env] ${signal}: stopping\n`);
  env.stop().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`[wno-env] stop failed: ${String(err)}\n`);
      process.exit(1);
    },
  );
};
// These replace processes.ts's last-resort handlers' exit, which would skip the orderly stop.
process.on('SIGINT', () => shutdown('SIGINT'));
process.on('SIGTERM', () => shutdown('SIGTERM'));
process.on('SIGHUP', () => shutdown('SIGHUP'));
// `npm run` starts us through `sh -c`, and a SIGTERM sent to npm kills that shell without passing
// the signal on; being re-parented is then the only sign that whoever started us is gone.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) shutdown('parent exited');
}, 1000).unref();
