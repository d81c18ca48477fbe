// Types of test-tiers.mjs for the TypeScript tests.
export interface Requirement {
  ok: boolean;
  why?: string;
  /** 'machine': this machine cannot; 'setup': scripts/setup.sh --test provides it (the default). */
  kind?: 'machine' | 'setup';
}
export declare function kernelTier(): Requirement;
