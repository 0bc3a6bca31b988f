/**
 * gRPC server reflection (grpc.reflection.v1 and v1alpha) for our protobuf-es services, so grpcurl and similar tools
 * can discover the API. @grpc/reflection reads serialized FileDescriptorProtos; protobuf-es keeps the descriptor of
 * every generated file, so we hand it those (with their imports) instead of loading .proto files at run time.
 */
import { toBinary, type DescFile, type DescService } from '@bufbuild/protobuf';
import { FileDescriptorProtoSchema } from '@bufbuild/protobuf/wkt';
import type { Server } from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';

function collect(file: DescFile, seen: Map<string, DescFile>): void {
  if (seen.has(file.name)) return;
  for (const dep of file.dependencies) collect(dep, seen);
  seen.set(file.name, file);
}

/** Adds the reflection service describing `services` (and every file they import) to `server`. */
export function addReflection(server: Server, services: readonly DescService[]): void {
  const files = new Map<string, DescFile>();
  for (const s of services) collect(s.file, files);
  const fileDescriptorProtos = [...files.values()].map((f) => Buffer.from(toBinary(FileDescriptorProtoSchema, f.proto)));
  const pkg: Record<string, { fileDescriptorProtos: Buffer[] }> = {};
  for (const s of services) pkg[s.typeName] = { fileDescriptorProtos };
  new ReflectionService(pkg as unknown as ConstructorParameters<typeof ReflectionService>[0], {
    services: services.map((s) => s.typeName),
  }).addToServer(server);
}
