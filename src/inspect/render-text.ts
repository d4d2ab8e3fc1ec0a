// The text form of `inspect`'s reports, for people: sections in the order an operator asks their
// questions (is it ready, what does it grant, who are its users, do the servers agree, who is
// connected). Pure; prints only what the reports hold, which holds no seed and no JWT.

import type { AccessReport } from './access-report.ts';
import type { IssuerReport } from './issuer-report.ts';
import type { ConditionView } from './report-parts.ts';

/** Columns padded to their widest cell. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string[] {
  const widths = header.map((cell, i) => Math.max(cell.length, ...rows.map((row) => (row[i] ?? '').length)));
  const line = (row: readonly string[]) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i] ?? 0))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)];
}

const list = (items: readonly string[] | undefined) => (items && items.length > 0 ? items.join(', ') : '(none)');
const orDash = (value: string | number | undefined) => (value === undefined || value === '' ? '-' : String(value));
const limit = (value: number | undefined) => (value === undefined ? 'no cap' : value < 0 ? 'unlimited' : String(value));
const indent = (lines: readonly string[]) => lines.map((line) => (line ? `  ${line}` : line));

function readyLines(ready: ConditionView | undefined): string[] {
  return ready ? [`Ready:      ${ready.status} (${ready.reason}) ${ready.message}`] : ['Ready:      (no condition yet)'];
}

export function renderAccessText(report: AccessReport): string {
  const out: string[] = [`WorkspaceNatsAccess ${report.namespace}/${report.name}`];
  out.push(...indent([
    `Issuer:     ${report.issuer}${report.account ? ` (account ${report.account})` : ''}`,
    `Workspace:  ${report.workspace.id}${report.workspace.owner ? ` (owner ${report.workspace.owner})` : ''}`,
    ...readyLines(report.ready),
    ...(report.deleting ? [`Deleting:   yes; finalizers ${list(report.finalizers)}`] : []),
  ]));

  const { resolved } = report;
  out.push('', 'Resolved grant (spec and issuer policy, now):');
  if (!resolved.ok) out.push(...indent([`does not resolve: ${resolved.reason}: ${resolved.message}`]));
  else if (resolved.scoped) out.push(...indent([`scoped signing key: the account JWT's template grants; user tags ${list(resolved.tags)}`]));
  else {
    out.push(...indent([
      `publish:    allow ${list(resolved.publish?.allow)}; deny ${list(resolved.publish?.deny)}`,
      `subscribe:  allow ${list(resolved.subscribe?.allow)}; deny ${list(resolved.subscribe?.deny)}`,
      `responses:  ${resolved.allowResponses ? `${resolved.allowResponses.maxMessages} per request within ${resolved.allowResponses.ttl}` : 'not allowed'}`,
      `limits:     subscriptions ${limit(resolved.limits?.subscriptions)}, payload ${limit(resolved.limits?.payload)}, data ${limit(resolved.limits?.data)}`,
      `connection types: ${resolved.limits?.connectionTypes.length ? resolved.limits.connectionTypes.join(', ') : 'all'}; source CIDRs: ${resolved.limits?.sourceCIDRs.length ? resolved.limits.sourceCIDRs.join(', ') : 'any'}`,
      `tags:       ${list(resolved.tags)}`,
    ]));
  }
  if (resolved.ok) out.push(...indent([`ttl:        ${resolved.ttl}, renewed ${resolved.renewBefore} before expiry; NATS_URL ${resolved.natsUrl}`]));

  const { issued } = report;
  out.push('', 'Issued (status):', ...indent([
    `secret:     ${orDash(issued.secretName)}`,
    `issued at:  ${orDash(issued.issuedAt)}`,
    `expires at: ${orDash(issued.expiresAt)}`,
    `renew at:   ${orDash(issued.renewAt)}`,
  ]));

  if (report.policy) {
    const { policy } = report;
    out.push('', `Policy bounds of issuer ${policy.issuer}:`, ...indent([
      `maxTTL:     ${policy.maxTTL}${policy.defaultTTL ? ` (defaultTTL ${policy.defaultTTL})` : ''}`,
      `allowedSubjects: publish ${policy.allowedSubjects.publish ? list(policy.allowedSubjects.publish) : 'unbounded'}; subscribe ${policy.allowedSubjects.subscribe ? list(policy.allowedSubjects.subscribe) : 'unbounded'}`,
      `maxLimits:  subscriptions ${limit(policy.maxLimits.subscriptions)}, payload ${limit(policy.maxLimits.payload)}, data ${limit(policy.maxLimits.data)}`,
      `connectionTypes: ${policy.connectionTypes ? list(policy.connectionTypes) : 'all'}; allowResponses: ${policy.allowResponses === false ? 'no' : 'yes'}`,
      ...(policy.namespaceSelected !== undefined ? [`namespaceSelector: ${policy.namespaceSelected ? 'selects' : 'does not select'} namespace ${report.namespace}`] : []),
    ]));
  }

  out.push('', 'Users:');
  if (report.users.length === 0) out.push('  (none issued)');
  else {
    out.push(...indent(table(['PUBLIC KEY', 'ROLE', 'EXPIRES', 'STATE', 'RECORDED REVOKED'], report.users.map((user) => [
      user.publicKey,
      user.role,
      user.expiresAt,
      user.expired ? 'expired' : user.toRevoke ? 'to revoke' : user.role === 'retired' ? 'valid until expiry (renewed)' : 'valid',
      user.recorded ? user.recorded.revokedAt : '-',
    ]))));
  }

  out.push('', `NATS servers${report.account ? ` (account ${report.account})` : ''}:`);
  if (!report.nats.reachable) out.push(`  UNAVAILABLE: ${report.nats.error}`);
  else {
    const { servers, connections } = report.nats;
    out.push(...indent(table(['SERVER', 'ACCOUNT JWT ISSUED', 'REVOCATIONS OF THIS ACCESS'], servers.map((server) => [
      server.server,
      orDash(server.accountJwtIssuedAt),
      server.state === 'n/a' ? 'n/a (no user to revoke)' : server.state === 'revoked' ? 'in force' : server.state === 'missing' ? `MISSING ${server.notRevoked.join(', ')}` : `unknown: ${server.detail}`,
    ]))));
    out.push('', 'Live connections:');
    if (connections.length === 0) out.push('  (none)');
    else out.push(...indent(table(['SERVER', 'CID', 'HOST', 'NAME', 'SINCE', 'USER'], connections.map((c) => [c.server, String(c.cid), orDash(c.host), orDash(c.name), orDash(c.start), orDash(c.user)]))));
  }
  return `${[...out, ...warningLines(report.warnings)].join('\n')}\n`;
}

export function renderIssuerText(report: IssuerReport): string {
  const { policy } = report;
  const out: string[] = [`ClusterNatsIssuer ${report.name}`, ...indent([
    `Account:     ${report.account}`,
    `Signing key: ${orDash(report.signingKey)}${report.scopedUserTags ? ` (scoped; user tags ${list(report.scopedUserTags)})` : ''}`,
    `NATS:        ${list(report.natsUrls)}${report.operatorUrls ? ` (operator connects to ${list(report.operatorUrls)})` : ''}`,
    ...readyLines(report.ready),
  ])];
  out.push('', 'Policy:', ...indent([
    `ttl:         default ${policy.defaultTTL}, max ${policy.maxTTL}`,
    `allowedSubjects: publish ${policy.allowedSubjects?.publish ? list(policy.allowedSubjects.publish) : 'unbounded'}; subscribe ${policy.allowedSubjects?.subscribe ? list(policy.allowedSubjects.subscribe) : 'unbounded'}`,
    `maxLimits:   subscriptions ${limit(policy.maxLimits?.subscriptions)}, payload ${limit(policy.maxLimits?.payload)}, data ${limit(policy.maxLimits?.data)}`,
    `connectionTypes: ${policy.connectionTypes ? list(policy.connectionTypes) : 'all'}; allowResponses: ${policy.allowResponses === false ? 'no' : 'yes'}; enforcement: ${policy.enforcement}`,
    ...(policy.namespaceSelector ? [`namespaceSelector: ${JSON.stringify(policy.namespaceSelector)}`] : []),
  ]));
  const push = report.lastPush;
  out.push('', 'Last push (status):', ...indent(push?.lastPushTime
    ? [`${push.lastPushResult ?? '?'} at ${push.lastPushTime}: ${orDash(push.lastPushMessage)}`, `active revocations: ${orDash(push.active)}`]
    : ['(none yet)']));
  out.push('', 'Revocation list (stored in the cluster):');
  if (!report.revocationList.readable) out.push(`  UNAVAILABLE: ${report.revocationList.error}`);
  else if (report.revocationList.entries.length === 0) out.push('  (empty)');
  else out.push(...indent(table(['USER', 'REVOKED AT', 'EXPIRES', 'ACCESS'], report.revocationList.entries.map((e) => [e.user, e.revokedAt, e.expiresAt, e.access]))));
  out.push('', 'NATS servers:');
  if (!report.nats.reachable) out.push(`  UNAVAILABLE: ${report.nats.error}`);
  else {
    out.push(...indent(table(['SERVER', 'ACCOUNT JWT', 'ISSUED', 'REVOCATIONS', 'MISSING FROM LIST', 'SIGNING KEY'], report.nats.servers.map((s) => [
      s.server,
      s.account,
      orDash(s.accountJwtIssuedAt),
      orDash(s.revocations),
      s.missingRevocations === undefined ? '-' : s.missingRevocations.length === 0 ? 'none' : s.missingRevocations.join(', '),
      s.signingKeyListed === undefined ? '-' : s.signingKeyListed ? 'listed' : 'NOT LISTED',
    ]))));
  }
  return `${[...out, ...warningLines(report.warnings)].join('\n')}\n`;
}

function warningLines(warnings: readonly string[]): string[] {
  return warnings.length === 0 ? [] : ['', 'Warnings:', ...warnings.map((warning) => `  ${warning}`)];
}
