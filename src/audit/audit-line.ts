// One audit line per advisory: who (namespace, access, workspace, user), where from (client host,
// name, language, version), on which server, what happened and why, and the bytes moved on a
// disconnect. Built field by field from what was read, so a JWT or token never gets in. Pure.

import type { ClientEvent } from '../nats/advisories.ts';
import { userKeyOf, type Attribution, type AuthFailureReason } from './attribution.ts';

export interface LineContext {
  account: string | undefined;
  /** "" when no issuer names the account. */
  issuer: string;
  attribution: Attribution;
  /** The access the event is about ("namespace/name"), live or deleted. */
  accessKey: string | undefined;
  /** The access's workspace id, when it still exists. */
  workspaceId: string | undefined;
  /** Why a login was refused, as this operator reads it. */
  authFailure?: AuthFailureReason;
}

/** A callout login's name (`namespace/name`) as it is; any other name, which may be a password or token typed as one, redacted. */
const CALLOUT_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?\/[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/;
const shownUser = (user: string | undefined) => (user === undefined || CALLOUT_NAME.test(user) ? user : '[REDACTED]');

export function auditLine(event: ClientEvent, context: LineContext): Record<string, unknown> {
  const [namespace, access] = context.accessKey ? context.accessKey.split('/') : [undefined, undefined];
  // A deleted access's workspace is still named by its users' JWTs (tag ws:<id>).
  const tags = event.tags.length > 0 ? event.tags : (event.presented?.nats.tags ?? []);
  return {
    event: event.kind,
    namespace,
    access,
    workspaceId: context.workspaceId ?? tags.find((tag) => tag.startsWith('ws:'))?.slice(3),
    attribution: context.attribution.kind,
    user: userKeyOf(event) ?? shownUser(event.user),
    account: context.account,
    issuer: context.issuer || undefined,
    server: event.server.name,
    cid: event.cid,
    clientHost: event.host,
    clientName: event.clientName,
    clientLang: event.lang,
    clientVersion: event.version,
    reason: context.authFailure ?? event.reason,
    serverReason: context.authFailure ? event.reason : undefined,
    bytesIn: event.bytesIn,
    bytesOut: event.bytesOut,
    time: event.time,
  };
}
