/**
 * Typed errors for agents: every failed call becomes a WaiaasClientError carrying the gRPC code and the server's
 * stable reason (google.rpc.ErrorInfo from the `grpc-status-details-bin` trailer).
 */
import { fromBinary } from '@bufbuild/protobuf';
import { anyUnpack } from '@bufbuild/protobuf/wkt';
import { status as grpcStatus, type ServiceError } from '@grpc/grpc-js';
import { ErrorInfoSchema } from '../../../gen/google/rpc/error_details_pb.js';
import { StatusSchema } from '../../../gen/google/rpc/status_pb.js';

/** A failed call to the appliance. */
export class WaiaasClientError extends Error {
  override name = 'WaiaasClientError';
  /** gRPC status code (see `status` from @grpc/grpc-js). */
  readonly code: grpcStatus;
  /** The server's stable reason, e.g. `WAIAAS_POLICY_DENIED`; `''` when the error did not come from the appliance. */
  readonly reason: string;
  /** ErrorInfo metadata, e.g. `{ rule: 'recipient-allowlist' }`. */
  readonly metadata: Record<string, string>;

  constructor(code: grpcStatus, message: string, reason: string, metadata: Record<string, string>, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
    this.reason = reason;
    this.metadata = metadata;
  }
}

/** Converts a grpc-js ServiceError into a WaiaasClientError, reading ErrorInfo when the server sent one. */
export function fromServiceError(err: ServiceError): WaiaasClientError {
  let reason = '';
  let metadata: Record<string, string> = {};
  const raw = err.metadata?.get('grpc-status-details-bin')[0];
  if (raw instanceof Buffer) {
    try {
      const st = fromBinary(StatusSchema, raw);
      for (const d of st.details) {
        const info = anyUnpack(d, ErrorInfoSchema);
        if (info) {
          reason = info.reason;
          metadata = { ...info.metadata };
          break;
        }
      }
    } catch {
      // A malformed details trailer leaves reason empty; code and message still stand.
    }
  }
  return new WaiaasClientError(err.code, err.details || err.message, reason, metadata, err);
}
