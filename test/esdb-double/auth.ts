/**
 * Authentication and access checks of a secure EventStoreDB node, as the double plays them.
 *
 * A secure node (TLS on, `Insecure` off) authenticates every gRPC call before its
 * handler runs, in EventStore/EventStore
 * `src/EventStore.Core/Services/Transport/Http/AuthenticationMiddleware.cs`
 * (`HandleAsGrpcAsync`): a call without an `authorization` header is let through as
 * the anonymous user; a call whose credentials do not authenticate is ended at once
 * with gRPC status `UNAUTHENTICATED` ("Unauthenticated") and no `exception` trailer.
 * The handlers then check access: `Streams.Read.cs` and `Streams.Append.cs` throw
 * `RpcExceptions.AccessDenied()` (`RpcExceptions.cs`: `PERMISSION_DENIED`, "Access
 * Denied", trailer `exception: access-denied`), and `Streams.BatchAppend.cs` answers the
 * write with `Status.AccessDenied` (`Status.cs`: a packed `event_store.client.AccessDenied`).
 * Anonymous stream access is off by default (`ClusterVNodeOptions.AllowAnonymousStreamAccess`
 * = false), so an anonymous read or append is refused; `ServerFeatures` checks no access.
 *
 * `@eventstore/db-client` 6 maps both refusals to `AccessDeniedError`
 * (`convertToCommandError`: the `access-denied` trailer, and any `UNAUTHENTICATED`;
 * `unpackToCommandError` for BatchAppend), and sends credentials only over TLS.
 *
 * The double knows users and passwords only: every known user may do everything, as
 * the built-in `admin` may on a real node (no groups, no stream ACLs).
 */
import * as grpc from '@grpc/grpc-js';
import { rpcError } from './wire';

/** User name → password, as `{ admin: 'changeit' }`. */
export type Users = Readonly<Record<string, string>>;

/** Who a call comes from: no credentials, a known user, or credentials that do not authenticate. */
export type Caller = { kind: 'anonymous' } | { kind: 'user'; name: string } | { kind: 'unauthenticated' };

/**
 * Identifies the caller from the `authorization` metadata (`Basic base64(user:password)`,
 * as the client's `createCredentialsMetadataGenerator` sends it).
 */
export function identify(metadata: grpc.Metadata, users: Users): Caller {
  const values = metadata.get('authorization');
  if (values.length === 0) return { kind: 'anonymous' };
  const match = /^Basic\s+([A-Za-z0-9+/=]+)$/i.exec(String(values[0]).trim());
  if (!match) return { kind: 'unauthenticated' };
  const decoded = Buffer.from(match[1], 'base64').toString('utf8');
  const separator = decoded.indexOf(':');
  if (separator <= 0) return { kind: 'unauthenticated' };
  const name = decoded.slice(0, separator);
  const password = decoded.slice(separator + 1);
  return Object.hasOwn(users, name) && users[name] === password ? { kind: 'user', name } : { kind: 'unauthenticated' };
}

/** `AuthenticationMiddleware`'s answer to credentials that do not authenticate. */
export function unauthenticated(): Partial<grpc.StatusObject> {
  return rpcError(grpc.status.UNAUTHENTICATED, 'Unauthenticated');
}

/** `RpcExceptions.AccessDenied()`. */
export function accessDenied(): Partial<grpc.StatusObject> {
  return rpcError(grpc.status.PERMISSION_DENIED, 'Access Denied', { exception: 'access-denied' });
}

/**
 * The access rule of a node: with no users configured (an insecure node) everyone may do
 * everything; otherwise stream operations need a known user.
 */
export interface AccessPolicy {
  /** Whether a call that got past authentication may read or write streams. */
  mayUseStreams(metadata: grpc.Metadata): boolean;
}

export const OPEN_POLICY: AccessPolicy = { mayUseStreams: () => true };

export function userPolicy(users: Users): AccessPolicy {
  return { mayUseStreams: (metadata) => identify(metadata, users).kind === 'user' };
}

type AnyCall = { metadata: grpc.Metadata; emit(event: 'error', status: Partial<grpc.StatusObject>): boolean };

/**
 * Puts the authentication step in front of every handler of a service: a call whose
 * credentials do not authenticate ends with `UNAUTHENTICATED` before its handler sees it.
 */
export function authenticated<T extends object>(service: T, users: Users): T {
  const wrapped: Record<string, unknown> = {};
  for (const [name, handler] of Object.entries(service) as Array<[string, (call: AnyCall, callback?: (status: Partial<grpc.StatusObject>) => void) => void]>) {
    wrapped[name] = (call: AnyCall, callback?: (status: Partial<grpc.StatusObject>) => void): void => {
      if (identify(call.metadata, users).kind !== 'unauthenticated') return handler(call, callback);
      // Unary and client-streaming calls answer through their callback; the others through an error event.
      if (callback) callback(unauthenticated());
      else call.emit('error', unauthenticated());
    };
  }
  return wrapped as T;
}
