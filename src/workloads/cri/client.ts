// A client of the Container Runtime Interface (runtime.v1.RuntimeService) on
// a local unix socket: containerd and CRI-O both serve it, and it is what
// kubelet itself talks to. The definitions are the project's own subset of
// k8s.io/cri-api (api.proto beside this file), loaded at run time by
// @grpc/proto-loader; every call has a deadline, so a runtime that hangs costs
// a poll, never the daemon.

import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { UserError } from '../../errors.js';

/** The .proto ships beside the module (the build copies it into dist/). */
const PROTO = path.join(path.dirname(fileURLToPath(import.meta.url)), 'api.proto');

type Unary = (req: object, meta: grpc.Metadata, opts: grpc.CallOptions, cb: (e: grpc.ServiceError | null, r: unknown) => void) => void;
type ServiceCtor = new (address: string, creds: grpc.ChannelCredentials, opts?: grpc.ClientOptions) => grpc.Client & Record<string, Unary>;

let ctor: ServiceCtor | null = null;

function service(): ServiceCtor {
  if (ctor) return ctor;
  const def = protoLoader.loadSync(PROTO, {
    keepCase: true, // field names as in the .proto (pod_sandbox_id), as CRI documents them
    longs: String, // created_at is nanoseconds: beyond 2^53
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(def) as unknown as { runtime: { v1: { RuntimeService: ServiceCtor } } };
  ctor = pkg.runtime.v1.RuntimeService;
  return ctor;
}

// ---- the answers ctscope reads (field names of the .proto) ----

export interface PodSandboxMetadata {
  name: string;
  uid: string;
  namespace: string;
  attempt: number;
}

export interface PodSandbox {
  id: string;
  metadata: PodSandboxMetadata | null;
  state: 'SANDBOX_READY' | 'SANDBOX_NOTREADY';
  created_at: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface PodSandboxStatus extends PodSandbox {
  network: { ip: string; additional_ips: Array<{ ip: string }> } | null;
  linux: { namespaces: { options: { network: string; pid: string; ipc: string } | null } | null } | null;
}

export interface PodSandboxStatusResponse {
  status: PodSandboxStatus | null;
  /** Verbose only: runtime-specific JSON strings (containerd and CRI-O: key `info`, with `pid` and `runtimeSpec`). */
  info: Record<string, string>;
}

export interface VersionResponse {
  version: string;
  runtime_name: string;
  runtime_version: string;
  runtime_api_version: string;
}

/**
 * A call the runtime failed: the gRPC status code's name and the runtime's
 * message. An operator's to fix (no runtime on that socket, no permission, a
 * runtime that hangs), so a UserError (exit 1, one sentence).
 */
export class CriError extends UserError {
  constructor(
    readonly method: string,
    readonly code: string,
    detail: string,
  ) {
    super(`CRI ${method}: ${code}${detail ? `: ${detail}` : ''}`);
  }
}

export class CriClient {
  private readonly client: grpc.Client & Record<string, Unary>;

  /** `socket` is a path (`/run/containerd/containerd.sock`); nothing is dialled until the first call. */
  constructor(
    readonly socket: string,
    private readonly timeoutMs = 5_000,
  ) {
    const Ctor = service();
    this.client = new Ctor(`unix://${socket}`, grpc.credentials.createInsecure(), {
      // A pod list of a dense node is well under this; a runaway answer is refused, not buffered.
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
    });
  }

  /** Whether a socket file is there at all (the first thing to say when it is not). */
  present(): boolean {
    try {
      return fs.statSync(this.socket).isSocket();
    } catch {
      return false;
    }
  }

  /** Any RuntimeService method of api.proto, by its name. */
  call<T>(method: string, req: object, timeoutMs = this.timeoutMs): Promise<T> {
    const fn = this.client[method];
    // a method our api.proto does not declare is a bug here, not the runtime's answer
    if (typeof fn !== 'function') return Promise.reject(new TypeError(`CRI ${method}: not a RuntimeService method of ctscope's api.proto`));
    return new Promise<T>((resolve, reject) => {
      fn.call(this.client, req, new grpc.Metadata(), { deadline: Date.now() + timeoutMs }, (e, r) => {
        if (e) reject(new CriError(method, grpc.status[e.code] ?? String(e.code), e.details ?? e.message));
        else resolve(r as T);
      });
    });
  }

  version(): Promise<VersionResponse> {
    return this.call('Version', { version: 'v1' });
  }

  async listPodSandbox(): Promise<PodSandbox[]> {
    const r = await this.call<{ items: PodSandbox[] }>('ListPodSandbox', {});
    return r.items;
  }

  podSandboxStatus(id: string, verbose = true): Promise<PodSandboxStatusResponse> {
    return this.call('PodSandboxStatus', { pod_sandbox_id: id, verbose });
  }

  close(): void {
    this.client.close();
  }
}
