/**
 * The one place where errors become gRPC statuses. Every error leaves as google.rpc.Status (in the
 * `grpc-status-details-bin` trailer) with a google.rpc.ErrorInfo carrying a registered WAIAAS_ reason. The cause
 * chain and HSM details stay in the server log; callers see only the reason, a safe message and metadata.
 */
import { create, toBinary } from '@bufbuild/protobuf';
import { anyPack } from '@bufbuild/protobuf/wkt';
import { Metadata, type ServiceError } from '@grpc/grpc-js';
import { ErrorInfoSchema } from '../../gen/google/rpc/error_details_pb.js';
import { StatusSchema } from '../../gen/google/rpc/status_pb.js';
import { WaiaasError } from '../errors/error.ts';
import { ERROR_DOMAIN } from '../errors/reasons.ts';
import type { Logger } from '../log.ts';

/** Name of the trailer that carries the serialized google.rpc.Status. */
export const STATUS_DETAILS_KEY = 'grpc-status-details-bin';

/** Converts any thrown value into a WaiaasError; unknown errors become WAIAAS_INTERNAL with the original as cause. */
export function asWaiaasError(err: unknown): WaiaasError {
  return err instanceof WaiaasError ? err : new WaiaasError('WAIAAS_INTERNAL', undefined, { cause: err });
}

/**
 * Builds the grpc-js error for `err` and logs it: internal errors at error level with their cause, expected ones
 * (bad input, denials) at info level without stack.
 */
export function toServiceError(err: unknown, log: Logger, method: string): Partial<ServiceError> {
  const e = asWaiaasError(err);
  const info = create(ErrorInfoSchema, { reason: e.reason, domain: ERROR_DOMAIN, metadata: e.metadata });
  const status = create(StatusSchema, { code: e.code, message: e.message, details: [anyPack(ErrorInfoSchema, info)] });
  const metadata = new Metadata();
  metadata.set(STATUS_DETAILS_KEY, Buffer.from(toBinary(StatusSchema, status)));
  if (e.reason === 'WAIAAS_INTERNAL' || e.reason === 'WAIAAS_HSM_UNAVAILABLE' || e.reason === 'WAIAAS_STORE_UNAVAILABLE') {
    log.error({ method, reason: e.reason, err: e.cause ?? e }, 'call failed');
  } else {
    log.info({ method, reason: e.reason, metadata: e.metadata }, 'call refused');
  }
  return { code: e.code, details: e.message, metadata };
}
