// Types of setpriv.mjs for the TypeScript tests.
export declare const UNPRIVILEGED_UID: number;
export declare function withCapabilities(caps: readonly string[], cmd: string[], opts?: { memlock0?: boolean; user?: string }): string[];
