/**
 * Registers protobuf-es services on a grpc-js server. A unary handler is an async function from the decoded request
 * and a CallContext (the caller's identity, a child logger, a cancellation signal) to the response's init shape; a
 * server-streaming handler is an async generator of them. Every thrown error is turned into a status by
 * grpc/status.ts, the only place that does so.
 */
import { create, type DescMethod, type MessageInitShape, type MessageShape } from '@bufbuild/protobuf';
import { status, type sendUnaryData, type Server, type ServerUnaryCall, type ServerWritableStream, type UntypedServiceImplementation } from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import { grpcServiceDefinition, type AnyService } from '../../clients/ts/src/definition.ts';
import type { Logger } from '../log.ts';
import { identityFromCertificate, type Identity } from './identity.ts';
import { toServiceError } from './status.ts';

/** What a handler knows about the call besides its request. */
export interface CallContext {
  /** The caller, from its client certificate. */
  identity: Identity;
  /** Logger bound to this call (method, caller). */
  log: Logger;
  /** Aborted when the client cancels or the deadline passes. */
  signal: AbortSignal;
  /** Full gRPC method name. */
  method: string;
}

/** An async unary handler for method M. */
export type UnaryHandler<M extends DescMethod> = (
  request: MessageShape<M['input']>,
  ctx: CallContext,
) => Promise<MessageInitShape<M['output']>>;

/** An async generator handler for a server-streaming method M. */
export type StreamHandler<M extends DescMethod> = (
  request: MessageShape<M['input']>,
  ctx: CallContext,
) => AsyncIterable<MessageInitShape<M['output']>>;

/** One handler per method of service S, keyed by the method's localName. */
export type ServiceHandlers<S extends AnyService> = {
  [K in keyof S['method']]: S['method'][K]['methodKind'] extends 'server_streaming' ? StreamHandler<S['method'][K]> : UnaryHandler<S['method'][K]>;
};

/** Hooks the server gives every call: counts in-flight calls for graceful shutdown. */
export interface CallHooks {
  log: Logger;
  /** Called before a handler starts; throwing refuses the call (e.g. while shutting down). */
  enter(method: string): void;
  /** Called when a handler settles. */
  leave(method: string): void;
  /** Called once per call with the gRPC status code it ended with (0 = OK); refused calls included. */
  done?(method: string, code: number): void;
  /** Refuses the call unless the identity may make it (server/authz); fills the identity's scope. */
  authorize(identity: Identity, method: string, request: Record<string, unknown>, certificateSerial: string): void;
}

/** Adds `service` with `handlers` to `server`. Unary and server-streaming methods are supported. */
export function bindService<S extends AnyService>(server: Server, service: S, handlers: ServiceHandlers<S>, hooks: CallHooks): void {
  const impl: UntypedServiceImplementation = {};
  for (const method of service.methods) {
    const handler = (handlers as Record<string, unknown>)[method.localName];
    if (!handler) throw new Error(`bindService: no handler for ${service.typeName}.${method.name}`);
    const fullName = `${service.typeName}/${method.name}`;
    if (method.methodKind === 'unary') {
      impl[method.localName] = (call: ServerUnaryCall<MessageShape<DescMethod['input']>, unknown>, callback: sendUnaryData<unknown>) => {
        void runUnary(method, fullName, handler as UnaryHandler<DescMethod>, call, callback, hooks);
      };
    } else if (method.methodKind === 'server_streaming') {
      impl[method.localName] = (call: ServerWritableStream<MessageShape<DescMethod['input']>, unknown>) => {
        void runStream(method, fullName, handler as StreamHandler<DescMethod>, call, hooks);
      };
    } else {
      throw new Error(`bindService: ${method.name} is ${method.methodKind}; only unary and server streaming are supported`);
    }
  }
  server.addService(grpcServiceDefinition(service), impl);
}

/** What both kinds of server call offer. */
interface ServerCallLike {
  request: unknown;
  getAuthContext(): { sslPeerCertificate?: PeerCertificate | undefined };
  once(event: 'cancelled', listener: () => void): unknown;
}

/**
 * The part every call shares: cancellation, the in-flight count, the caller's identity and authorization, and the
 * closing metrics hook. `body` serves the call and returns its status code; `fail` answers an error and returns the
 * code it sent.
 */
async function runCall(
  fullName: string,
  call: ServerCallLike,
  hooks: CallHooks,
  body: (ctx: CallContext) => Promise<number>,
  fail: (err: unknown, log: Logger, aborted: boolean) => number,
): Promise<void> {
  const abort = new AbortController();
  call.once('cancelled', () => abort.abort(new Error('cancelled by client')));
  let log = hooks.log.child({ method: fullName });
  let entered = false;
  let code: number = status.OK;
  try {
    hooks.enter(fullName);
    entered = true;
    const cert = call.getAuthContext().sslPeerCertificate;
    const identity = identityFromCertificate(cert);
    log = log.child({ caller: identity.uri });
    hooks.authorize(identity, fullName, call.request as Record<string, unknown>, cert?.serialNumber ?? '');
    code = await body({ identity, log, signal: abort.signal, method: fullName });
  } catch (err) {
    code = fail(err, log, abort.signal.aborted);
  } finally {
    if (entered) hooks.leave(fullName);
    hooks.done?.(fullName, code);
  }
}

function runStream(
  method: DescMethod,
  fullName: string,
  handler: StreamHandler<DescMethod>,
  call: ServerWritableStream<MessageShape<DescMethod['input']>, unknown>,
  hooks: CallHooks,
): Promise<void> {
  return runCall(
    fullName,
    call,
    hooks,
    async (ctx) => {
      for await (const out of handler(call.request, ctx)) {
        if (ctx.signal.aborted) break;
        call.write(create(method.output, out));
      }
      if (ctx.signal.aborted) return status.CANCELLED;
      call.end();
      return status.OK;
    },
    (err, log, aborted) => {
      if (aborted) return status.CANCELLED;
      const e = toServiceError(err, log, fullName);
      call.emit('error', e);
      return e.code ?? status.UNKNOWN;
    },
  );
}

function runUnary(
  method: DescMethod,
  fullName: string,
  handler: UnaryHandler<DescMethod>,
  call: ServerUnaryCall<MessageShape<DescMethod['input']>, unknown>,
  callback: sendUnaryData<unknown>,
  hooks: CallHooks,
): Promise<void> {
  return runCall(
    fullName,
    call,
    hooks,
    async (ctx) => {
      callback(null, create(method.output, await handler(call.request, ctx)));
      return status.OK;
    },
    (err, log) => {
      const e = toServiceError(err, log, fullName);
      callback(e, null);
      return e.code ?? status.UNKNOWN;
    },
  );
}
