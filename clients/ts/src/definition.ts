/**
 * The one adapter between protobuf-es service descriptors and @grpc/grpc-js. Server and client both build their
 * grpc-js service definitions here, so the wire codec (protobuf binary through protobuf-es) exists exactly once.
 */
import { fromBinary, toBinary, type DescMethod, type DescService, type MessageShape } from '@bufbuild/protobuf';
import type { MethodDefinition, ServiceDefinition } from '@grpc/grpc-js';

/** A protobuf-es generated service: `method` maps each method's localName to its descriptor. */
export type AnyService = Omit<DescService, 'method'> & { method: Record<string, DescMethod> };

/** The gRPC path of a method, e.g. `/waiaas.v1.SignerService/SignSolanaTransaction`. */
export function methodPath(service: DescService | AnyService, method: DescMethod): string {
  return `/${service.typeName}/${method.name}`;
}

/**
 * Builds the grpc-js ServiceDefinition of a protobuf-es service. Keys are the methods' localNames
 * (`signSolanaTransaction`), which is also the key of each handler the server registers and of each client method.
 */
export function grpcServiceDefinition(service: AnyService): ServiceDefinition {
  const definition: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const method of service.methods) {
    definition[method.localName] = methodDefinition(service, method);
  }
  return definition as ServiceDefinition;
}

function methodDefinition(service: AnyService, method: DescMethod): MethodDefinition<unknown, unknown> {
  const input = method.input;
  const output = method.output;
  return {
    path: methodPath(service, method),
    originalName: method.name,
    requestStream: method.methodKind === 'client_streaming' || method.methodKind === 'bidi_streaming',
    responseStream: method.methodKind === 'server_streaming' || method.methodKind === 'bidi_streaming',
    requestSerialize: (m: unknown) => Buffer.from(toBinary(input, m as MessageShape<typeof input>)),
    requestDeserialize: (b: Buffer) => fromBinary(input, b),
    responseSerialize: (m: unknown) => Buffer.from(toBinary(output, m as MessageShape<typeof output>)),
    responseDeserialize: (b: Buffer) => fromBinary(output, b),
  };
}
