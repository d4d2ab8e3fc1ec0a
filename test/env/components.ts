// Owns the binaries the test environment runs: pins their versions, builds them from the Go module
// proxy with `go` when they are missing, and caches them by version outside the repo so a second
// start takes seconds. Nothing built here is ever written inside the work tree.
import { spawn } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { access, constants, mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { makeTempDir, pidAlive, removeTempDir, tail, track, trackTempDir } from './processes.ts';

/** Every version the environment runs, in one place. Bump here; the cache is keyed by these. */
export const COMPONENT_VERSIONS = {
  kubernetes: '1.37.2',
  /** k8s.io/<staging module> versions that belong to `kubernetes` above. */
  kubernetesStaging: '0.37.2',
  etcd: '3.6.16',
  natsServer: '2.15.3',
  /** The nats CLI (natscli), for the suite that shows its command lines work; not v0.5.1. */
  natsCli: '0.5.0',
  /** Go module github.com/prometheus/prometheus (v0.316.0 is Prometheus 3.16.0), for promtool. */
  prometheus: '0.316.0',
  /** Go module helm.sh/helm/v4, for the suite that lints, renders and dry-runs the Helm chart. */
  helm: '4.3.2',
} as const;

export interface ComponentPaths {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  kubectl: string;
  natsServer: string;
  /** The `nats` CLI; built only when asked for (group natscli). */
  natsCli: string;
  /** Prometheus's promtool; built only when asked for (group promtool). */
  promtool: string;
  /** Helm; built only when asked for (group helm). */
  helm: string;
}

export interface EnsureOptions {
  /** Progress lines; defaults to stderr. */
  log?: (line: string) => void;
  /**
   * Build only these groups (default: the environment's, COMPONENT_GROUPS); paths of all components
   * are returned regardless.
   */
  only?: ComponentGroup[];
}

export type ComponentGroup = 'etcd' | 'nats-server' | 'kubernetes' | 'natscli' | 'promtool' | 'helm';
/** What the environment runs: built by default, before any suite starts. */
export const COMPONENT_GROUPS: readonly ComponentGroup[] = ['etcd', 'nats-server', 'kubernetes'];
/**
 * Tools only some suites use, built when one asks for them by name (`only`), so that a run without
 * those suites does not wait for them.
 */
export const ON_DEMAND_GROUPS: readonly ComponentGroup[] = ['natscli', 'promtool', 'helm'];

const KUBE_CMDS = ['kube-apiserver', 'kube-controller-manager', 'kubectl'] as const;

export function cacheRoot(): string {
  if (process.env.WNO_CACHE_DIR) return path.resolve(process.env.WNO_CACHE_DIR);
  const xdg = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(xdg, 'workspace-nats-operator');
}

/** `<cache>/bin/<name>-<version>/<name>` */
export function binaryPath(name: string, version: string): string {
  return path.join(cacheRoot(), 'bin', `${name}-${version}`, name);
}

export function componentPaths(): ComponentPaths {
  const v = COMPONENT_VERSIONS;
  return {
    etcd: binaryPath('etcd', v.etcd),
    kubeApiserver: binaryPath('kube-apiserver', v.kubernetes),
    kubeControllerManager: binaryPath('kube-controller-manager', v.kubernetes),
    kubectl: binaryPath('kubectl', v.kubernetes),
    natsServer: binaryPath('nats-server', v.natsServer),
    natsCli: binaryPath('nats', v.natsCli),
    promtool: binaryPath('promtool', v.prometheus),
    helm: binaryPath('helm', v.helm),
  };
}

export async function isExecutable(p: string): Promise<boolean> {
  try {
    await access(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

let inFlight: Promise<ComponentPaths> | undefined;

/** Absolute paths of all binaries, building whichever are missing (one build at a time). */
export function ensureComponents(opts: EnsureOptions = {}): Promise<ComponentPaths> {
  // One promise per process: concurrent callers share the same builds.
  const log = opts.log ?? ((l: string) => process.stderr.write(`[wno-env] ${l}\n`));
  if (opts.only) return doEnsure(log, opts.only);
  inFlight ??= doEnsure(log, COMPONENT_GROUPS).finally(() => {
    inFlight = undefined;
  });
  return inFlight;
}

interface Builder {
  group: ComponentGroup;
  label: string;
  outputs: string[];
  build: (tmpOut: string, logFile: string, log: (l: string) => void) => Promise<void>;
}

async function doEnsure(log: (l: string) => void, groups: readonly ComponentGroup[]): Promise<ComponentPaths> {
  const paths = componentPaths();
  const v = COMPONENT_VERSIONS;
  const builders: Builder[] = [
    { group: 'etcd', label: `etcd ${v.etcd}`, outputs: [paths.etcd], build: buildEtcd },
    {
      group: 'nats-server',
      label: `nats-server ${v.natsServer}`,
      outputs: [paths.natsServer],
      build: goInstall('nats', `github.com/nats-io/nats-server/v2@v${v.natsServer}`),
    },
    {
      group: 'natscli',
      label: `nats CLI ${v.natsCli}`,
      outputs: [paths.natsCli],
      // The CLI's main package; it finds its version in the build info.
      build: goInstall('natscli', `github.com/nats-io/natscli/nats@v${v.natsCli}`),
    },
    {
      group: 'promtool',
      label: `promtool (prometheus v${v.prometheus})`,
      outputs: [paths.promtool],
      build: goInstall('promtool', `github.com/prometheus/prometheus/cmd/promtool@v${v.prometheus}`),
    },
    {
      group: 'helm',
      label: `helm ${v.helm}`,
      outputs: [paths.helm],
      build: goInstall('helm', `helm.sh/helm/v4/cmd/helm@v${v.helm}`),
    },
    {
      group: 'kubernetes',
      label: `kubernetes ${v.kubernetes} (${KUBE_CMDS.join(', ')})`,
      outputs: [paths.kubeApiserver, paths.kubeControllerManager, paths.kubectl],
      build: buildKube,
    },
  ];
  const missing = async (b: Builder) => (await Promise.all(b.outputs.map(isExecutable))).includes(false);
  const todo: Builder[] = [];
  for (const b of builders) if (groups.includes(b.group) && (await missing(b))) todo.push(b);
  if (todo.length === 0) return paths;

  const binDir = path.join(cacheRoot(), 'bin');
  await mkdir(binDir, { recursive: true });
  // A single lock for all builds: with two cores, parallel Go builds only slow each other down,
  // and two processes (say, CI prebuild and a developer's jest) must not build the same thing twice.
  const release = await acquireLock(path.join(binDir, '.build.lock'), log);
  try {
    for (const b of todo) {
      if (!(await missing(b))) continue; // another process built it while we waited
      const logFile = path.join(binDir, `build-${b.group}.log`);
      const tmpOut = await makeTempDir('.out-', binDir);
      const started = Date.now();
      log(`building ${b.label} with go (log: ${logFile}); this takes minutes on a cold cache`);
      const ticker = setInterval(() => log(`  still building ${b.label}: ${elapsed(started)}`), 60_000);
      try {
        await b.build(tmpOut, logFile, log);
        for (const out of b.outputs) {
          await mkdir(path.dirname(out), { recursive: true });
          // rename is atomic, so a reader never sees a half-written binary.
          await rename(path.join(tmpOut, path.basename(out)), out);
        }
      } catch (err) {
        log(`build of ${b.label} failed after ${elapsed(started)}; last lines of ${logFile}:`);
        log(await tail(logFile, 30));
        throw err;
      } finally {
        clearInterval(ticker);
        await removeTempDir(tmpOut);
      }
      log(`built ${b.label} in ${elapsed(started)}`);
    }
  } finally {
    await release();
  }
  return paths;
}

function elapsed(since: number): string {
  return `${Math.round((Date.now() - since) / 1000)}s`;
}

// ---- lock -------------------------------------------------------------------------------------

/** mkdir is atomic, so the directory is the lock; the owner's pid inside lets us break stale locks. */
async function acquireLock(dir: string, log: (l: string) => void): Promise<() => Promise<void>> {
  let announced = false;
  for (;;) {
    try {
      await mkdir(dir);
      trackTempDir(dir); // so that an interrupted build releases the lock on its way out
      await writeFile(path.join(dir, 'pid'), String(process.pid));
      return () => removeTempDir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const owner = Number((await readFile(path.join(dir, 'pid'), 'utf8').catch(() => '')).trim());
    // No pid a while after mkdir means the owner died between the two steps.
    const orphaned = !owner && Date.now() - ((await stat(dir).catch(() => undefined))?.mtimeMs ?? Date.now()) > 30_000;
    if ((owner && !pidAlive(owner)) || orphaned) {
      // Renaming first means only one waiter removes the stale lock; the others just retry mkdir.
      const stale = `${dir}.stale-${process.pid}`;
      await rename(dir, stale).then(() => rm(stale, { recursive: true, force: true }), () => undefined);
      continue;
    }
    if (!announced) {
      log(`waiting for another process (pid ${owner || '?'}) that is building components`);
      announced = true;
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
}

// ---- go -----------------------------------------------------------------------------------------

function goBinary(): string {
  if (process.env.GO) return process.env.GO;
  // /usr/local/go/bin is where the official tarball installs and is often not on a CI PATH.
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter(Boolean), '/usr/local/go/bin'];
  return dirs.map((d) => path.join(d, 'go')).find((p) => existsSync(p)) ?? 'go';
}

/** Runs go, appending all output to logFile; resolves with stdout. */
function go(args: string[], opts: { cwd: string; logFile: string; env?: Record<string, string> }): Promise<string> {
  return new Promise((resolve, reject) => {
    const logStream = createWriteStream(opts.logFile, { flags: 'a' });
    logStream.write(`\n$ go ${args.join(' ')}   (in ${opts.cwd})\n`);
    const child = spawn(goBinary(), args, {
      cwd: opts.cwd,
      env: { ...process.env, GOWORK: 'off', ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
      // Tracked like the environment's processes, so an interrupted run does not leave go running.
      detached: true,
    });
    if (child.pid !== undefined) track(`go ${args[0]}`, child, opts.logFile);
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      logStream.write(d);
    });
    child.stderr.pipe(logStream, { end: false });
    child.on('error', (e: NodeJS.ErrnoException) => {
      logStream.end();
      reject(e.code === 'ENOENT' ? new Error('go not found: install Go 1.26 or newer, or set GO=/path/to/go') : e);
    });
    child.on('close', (code, signal) => {
      logStream.end();
      if (code === 0) resolve(out);
      else reject(new Error(`go ${args[0]} ${args[1] ?? ''} failed (${signal ?? code}); see ${opts.logFile}`));
    });
  });
}

async function withWrapperModule<T>(name: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const dir = await makeTempDir(`wno-build-${name}-`);
  try {
    return await fn(dir);
  } finally {
    await removeTempDir(dir);
  }
}

const STRIP = '-s -w';

/**
 * `go install <package>@<version>` into the output folder: for modules whose go.mod has no replace
 * or exclude directives (which `go install` refuses). The wrapper module only gives go a folder
 * outside any other module to run in.
 */
function goInstall(name: string, packageAtVersion: string): Builder['build'] {
  return async (outDir, logFile) => {
    await writeFile(logFile, '');
    await withWrapperModule(name, (cwd) =>
      go(['install', `-ldflags=${STRIP}`, packageAtVersion], { cwd, logFile, env: { GOBIN: outDir } }),
    );
  };
}

async function buildEtcd(outDir: string, logFile: string): Promise<void> {
  await writeFile(logFile, '');
  await withWrapperModule('etcd', async (cwd) => {
    await go(['mod', 'init', 'wno.local/etcdbuild'], { cwd, logFile });
    // etcdmain is what etcd's own main package calls; wrapping it avoids cloning etcd's repo.
    await writeFile(
      path.join(cwd, 'main.go'),
      'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n',
    );
    await go(['mod', 'edit', `-require=go.etcd.io/etcd/server/v3@v${COMPONENT_VERSIONS.etcd}`], { cwd, logFile });
    await go(['mod', 'tidy'], { cwd, logFile });
    await go(['build', `-ldflags=${STRIP}`, '-o', path.join(outDir, 'etcd'), '.'], { cwd, logFile });
  });
}

/**
 * k8s.io/kubernetes cannot be `go install`ed: its go.mod points the staging modules at
 * ./staging/src, which a module download does not contain. A wrapper module that requires it and
 * replaces each staging module with its published k8s.io/<x> release builds the same commands.
 */
async function buildKube(outDir: string, logFile: string): Promise<void> {
  await writeFile(logFile, '');
  const { kubernetes, kubernetesStaging } = COMPONENT_VERSIONS;
  await withWrapperModule('kube', async (cwd) => {
    await go(['mod', 'init', 'wno.local/k8sbuild'], { cwd, logFile });
    const info = JSON.parse(
      await go(['mod', 'download', '-json', `k8s.io/kubernetes@v${kubernetes}`], { cwd, logFile }),
    ) as { GoMod?: string; Error?: string };
    if (!info.GoMod) throw new Error(`go mod download k8s.io/kubernetes: ${info.Error ?? 'no GoMod'}`);
    const staging = [...(await readFile(info.GoMod, 'utf8')).matchAll(/^\s*(k8s\.io\/\S+)\s+=>\s+\.\/staging\/src\//gm)]
      .map((m) => m[1])
      .filter((m): m is string => !!m);
    if (staging.length === 0) throw new Error(`no staging replaces found in ${info.GoMod}`);
    await go(
      [
        'mod',
        'edit',
        `-require=k8s.io/kubernetes@v${kubernetes}`,
        ...staging.map((m) => `-replace=${m}=${m}@v${kubernetesStaging}`),
      ],
      { cwd, logFile },
    );
    // tools.go keeps the commands' packages in the build list so `go mod tidy` records their deps.
    await writeFile(
      path.join(cwd, 'tools.go'),
      `//go:build tools\n\npackage tools\n\nimport (\n${KUBE_CMDS.map((c) => `\t_ "k8s.io/kubernetes/cmd/${c}"\n`).join('')})\n`,
    );
    await go(['mod', 'tidy'], { cwd, logFile });
    const [major, minor] = kubernetes.split('.');
    // What hack/lib/version.sh stamps, so `kubectl version` and /version report the real version.
    const stamp = { gitVersion: `v${kubernetes}`, gitMajor: major ?? '', gitMinor: minor ?? '', gitTreeState: 'clean' };
    const ldflags = [
      STRIP,
      ...Object.entries(stamp).flatMap(([k, val]) => [
        `-X k8s.io/component-base/version.${k}=${val}`,
        `-X k8s.io/client-go/pkg/version.${k}=${val}`,
      ]),
    ].join(' ');
    await go(
      ['build', `-ldflags=${ldflags}`, '-o', outDir + path.sep, ...KUBE_CMDS.map((c) => `k8s.io/kubernetes/cmd/${c}`)],
      { cwd, logFile },
    );
  });
}
